"""Run benchmarks against a model: build items, generate (with a crash-safe cache), score, report.

Every finished request is appended to `cache.jsonl` as soon as its batch completes; a rerun of
the same command after a crash or kill computes none of them again. Outputs: `results.json`
(model, config, versions, prompt versions, every score), `samples.jsonl` (prompt, output,
extracted answer, gold, correct) and `report.md` (tables, with the paper's Table 5 beside).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from flankit.config import to_dict
from flankit.errors import FlankitError
from flankit.evals import extract
from flankit.evals.benchmarks import Item
from flankit.evals.lm import LM, GenRequest
from flankit.evals.metrics import aggregate, normalized_average


@dataclass(frozen=True)
class EvalConfig:
    benchmarks: list[str] = field(default_factory=lambda: ["mmlu", "bbh", "tydiqa", "mgsm"])
    modes: list[str] = field(default_factory=lambda: ["direct", "cot"])
    limit: int | None = None  # items per subtask / subject / language
    self_consistency: int = 0  # k sampled CoT paths, majority vote (0: greedy only)
    sc_temperature: float = 0.7
    mmlu_split: str = "validation"
    mmlu_scoring: str = "generate"  # or loglikelihood
    mmlu_subjects: list[str] | None = None
    bbh_subtasks: list[str] | None = None
    mgsm_langs: list[str] | None = None
    tydiqa_dev: str | None = None  # SQuAD JSON path, or "hub"
    data_root: str | None = None
    synthetic_limit: int = 20
    world_limit: int | None = None  # people per family of the `world` benchmark (None: all)
    batch_size: int = 8
    max_new_tokens: int | None = None  # cap on every item's generation length (quick runs)


def build_items(cfg: EvalConfig) -> tuple[list[Item], dict[str, str]]:
    """All items for the configured benchmarks; benchmarks that cannot run say why."""
    from flankit.data.collections import data_root
    from flankit.evals.benchmarks import bbh, mgsm, mmlu, synthetic, tydiqa, world

    root = data_root(cfg.data_root)
    items: list[Item] = []
    skipped: dict[str, str] = {}
    for bench in cfg.benchmarks:
        modes = list(cfg.modes)
        if bench == "mmlu":
            items += mmlu.load(
                root / "mmlu",
                modes,
                split=cfg.mmlu_split,
                limit=cfg.limit,
                subject_filter=cfg.mmlu_subjects,
                scoring=cfg.mmlu_scoring,
            )
        elif bench == "bbh":
            items += bbh.load(root / "bbh", modes, limit=cfg.limit, subtasks=cfg.bbh_subtasks)
        elif bench == "mgsm":
            if "cot" not in modes:
                skipped["mgsm"] = "MGSM is evaluated with CoT only (add --modes cot)"
                continue
            items += mgsm.load(root / "mgsm", ["cot"], limit=cfg.limit, langs=cfg.mgsm_langs)
        elif bench == "tydiqa":
            if "direct" not in modes:
                skipped["tydiqa"] = "TyDiQA is evaluated with direct prompting only"
                continue
            if cfg.tydiqa_dev is None:
                skipped["tydiqa"] = "no GoldP dev set given (--tydiqa-dev PATH or hub)"
                continue
            items += tydiqa.load(
                cfg.tydiqa_dev, root / "tydiqa" / "tydiqa-one-shot.json", limit=cfg.limit
            )
        elif bench == "synthetic":
            items += synthetic.load(modes, limit=cfg.synthetic_limit)
        elif bench == "world":
            items += world.load(modes, limit=cfg.world_limit)
        elif bench == "world_cloze":
            items += world.load_cloze(limit=cfg.world_limit)
        else:
            raise FlankitError(
                f"unknown benchmark {bench!r}; choose from mmlu, bbh, tydiqa, mgsm, synthetic, world, world_cloze"
            )
    if cfg.max_new_tokens is not None:
        items = [
            replace(it, max_new_tokens=min(it.max_new_tokens, cfg.max_new_tokens)) for it in items
        ]
    return items, skipped


def score(item: Item, output: str) -> tuple[str | None, bool, float]:
    """(extracted answer, correct, F1) for one output."""
    if item.scorer == "letter":
        pred = extract.extract_letter(output, "ABCD", list(item.options))
        return pred, pred == item.gold, 0.0
    if item.scorer == "bbh":
        pred = (
            extract.bbh_answer(output)
            if item.mode == "cot"
            else output.strip().split("\n")[0].strip()
        )
        return pred, extract.bbh_match(pred, str(item.gold)), 0.0
    if item.scorer == "number":
        pred = extract.extract_number(output, item.lang)
        return pred, pred is not None and pred == item.gold, 0.0
    if item.scorer == "squad":
        em, f1 = extract.squad_em_f1(output, list(item.gold))
        return output.strip(), em == 1.0, f1
    if item.scorer == "first_word":  # a fill-in-the-blank answer: its first word
        words = output.replace("<extra_id_0>", " ").split()
        pred = words[0] if words else ""
        ok = extract.normalize_text(pred) == extract.normalize_text(str(item.gold))
        return pred, ok, 0.0
    if item.scorer == "synthetic":
        if item.mode == "cot":
            from flankit.evals.benchmarks.synthetic import cot_answer

            pred = cot_answer(output)
        else:
            pred = output.strip().split("\n")[0]
        return (
            pred,
            pred is not None
            and extract.normalize_text(pred) == extract.normalize_text(str(item.gold)),
            0.0,
        )
    raise FlankitError(f"unknown scorer {item.scorer!r}")


def request_key(model: str, *parts) -> str:
    """A stable key for one request of one model."""
    return hashlib.sha256(json.dumps([model, *parts], ensure_ascii=False).encode()).hexdigest()


def gen_key(model: str, it: Item, temperature: float = 0.0, seed: int = 0) -> str:
    """The key of a generation request for `it` (greedy, or one sampled path)."""
    return request_key(model, "gen", it.prompt, it.max_new_tokens, list(it.stop), temperature, seed)


class Cache:
    """Append-only JSONL of finished requests, keyed by model and request."""

    def __init__(self, path: Path, model: str) -> None:
        self.path, self.model = path, model
        self.done: dict[str, object] = read_cache(path) if path.exists() else {}
        self._f = open(path, "a", encoding="utf-8")

    def key(self, *parts) -> str:
        return request_key(self.model, *parts)

    def put(self, key: str, value) -> None:
        self.done[key] = value
        self._f.write(json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def _run_generation(
    lm: LM, cache: Cache, jobs: list[tuple[str, GenRequest]], bar, chunk: int = 32
) -> None:
    todo = [(k, r) for k, r in jobs if k not in cache.done]
    bar.update(len(jobs) - len(todo))
    for s in range(0, len(todo), chunk):
        part = todo[s : s + chunk]
        outputs = lm.generate([r for _, r in part])
        for (k, _), text in zip(part, outputs):
            cache.put(k, text)
        cache.flush()
        bar.update(len(part))


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
    items, skipped = build_items(cfg)
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
    for s in range(0, len(todo_ll), 64):
        part = todo_ll[s : s + 64]
        for (key, _), v in zip(part, lm.loglikelihood([r for _, r in part])):
            cache.put(key, v)
        cache.flush()
        bar.update(len(part))
    bar.close()
    cache.close()
    if world > 1:
        return {"shard": rank, "requests": len(gen_jobs) + len(ll_jobs)}
    return finish(
        items, cfg, out, lm.name, skipped, time.perf_counter() - t0, getattr(lm, "truncated", 0)
    )


def merge_caches(out: Path) -> dict:
    """Read every shard's cache into one table (for multi-process runs)."""
    done: dict[str, object] = {}
    for path in sorted(Path(out).glob("cache*.jsonl")):
        done.update(read_cache(path))
    return done


