"""Run benchmarks against a model: build items, generate (with a crash-safe cache), score, report.

Every finished request is appended to `cache.jsonl` as soon as it is done: a generation the
moment its text is finished, a score when its model batch completes (the progress bar moves
with it); a rerun of the same command after a crash or kill computes none of
them again, and a last line cut by the kill is set aside and its request recomputed. Outputs:
`results.json` (model, config, versions, prompt versions, every score), `samples.jsonl` (prompt,
output, extracted answer, gold, correct) and `report.md` (tables, with the paper's Table 5
beside), each written whole, `results.json` last.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

from flankit.config import to_dict
from flankit.data.sources import BadRows
from flankit.errors import FlankitError, warn
from flankit.evals import benchmarks, extract
from flankit.evals.benchmarks import Item, Setup
from flankit.evals.lm import LM, GenRequest
from flankit.evals.metrics import aggregate, normalized_average
from flankit.evals.suite import EvalConfig, options_of
from flankit.outputs import write_atomic

__all__ = ["EvalConfig", "build_items", "evaluate", "finish", "score"]


def build_items(cfg: EvalConfig, bad: BadRows | None = None) -> tuple[list[Item], dict[str, str]]:
    """All items for the configured benchmarks; benchmarks that cannot run say why. Malformed
    rows raise, or with `cfg.skip_bad_rows` are counted in `bad`."""
    from flankit.data.collections import data_root

    bad = bad if bad is not None else BadRows(skip=cfg.skip_bad_rows)
    root = data_root(cfg.data_root)
    items: list[Item] = []
    skipped: dict[str, str] = {}
    for name in cfg.benchmarks:
        bench = benchmarks.get(name)
        options = options_of(cfg, name)
        modes = tuple(m for m in cfg.modes if bench.modes is None or m in bench.modes)
        reason = bench.modes_note if not modes else bench.unavailable(options)
        if reason:
            skipped[name] = reason
            continue
        items += bench.load(options, Setup(modes, cfg.limit, root, bad))
    if cfg.max_new_tokens is not None:
        items = [
            replace(it, max_new_tokens=min(it.max_new_tokens, cfg.max_new_tokens)) for it in items
        ]
    return items, skipped


def score(item: Item, output: str) -> tuple[str | None, bool, float]:
    """(extracted answer, correct, F1) for one output, by the rule of the item's benchmark."""
    return benchmarks.get(item.benchmark).score(item, output)


def request_key(model: str, *parts) -> str:
    """A stable key for one request of one model."""
    return hashlib.sha256(json.dumps([model, *parts], ensure_ascii=False).encode()).hexdigest()


def gen_key(model: str, it: Item, temperature: float = 0.0, seed: int = 0) -> str:
    """The key of a generation request for `it` (greedy, or one sampled path)."""
    return request_key(model, "gen", it.prompt, it.max_new_tokens, list(it.stop), temperature, seed)


