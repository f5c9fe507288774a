"""Build a rendered (and optionally tokenized and packed) mixture into shards, with a report.

Stages are plain functions over batches (`render_batch`, `tokenize_batch`, `ChunkPacker.pack`)
so they run in worker processes (`num_proc`) and could be wrapped by a cluster engine. With a
tokenizer a worker's job is one packing chunk (`chunk_examples` examples from a chunk boundary
of the stream), rendered, tokenized, packed and laid out as arrays; the main process only
writes. Output, under `out/`:
- `data/part-NNNNN.{jsonl,parquet}`: rendered examples (inputs, targets, task, template, ...);
- `tokens/part-NNNNN.safetensors`: packed int32 feature arrays (when a tokenizer is given);
- `stats.json` and `summary.md`: counts per task and collection, tokens, packing efficiency,
  truncation, decontamination and bad-row counts, and how often each task's examples repeat.
- `tokens/manifest.json`: what `flankit train` needs to read the token shards (`data/built.py`).
Shards are written (by `data/shards.py`) to a temporary name, fsynced and renamed, so a crash
never leaves a half shard. `stats.json` is written last (atomically), so a folder holding it is
complete; it lists its shards. While a build runs, `.build-in-progress.json` names its config:
a rerun after a kill with the same config removes the interrupted build's shards and builds
again (the result equals an uninterrupted build); with another config it refuses.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from flankit.config import to_dict
from flankit.data import collection_report
from flankit.data.built import write_manifest
from flankit.data.chunks import ChunkPacker
from flankit.data.collections import CollectionSpec, load_collection
from flankit.data.decontam import cache_root, contaminated, index_in_background, task_key
from flankit.data.features import token_pairs
from flankit.data.mixtures import Mixture, data_seed
from flankit.data.pipeline import FeatureConfig, RenderConfig, mixture_tokenizer
from flankit.data.shards import ShardWriter, TokenWriter, json_line
from flankit.data.sources import BadRows
from flankit.data.tasks import Task, prepare_examples, render_example
from flankit.errors import FlankitError, warn
from flankit.family import ENCDEC, family_named
from flankit.outputs import writable_dir, write_atomic
from flankit.progress import bar, phase


@dataclass(frozen=True)
class MixtureConfig:
    preset: str | None = None  # proportion_a | proportion_b | flan2022
    temperature: float = 1.0
    num_examples: int | None = None  # None: every example once
    seed: int | None = None  # None: the job's `seed` (see mixtures.data_seed)


@dataclass(frozen=True)
class DecontamConfig:
    eval_paths: list[str] = field(default_factory=list)
    ngram: int = 13


@dataclass(frozen=True)
class OutputConfig:
    format: Literal["jsonl", "parquet"] = "jsonl"
    shard_size: int = 10_000  # rendered examples per data/ shard
    rows_per_shard: int = 4096  # packed rows per tokens/ shard


@dataclass(frozen=True)
class BuildFeatures(FeatureConfig):
    """A build's rows: the layout and lengths, and the tokenizer that makes them."""

    tokenizer: str | None = None  # hub id, local dir, "byt5", or "train" (a new one on this data)
    vocab_size: int = 8000  # for tokenizer: train
    pack: bool = True