def read_cache(path: Path) -> dict[str, object]:
    """The finished requests in one cache file; a line cut by a crash is skipped (recomputed)."""
    done: dict[str, object] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
                done[row["key"]] = row["value"]
            except (json.JSONDecodeError, KeyError):
                continue
    return done


def finish(
    items: list[Item],
    cfg: EvalConfig,
    out: Path,
    model: str,
    skipped: dict,
    seconds: float,
    truncated: int,
) -> dict:
    """Score every item from the cached outputs and write results, samples and the report."""
    done = merge_caches(out)
    samples = []
    empty = 0
    for it in items:
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
                paths = [
                    done[gen_key(model, it, cfg.sc_temperature, seed)]
                    for seed in range(cfg.self_consistency)
                ]
                votes = [score(it, o)[0] for o in paths]
                voted = extract.majority_vote(votes)
                sc_correct = (
                    it.scorer != "squad"
                    and voted is not None
                    and score(it, f"The answer is {voted}.")[1]
                )
                extra = {"sc_votes": votes, "sc_answer": voted, "sc_correct": bool(sc_correct)}
        empty += not str(output).strip()
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
        if it.scorer == "squad":
            row["f1"] = f1
        samples.append(row)
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
        "truncated_prompts": truncated,
        "seconds": round(seconds, 2),
        "config": to_dict(cfg),
        "prompt_versions": _prompt_versions(),
        "versions": _versions(),
    }
    with open(out / "samples.jsonl", "w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    from flankit.report import eval_report

    (out / "report.md").write_text(eval_report(results))
    return results


def _prompt_versions() -> dict:
    from flankit.evals.benchmarks import bbh, mgsm, mmlu, synthetic, tydiqa, world

    return {
        m.__name__.rsplit(".", 1)[1]: m.PROMPT_VERSION
        for m in (mmlu, bbh, tydiqa, mgsm, synthetic, world)
    }


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
