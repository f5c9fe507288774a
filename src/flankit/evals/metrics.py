"""Aggregates: macro and micro averages, and the paper's normalized average.

Normalized score = 100 * (score - random) / (100 - random), with each benchmark's random-guess
baseline: MMLU 25; BBH the macro average of each subtask's chance (1/options where a question
lists options, else one over the size of the subtask's answer set: 2 for boolean_expressions);
TyDiQA and MGSM 0 (generative). The normalized average is the mean of the parts the registered
benchmarks name in `paper_columns`, the paper's six: MMLU direct and CoT, BBH direct and CoT,
TyDiQA direct, MGSM CoT.
"""

from __future__ import annotations

from collections import defaultdict

from flankit.evals import benchmarks


def paper_parts() -> list[tuple[str, str, str]]:
    """(benchmark, mode, Table 5 column) of every part of the normalized average."""
    return [
        (name, mode, column)
        for name in benchmarks.names()
        for mode, column in benchmarks.get(name).paper_columns
    ]


def _registered(name: str) -> benchmarks.Benchmark | None:
    return benchmarks.get(name) if name in benchmarks.REGISTRY else None


def aggregate(samples: list[dict]) -> dict:
    """Per benchmark and mode: per-subtask accuracy, macro and micro averages, random baseline."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        groups[(s["benchmark"], s["mode"])][s["subtask"]].append(s)
    out = {}
    for (bench, mode), subs in sorted(groups.items()):
        per = {
            name: 100.0 * sum(x["correct"] for x in xs) / len(xs)
            for name, xs in sorted(subs.items())
        }
        chance = {name: 100.0 * sum(x["chance"] for x in xs) / len(xs) for name, xs in subs.items()}
        meta = _registered(bench)
        skip = set(meta.reported_apart) if meta else set()
        macro_names = [n for n in per if n not in skip] or list(per)
        entry = {
            "macro": sum(per[n] for n in macro_names) / len(macro_names),
            "micro": 100.0
            * sum(x["correct"] for n in macro_names for x in subs[n])
            / sum(len(subs[n]) for n in macro_names),
            "random": sum(chance[n] for n in macro_names) / len(macro_names),
            "subtasks": per,
            "n": sum(len(xs) for xs in subs.values()),
        }
        if meta and meta.f1:
            entry["f1_macro"] = sum(
                100.0 * sum(x.get("f1", 0.0) for x in subs[n]) / len(subs[n]) for n in macro_names
            ) / len(macro_names)
        for n in skip & set(per):
            entry[f"{n}_separately"] = per[n]
        out[f"{bench}/{mode}"] = entry
    return out


def normalized(score: float, random: float) -> float:
    return 100.0 * (score - random) / (100.0 - random)


def normalized_average(scores: dict) -> dict:
    """The paper's six normalized scores and their mean (None where a score is missing)."""
    parts = {}
    for bench, mode, _ in paper_parts():
        entry = scores.get(f"{bench}/{mode}")
        parts[f"{bench}/{mode}"] = normalized(entry["macro"], entry["random"]) if entry else None
    have = [v for v in parts.values() if v is not None]
    complete = len(have) == len(parts)
    return {
        "parts": parts,
        "average": sum(have) / len(have) if complete else None,
        "partial_average": sum(have) / len(have) if have else None,
        "complete": complete,
    }


def grouped_accuracy(samples_path, keys) -> dict[str, float]:
    """Accuracy (%) per group from a samples.jsonl; `keys(sample)` names the groups a sample is in."""
    import json

    acc: dict[str, list[bool]] = defaultdict(list)
    with open(samples_path, encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            for key in keys(s):
                acc[key].append(s["correct"])
    return {k: 100.0 * sum(v) / len(v) for k, v in sorted(acc.items())}


def grouped_stats(samples_path, keys) -> dict[str, float]:
    """Like `grouped_accuracy`, plus per group `n/KEY` (items) and `chance/KEY` (random-guess
    accuracy, %), so that plots can draw standard errors and the random baseline."""
    import json

    acc: dict[str, list[bool]] = defaultdict(list)
    chance: dict[str, list[float]] = defaultdict(list)
    with open(samples_path, encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            for key in keys(s):
                acc[key].append(s["correct"])
                chance[key].append(s.get("chance", 0.0))
    out: dict[str, float] = {}
    for k, v in sorted(acc.items()):
        out[k] = 100.0 * sum(v) / len(v)
        out[f"n/{k}"] = len(v)
        out[f"chance/{k}"] = 100.0 * sum(chance[k]) / len(v)
    return out