@dataclass(frozen=True)
class ExamplesConfig:
    """What defines the examples: the `data:` of a training config, the body of a build's."""

    collections: list[CollectionSpec] = field(
        default_factory=lambda: [CollectionSpec(name="synthetic")]
    )
    data_root: str | None = None
    mixture: MixtureConfig = field(default_factory=MixtureConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    decontaminate: DecontamConfig = field(default_factory=DecontamConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    skip_bad_rows: bool = False


# Top-level keys of a training config: in a build's file they would do nothing.
_TRAIN_KEYS = [
    "data",
    "model",
    "optim",
    "steps",
    "micro_batch_size",
    "precision",
    "attention",
    "parallel",
    "out_dir",
    "save_every",
    "keep_last",
    "eval_every",
    "heldout",
    "heldout_examples",
    "eval_suite",
    "log_every",
    "log_to",
]


@dataclass(frozen=True)
class DataConfig(ExamplesConfig):
    """Everything `flankit data build` needs: the examples, and how the build writes them."""

    features: BuildFeatures = field(default_factory=BuildFeatures)
    seed: int = 0  # the data order, unless mixture.seed sets it
    chunk_examples: int = 2048  # examples packed together, as `flankit train` packs them
    output: OutputConfig = field(default_factory=OutputConfig)
    num_proc: int = 1
    batch_size: int = 512

    OTHER_COMMANDS_KEYS: ClassVar[dict[str, str]] = {
        **{key: "`flankit train`, not by `flankit data build`" for key in _TRAIN_KEYS},
        "built": "`flankit train` (as data.built), not by `flankit data build`",
        "vocab_size": "`flankit train`; a build's is features.vocab_size",
    }
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "features.rows_per_shard": "output.rows_per_shard",
        "tokenizer_vocab": "features.vocab_size",
    }


BuildConfig = DataConfig  # the name by what it is for


@dataclass
class LoadReport:
    bad: BadRows
    excluded: dict[str, str] = field(default_factory=dict)
    decontaminated: dict[str, int] = field(default_factory=dict)


def load_mixture(
    cfg: ExamplesConfig, *, seed: int = 0, progress: bool = False, workers: int = 1
) -> tuple[Mixture, LoadReport]:
    """Load every collection, drop benchmark sources and contaminated examples, build the
    mixture; its order follows `cfg.mixture.seed`, else the job's `seed`. `workers` processes
    share the decontamination check (a build's num_proc)."""
    report = LoadReport(BadRows(skip=cfg.skip_bad_rows))
    loaded = []
    eval_paths = cfg.decontaminate.eval_paths
    # The evaluation n-gram index is read in another process while the collections load.
    index_job = index_in_background(eval_paths, cfg.decontaminate.ngram) if eval_paths else None
    for spec in cfg.collections:
        with phase("build", f"loading collection {spec.name}", enabled=progress):
            tasks = load_collection(spec, cfg.data_root, report.bad, report.excluded)
        loaded.append((spec, tasks))
    if index_job is not None:
        with phase("build", "indexing evaluation n-grams", enabled=progress):
            index = index_job()
        tasks = [t for _, ts in loaded for t in ts]
        # Results are cached per task (keyed by the eval index and the task's source file).
        paths = [cache_root() / f"kept-{task_key(index.key, t)}.npy" for t in tasks]
        kept: list = [
            np.load(p, allow_pickle=False).tolist() if p.exists() else None for p in paths
        ]
        todo = [i for i, k in enumerate(kept) if k is None]
        with bar("build", "decontaminating", len(todo), unit="task", enabled=progress) as shown:
            for i, keep in _kept_examples(tasks, todo, index, workers, shown.update):
                kept[i] = keep.tolist()
                _save_array(paths[i], keep)
        for task, keep in zip(tasks, kept):
            removed = len(task.examples) - len(keep)
            if removed:
                task.examples = [task.examples[i] for i in keep]
                report.decontaminated[task.name] = removed
    mix = Mixture(
        loaded,
        seed=data_seed(cfg.mixture.seed, seed),
        preset=cfg.mixture.preset,
        temperature=cfg.mixture.temperature,
    )
    return mix, report


_CHECK: dict = {}


def _kept_examples(
    tasks: list[Task], todo: list[int], index, workers: int, done
) -> Iterator[tuple[int, np.ndarray]]:
    """(task number, indices of its examples clear of the evaluation n-grams) for each task
    in `todo`. With several workers, forked processes check shares of the examples while this
    one checks its own; only the index arrays come back."""
    parts = _balanced(todo, [len(tasks[i]) for i in todo], max(1, workers))
    pool = None
    if len(parts) > 1 and "fork" in mp.get_all_start_methods():
        # Texts read lazily (submix parquet) are read here, once, not in each forked process.
        prepare_examples([tasks[i] for i in todo])
        _CHECK.update(tasks=tasks, index=index)
        pool = mp.get_context("fork").Pool(len(parts) - 1)
        _CHECK.clear()
        jobs = [pool.apply_async(_check_part, (part,)) for part in parts[1:]]
        pool.close()
    else:
        parts = [todo]
    try:
        for i in parts[0]:
            yield i, np.flatnonzero(~contaminated(tasks[i], index))
            done(1)
        if pool is not None:
            for part, job in zip(parts[1:], jobs):
                for i, keep in zip(part, job.get()):
                    yield i, keep
                    done(1)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _check_part(part: list[int]) -> list[np.ndarray]:
    tasks, index = _CHECK["tasks"], _CHECK["index"]
    return [np.flatnonzero(~contaminated(tasks[i], index)) for i in part]


def _balanced(items: list[int], sizes: list[int], n: int) -> list[list[int]]:
    """`items` cut into at most `n` runs of about equal total size, in order."""
    total, parts, run, acc = sum(sizes), [], [], 0
    for item, size in zip(items, sizes):
        run.append(item)
        acc += size
        if len(parts) < n - 1 and acc >= total * (len(parts) + 1) / n:
            parts.append(run)
            run = []
    if run:
        parts.append(run)
    return parts


def _save_array(path: Path, array: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, array, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs time


# ---------------------------------------------------------------- batch stages (worker side)

_STATE: dict = {}


class _Serial:
    """Stands in for a process pool when num_proc is 1."""

    imap = staticmethod(lambda fn, items, chunksize=1: map(fn, items))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _pool(num_proc: int):
    """A forked worker pool that inherits `_STATE`, or a serial stand-in."""
    if num_proc <= 1:
        return _Serial()
    if "fork" not in mp.get_all_start_methods():
        raise FlankitError("num_proc > 1 needs the 'fork' start method (Linux); use num_proc: 1")
    return mp.get_context("fork").Pool(num_proc)


def _init_state(
    mix: Mixture,
    render: RenderConfig,
    tokenizer,
    layout: str,
    fmt: str,
    packer: ChunkPacker | None = None,
) -> None:
    _STATE.update(
        mix=mix,
        render=render,
        tokenizer=tokenizer,
        layout=layout,
        format=fmt,
        packer=packer,
    )
    prepare_examples(mix.tasks)  # lazily read texts (submix parquet), once, before workers fork


def render_batch(draws: list[tuple[int, int, int]]) -> list[dict]:
    """Render a batch of (task, index, epoch) draws into rows, each in its variant."""
    mix, render = _STATE["mix"], _STATE["render"]
    rows = []
    for ti, idx, epoch in draws:
        r = render_example(
            mix.tasks[ti],
            idx,
            mix.variant(ti, idx, epoch),
            seed=mix.seed,
            epoch=epoch,
            max_shots=render.max_shots,
            fewshot_budget=render.fewshot_budget,
        )
        row = r.to_row()
        row["epoch"] = epoch
        rows.append(row)
    return rows


def tokenize_batch(rows: list[dict]) -> list[tuple[list[int], list[int]]]:
    """(input ids, target ids) per rendered row, in the configured layout."""
    return token_pairs(
        _STATE["tokenizer"],
        [r["inputs"] for r in rows],
        [r["targets"] for r in rows],
        _STATE["layout"],
    )


def count_rows(rows: list[dict]) -> dict[str, Counter]:
    """Per-task counts of formats, CoT, inversion and few-shot fallbacks in a batch of rows."""
    per_task: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        c = per_task[row["task"]]
        c["examples"] += 1
        c[f"format:{row['format']}"] += 1
        c["cot"] += row["cot"]
        c["inverted"] += row["inverted"]
        c["fewshot_fallback_zero_shot"] += row["format"].startswith("fs") and row["shots"] == 0
    return per_task


def _work(job: tuple[int, list[Draw]]):
    """One job: render a batch of draws; with a tokenizer, the batch is the packing chunk that
    starts at stream position `chunk_start`, tokenized and packed here too."""
    chunk_start, draws = job
    rows = render_batch(draws)
    packed = None
    if _STATE.get("tokenizer") is not None:
        packed = _STATE["packer"].pack(tokenize_batch(rows), chunk_start)
    # JSON lines are encoded here, in the workers: the main process only writes them.
    out = [json_line(r) for r in rows] if _STATE.get("format") == "jsonl" else rows
    return out, count_rows(rows), packed


Draw = tuple[int, int, int]  # (task, example index, epoch): a Ref without its variant


def _draws(mix: Mixture, num_examples: int | None) -> tuple[Iterator[Draw], int, object]:
    """The mixture's draws in order (the workers find their variants), their count and the
    stream (for its repeat counts), or None for every example once."""
    if num_examples is None:
        total = sum(len(t) for t in mix.tasks)
        return mix.every_example_once_draws(), total, None
    stream = mix.stream()
    return islice(iter(stream.draw, None), num_examples), num_examples, stream


def _batches(draws: Iterator[Draw], size: int) -> Iterator[tuple[int, list[Draw]]]:
    """(stream position of the first, the draws) for each `size` draws in turn."""
    start = 0
    while True:
        chunk = list(islice(draws, size))
        if not chunk:
            return
        yield start, chunk
        start += len(chunk)


def _prepare_tokenizer(cfg: DataConfig, mix: Mixture, out: Path, progress: bool = False):
    name = cfg.features.tokenizer
    if name is None:
        return None
    from flankit.tokenizer import load_tokenizer

    if name != "train":
        with phase("build", f"loading tokenizer {name}", enabled=progress):
            return load_tokenizer(name)
    # Train on a sample of the mixture's own rendered text.
    n_sample = sum(len(t) for t in mix.tasks)
    return mixture_tokenizer(
        mix, cfg.render, cfg.features.vocab_size, out / "tokenizer", n_sample, progress=progress
    )


def resolve(cfg: DataConfig) -> DataConfig:
    """The build's defaults for what training takes from the run: the data seed (the build's
    `seed` unless mixture.seed is set), the encdec layout."""
    seed = data_seed(cfg.mixture.seed, cfg.seed)
    layout = cfg.features.layout or ENCDEC.name
    return replace(
        cfg,
        mixture=replace(cfg.mixture, seed=seed),
        features=replace(cfg.features, layout=layout),
    )


IN_PROGRESS = ".build-in-progress.json"


def _start(cfg: DataConfig, out: Path) -> None:
    """Mark `out` as being built (so it never looks complete meanwhile) and clear an earlier
    build's outputs; refuse when an interrupted build of another config is there."""
    marker = out / IN_PROGRESS
    # The JSON form, as the marker will be read back; worker count does not change the output.
    wanted = json.loads(json.dumps({k: v for k, v in to_dict(cfg).items() if k != "num_proc"}))
    if marker.exists():
        try:
            previous = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != wanted:
            raise FlankitError(
                "an interrupted build of a different config is in this folder",
                file=str(out),
                hint=f"rerun it with its own config (in {IN_PROGRESS}), or choose another --out "
                "or delete the folder",
            )
        warn(f"{out}: the previous build with this config was interrupted; building it again")
    write_atomic(marker, json.dumps(wanted, indent=1, ensure_ascii=False))
    for name in ("stats.json", "summary.md"):
        (out / name).unlink(missing_ok=True)
    for sub in ("data", "tokens"):
        for old in (out / sub).glob("part-*") if (out / sub).is_dir() else []:
            old.unlink()


def build(cfg: DataConfig, out: str | Path, *, progress: bool = True) -> dict:
    """Build the mixture described by `cfg` into `out`; return the stats (also in stats.json)."""
    t0 = time.perf_counter()
    cfg = resolve(cfg)
    out = writable_dir(out)
    _start(cfg, out)
    mix, load = load_mixture(cfg, seed=cfg.seed, progress=progress, workers=cfg.num_proc)
    tokenizer = _prepare_tokenizer(cfg, mix, out, progress)
    draws, total, stream = _draws(mix, cfg.mixture.num_examples)
    texts = ShardWriter(out / "data", cfg.output.format, cfg.output.shard_size)
    tokens = None
    if tokenizer is not None:
        folder = out / "tokens"
        tokens = TokenWriter(
            folder, cfg.features, tokenizer, cfg.output, mix.seed, cfg.chunk_examples
        )
    per_task = defaultdict(Counter)
    packer = tokens.packer if tokens is not None else None
    _init_state(mix, cfg.render, tokenizer, cfg.features.layout, cfg.output.format, packer)
    # With a tokenizer a job is one packing chunk, packed in the worker; else a batch to render.
    jobs = _batches(draws, cfg.chunk_examples if tokens is not None else cfg.batch_size)
    what = "render, tokenize, pack" if tokens is not None else "render"
    shown = bar("build", what, total, unit="ex", enabled=progress)
    with _pool(cfg.num_proc) as pool, shown:
        for rows, counts, packed in pool.imap(_work, jobs, chunksize=1):
            texts.add(rows)
            if tokens is not None:
                tokens.add_chunk(packed)
            for task, c in counts.items():
                per_task[task].update(c)
            shown.update(len(rows))
    with phase("build", "packing and writing the last shards", enabled=progress):
        texts.close()
        if tokens is not None:
            tokens.close()
            write_manifest(out, cfg, tokenizer, tokens)
    with phase("build", "writing stats.json and summary.md", enabled=progress):
        seconds = time.perf_counter() - t0
        stats = _stats(cfg, mix, load, per_task, stream, tokens, texts, seconds)
        stats["shards"] = {
            sub: sorted(p.name for p in (out / sub).glob("part-*")) for sub in ("data", "tokens")
        }
        stats["collection_report"] = collection_report.collection_report(stats)
        write_atomic(
            out / "summary.md", summary_markdown(stats) + collection_report.markdown(stats)
        )
        write_atomic(out / "stats.json", json.dumps(stats, indent=2, ensure_ascii=False))  # last
    (out / IN_PROGRESS).unlink()
    return stats


def _stats(cfg, mix, load, per_task, stream, tokens, texts, seconds) -> dict:
    repeats = stream.repeats() if stream is not None else {t.name: 1.0 for t in mix.tasks}
    tasks = []
    for t, p in zip(mix.tasks, mix.probs):
        c = per_task.get(t.name, Counter())
        tasks.append(
            {
                "task": t.name,
                "collection": t.collection,
                "source_examples": len(t),
                "rate": float(p),
                "examples": c["examples"],
                "repeats": round(repeats.get(t.name, 0.0), 4),
                "cot": c["cot"],
                "inverted": c["inverted"],
                "formats": {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("format:")},
                "fewshot_fallback_zero_shot": c["fewshot_fallback_zero_shot"],
                "decontaminated": load.decontaminated.get(t.name, 0),
                "bad_rows": load.bad.counts.get(t.name, 0),
            }
        )
    by_collection: dict[str, dict] = {}
    for row in tasks:
        agg = by_collection.setdefault(row["collection"], {"tasks": 0, "examples": 0, "rate": 0.0})
        agg["tasks"] += 1
        agg["examples"] += row["examples"]
        agg["rate"] += row["rate"]
    n = sum(r["examples"] for r in tasks)
    return {
        "examples": n,
        "seconds": round(seconds, 3),
        "examples_per_second": round(n / seconds, 1) if seconds else None,
        "mode": "every_example_once" if cfg.mixture.num_examples is None else "sampled",
        "text_shards": texts.shards,
        "collections": by_collection,
        "tasks": tasks,
        "excluded_tasks": load.excluded,
        "decontaminated_total": sum(load.decontaminated.values()),
        "bad_rows_total": load.bad.total,
        "bad_row_samples": load.bad.samples,
        "tokens": tokens.report() if tokens is not None else None,
        "config": to_dict(cfg),
    }


def summary_markdown(stats: dict) -> str:
    """A readable report of a build."""
    lines = [
        "# Mixture build summary",
        "",
        f"{stats['examples']:,} examples ({stats['mode']}) in {stats['seconds']:.1f} s "
        f"({stats['examples_per_second']:,} examples/s).",
        "",
        "| collection | tasks | examples | mixture rate |",
        "|---|---:|---:|---:|",
    ]
    for name, c in stats["collections"].items():
        lines.append(f"| {name} | {c['tasks']} | {c['examples']:,} | {c['rate']:.3f} |")
    tok = stats.get("tokens")
    if tok:
        lines += ["", "## Tokens and packing", ""]
        lines.append(
            f"- layout: {tok['layout']}, packed: {tok['packed']}, rows: {tok.get('rows', 0):,}"
        )
        lines.append(
            f"- input tokens: {tok.get('input_tokens', 0):,}; target tokens: {tok.get('target_tokens', 0):,}"
        )
        lines += family_named(tok["layout"]).packing_lines(tok)
        lines.append(
            f"- truncated: {tok.get('truncated_inputs', 0):,} inputs ({tok.get('dropped_input_tokens', 0):,} tokens), "
            f"{tok.get('truncated_targets', 0):,} targets ({tok.get('dropped_target_tokens', 0):,} tokens)"
        )
    lines += ["", "## Held out and dropped", ""]
    lines.append(
        f"- tasks excluded: {len(stats['excluded_tasks'])}"
        + (
            " ("
            + ", ".join(f"{k}: {v}" for k, v in list(stats["excluded_tasks"].items())[:10])
            + (", ..." if len(stats["excluded_tasks"]) > 10 else "")
            + ")"
            if stats["excluded_tasks"]
            else ""
        )
    )
    lines.append(f"- examples removed by decontamination: {stats['decontaminated_total']:,}")
    lines.append(f"- bad rows skipped: {stats['bad_rows_total']:,}")
    lines += [
        "",
        "## Tasks (largest share first)",
        "",
        "| task | collection | source ex. | rate | examples | repeats | CoT | inverted | decontam. | bad rows |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in sorted(stats["tasks"], key=lambda r: -r["rate"])[:60]:
        lines.append(
            f"| {t['task']} | {t['collection']} | {t['source_examples']:,} | {t['rate']:.4f} | {t['examples']:,} | "
            f"{t['repeats']:.2f} | {t['cot']:,} | {t['inverted']:,} | {t['decontaminated']} | {t['bad_rows']} |"
        )
    if len(stats["tasks"]) > 60:
        lines.append(f"| ... {len(stats['tasks']) - 60} more in stats.json | | | | | | | | | |")
    return "\n".join(lines) + "\n"