class Cache:
    """Append-only JSONL of finished requests, keyed by model and request.

    Each record is `{"key", "value", "truncated", "seconds"}`: the output, whether the prompt was
    cut to fit the model, and its compute time (a scoring batch's time shared over the batch; for
    a generation, the streaming call's time since the previous output), so a rerun reports the
    same counts and compute time as the run that did the work. Records are appended one `write`
    each as soon as they are finished and fsynced (per generation, per scoring batch). A last line
    cut by a kill, a full disk or a power loss is moved aside to `<name>.torn` when the cache is
    opened, and its request is computed again.
    """

    def __init__(self, path: Path, model: str) -> None:
        self.path, self.model = path, model
        self.done: dict[str, dict] = {}
        if path.exists():
            repair_torn_tail(path)
            self.done = read_cache(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def key(self, *parts) -> str:
        return request_key(self.model, *parts)

    def put(self, key: str, value, *, truncated: bool = False, seconds: float = 0.0) -> None:
        record = {"key": key, "value": value, "truncated": truncated, "seconds": seconds}
        self.done[key] = record
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        while data:  # one write per record; the loop only matters for partial writes
            data = data[os.write(self._fd, data) :]

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def repair_torn_tail(path: Path) -> int:
    """Move a partial last line of an append-only JSONL file to `<path>.torn` and cut it off;
    return how many bytes were cut (0 when the file ends with a whole line)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        # Scan back in blocks for the last newline; records can be long (chain-of-thought outputs).
        end, block = size, 1 << 16
        cut = 0
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            chunk = f.read(end - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                cut = start + nl + 1
                break
            end = start
        f.seek(cut)
        tail = f.read()
        with open(str(path) + ".torn", "ab") as torn:
            torn.write(tail + b"\n")
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    warn(
        f"{path}: the last line was cut off ({len(tail)} bytes, a kill or full disk during a "
        f"write); moved it to {path.name}.torn, its request will be computed again"
    )
    return len(tail)


def _chunk_size(lm: LM) -> int:
    # Requests in one generate call are lost together on a kill; one model batch keeps that small.
    return max(1, int(getattr(lm, "batch_size", 0) or 32))


def _truncated_flags(lm: LM, prompts: list[str], before: int) -> list[bool]:
    """Which of the prompts just run were cut to fit the model. LMs that name the prompts they
    cut (`truncated_texts`) are exact; otherwise the batch's count decides when it is all or none."""
    named = getattr(lm, "truncated_texts", None)
    if named is not None:
        return [p in named for p in prompts]
    count = int(getattr(lm, "truncated", 0)) - before
    return [i < count for i in range(len(prompts))]


def _run_batches(lm: LM, cache: Cache, todo: list, bar, call, prompt_of) -> None:
    """Run `todo` (key, request) pairs through `call` one model batch at a time; cache each."""
    size = _chunk_size(lm)
    for s in range(0, len(todo), size):
        part = todo[s : s + size]
        before = int(getattr(lm, "truncated", 0))
        if isinstance(getattr(lm, "truncated_texts", None), set):
            lm.truncated_texts.clear()
        t0 = time.perf_counter()
        outputs = call([r for _, r in part])
        share = (time.perf_counter() - t0) / len(part)
        flags = _truncated_flags(lm, [prompt_of(r) for _, r in part], before)
        for (k, _), value, cut in zip(part, outputs, flags):
            cache.put(k, value, truncated=cut, seconds=share)
            bar.update(1)
        cache.flush()


def _run_generation(lm: LM, cache: Cache, jobs: list[tuple[str, GenRequest]], bar) -> None:
    """Generate every job not in the cache in one streaming call; each output is cached (and
    fsynced) and counted on the bar as soon as it is finished, so a kill loses none of them."""
    todo = [(k, r) for k, r in jobs if k not in cache.done]
    bar.update(len(jobs) - len(todo))
    if not todo:
        return
    if isinstance(getattr(lm, "truncated_texts", None), set):
        lm.truncated_texts.clear()
    before = int(getattr(lm, "truncated", 0))
    if getattr(lm, "generate_stream", None) is None:
        _run_batches(lm, cache, todo, bar, lm.generate, lambda r: r.prompt)
        return
    t0 = time.perf_counter()
    for i, text in lm.generate_stream([r for _, r in todo]):
        now = time.perf_counter()
        key, req = todo[i]
        (cut,) = _truncated_flags(lm, [req.prompt], before)
        # The compute time since the previous output: the stream's time, shared as it went.
        cache.put(key, text, truncated=cut, seconds=now - t0)
        cache.flush()
        bar.update(1)
        t0 = now


def evaluate(
    lm: LM,
    cfg: EvalConfig,
    out: str | Path,
    *,
    progress: bool = True,
    shard: tuple[int, int] = (0, 1),
) -> dict:
    """Evaluate `lm` on the configured benchmarks; write results into `out`; return the results."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bad = BadRows(skip=cfg.skip_bad_rows)
    items, skipped = build_items(cfg, bad)
    if bad.total:
        warn(
            f"skipped {bad.total} bad benchmark rows (--skip-bad-rows); see bad_rows in results.json"
        )
    if not items:
        raise FlankitError(
            "nothing to evaluate: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    t0 = time.perf_counter()
    rank, world = shard
    cache = Cache(out / (f"cache-rank{rank}.jsonl" if world > 1 else "cache.jsonl"), lm.name)
    k = cfg.self_consistency
    gen_jobs, ll_jobs = [], []
    for it in items[rank::world]:
        if it.continuations:
            for c in it.continuations:
                ll_jobs.append((cache.key("ll", it.prompt, c), (it.prompt, c)))
            continue
        req = GenRequest(it.prompt, it.max_new_tokens, it.stop)
        gen_jobs.append((gen_key(lm.name, it), req))
        if k and it.mode == "cot":
            for seed in range(k):
                sreq = GenRequest(it.prompt, it.max_new_tokens, it.stop, cfg.sc_temperature, seed)
                gen_jobs.append((gen_key(lm.name, it, cfg.sc_temperature, seed), sreq))
    bar = tqdm(
        total=len(gen_jobs) + len(ll_jobs),
        unit="req",
        desc=f"eval {lm.name}",
        disable=not progress,
        dynamic_ncols=True,
    )
    # Sampled requests are batched by seed, so each batch shares one generator state.
    by_seed: dict[tuple, list] = {}
    for key, req in gen_jobs:
        by_seed.setdefault((req.temperature, req.seed), []).append((key, req))
    for group in by_seed.values():
        _run_generation(lm, cache, group, bar)
    todo_ll = [(key, r) for key, r in ll_jobs if key not in cache.done]
    bar.update(len(ll_jobs) - len(todo_ll))
    _run_batches(lm, cache, todo_ll, bar, lm.loglikelihood, lambda r: r[0])
    bar.close()
    cache.close()
    if world > 1:
        return {"shard": rank, "requests": len(gen_jobs) + len(ll_jobs)}
    return finish(items, cfg, out, lm.name, skipped, time.perf_counter() - t0, bad)


def merge_caches(out: Path) -> dict[str, dict]:
    """Read every shard's cache into one table (for multi-process runs)."""
    done: dict[str, dict] = {}
    for path in sorted(Path(out).glob("cache*.jsonl")):
        done.update(read_cache(path))
    return done


def read_cache(path: Path) -> dict[str, dict]:
    """The finished requests in one cache file, by key. A line that is not a whole record (cut
    by a crash, or damaged) is skipped, named in a warning, and its request recomputed."""
    done: dict[str, dict] = {}
    bad: list[int] = []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            try:
                row = json.loads(line.decode("utf-8"))
                row["value"]  # a record without its value is damaged too
                done[row["key"]] = {"truncated": False, "seconds": 0.0, **row}
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
                bad.append(lineno)
    if bad:
        warn(
            f"{path}:{bad[0]}: {len(bad)} damaged line(s) skipped; their requests will be "
            "computed again"
        )
    return done


def finish(
    items: list[Item],
    cfg: EvalConfig,
    out: Path,
    model: str,
    skipped: dict,
    run_seconds: float,
    bad: BadRows | None = None,
) -> dict:
    """Score every item from the cached outputs and write results, samples and the report.

    `truncated_prompts` and `seconds` (compute time) are summed over the cache records the
    items use, so they do not depend on how many runs it took to fill the cache;
    `run_seconds` is this run's own time.
    """
    records = merge_caches(out)
    done = {k: r["value"] for k, r in records.items()}
    used = {k for it in items for k in _item_keys(it, model, cfg)}
    missing = len(used - set(records))
    if missing:
        raise FlankitError(
            f"{missing} request(s) are not in the cache",
            file=str(out),
            hint="rerun the same command: it computes only what is missing",
        )
    samples = [_sample(it, done, model, cfg) for it in items]
    empty = sum(not str(s["output"]).strip() for s in samples)
    scores = aggregate(samples)
    if cfg.self_consistency:
        sc_samples = [
            {**s, "correct": s["sc_correct"], "mode": s["mode"] + "+sc"}
            for s in samples
            if "sc_correct" in s
        ]
        scores.update(aggregate(sc_samples))
    results = {
        "model": model,
        "scores": scores,
        "normalized": normalized_average(scores),
        "skipped": skipped,
        "empty_outputs": empty,
        "bad_rows": dict(bad.counts) if bad else {},
        "bad_row_samples": list(bad.samples) if bad else [],
        "truncated_prompts": sum(bool(records[k]["truncated"]) for k in used),
        "seconds": round(sum(float(records[k]["seconds"]) for k in used), 2),
        "run_seconds": round(run_seconds, 2),
        "config": to_dict(cfg),
        "prompt_versions": _prompt_versions(),
        "versions": _versions(),
    }
    from flankit.report import eval_report

    # Each file appears whole (temporary name, then rename) and results.json last: a folder
    # with results.json is a finished evaluation (sweeps skip those).
    write_atomic(
        out / "samples.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    )
    write_atomic(out / "report.md", eval_report(results))
    write_atomic(out / "results.json", json.dumps(results, indent=1, ensure_ascii=False))
    return results


def _sample(it: Item, done: dict[str, str], model: str, cfg: EvalConfig) -> dict:
    """One item's samples.jsonl row: its output, extracted answer and score (and the
    self-consistency vote for CoT items when asked for)."""
    extra: dict = {}
    if it.continuations:
        lls = [done[request_key(model, "ll", it.prompt, c)] for c in it.continuations]
        best = max(range(len(lls)), key=lambda i: lls[i])
        output, pred, correct, f1 = (
            it.continuations[best].strip(),
            "ABCD"[best],
            "ABCD"[best] == it.gold,
            0.0,
        )
    else:
        output = done[gen_key(model, it)]
        pred, correct, f1 = score(it, output)
        if cfg.self_consistency and it.mode == "cot":
            extra = _self_consistency(it, done, model, cfg)
    row = {
        "benchmark": it.benchmark,
        "subtask": it.subtask,
        "id": it.id,
        "mode": it.mode,
        "prompt": it.prompt,
        "output": output,
        "extracted": pred,
        "gold": it.gold,
        "correct": bool(correct),
        "chance": it.chance,
        **extra,
    }
    if benchmarks.get(it.benchmark).f1:
        row["f1"] = f1
    return row


def _self_consistency(it: Item, done: dict[str, str], model: str, cfg: EvalConfig) -> dict:
    """The majority vote over an item's sampled CoT paths."""
    paths = [
        done[gen_key(model, it, cfg.sc_temperature, seed)] for seed in range(cfg.self_consistency)
    ]
    votes = [score(it, o)[0] for o in paths]
    voted = extract.majority_vote(votes)
    sc_correct = (
        not benchmarks.get(it.benchmark).f1
        and voted is not None
        and score(it, f"The answer is {voted}.")[1]
    )
    return {"sc_votes": votes, "sc_answer": voted, "sc_correct": bool(sc_correct)}


def _item_keys(it: Item, model: str, cfg: EvalConfig) -> list[str]:
    """The cache keys of every request one item needs."""
    if it.continuations:
        return [request_key(model, "ll", it.prompt, c) for c in it.continuations]
    keys = [gen_key(model, it)]
    if cfg.self_consistency and it.mode == "cot":
        keys += [gen_key(model, it, cfg.sc_temperature, s) for s in range(cfg.self_consistency)]
    return keys


def _prompt_versions() -> dict:
    return {name: benchmarks.get(name).prompt_version for name in benchmarks.names()}


def _versions() -> dict:
    import torch
    import transformers

    from flankit import __version__

    return {
        "flankit": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
