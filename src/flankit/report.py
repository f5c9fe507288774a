"""Tables and plots from result files: evaluation reports and study summaries."""

from __future__ import annotations

# The paper's Table 5 (normalized average; MMLU on the validation set), for context.
PAPER_TABLE5 = [
    ("T5-Small", -9.2, 26.7, 5.6, 27.0, 7.2, 0.0, 0.4),
    ("Flan-T5-Small", -3.1, 28.7, 12.1, 29.1, 19.2, 1.1, 0.2),
    ("T5-Base", -5.1, 25.7, 14.5, 27.8, 14.6, 0.0, 0.5),
    ("Flan-T5-Base", 6.5, 35.9, 33.7, 31.3, 27.9, 4.1, 0.4),
    ("T5-Large", -5.0, 25.1, 15.0, 27.7, 16.1, 0.0, 0.3),
    ("Flan-T5-Large", 13.8, 45.1, 40.5, 37.5, 31.5, 12.3, 0.7),
    ("Flan-T5-XL", 19.1, 52.4, 45.5, 41.0, 35.2, 16.6, 1.9),
    ("Flan-T5-XXL", 23.7, 55.1, 48.6, 45.3, 41.4, 19.0, 4.9),
    ("Flan-PaLM 540B", 58.4, 73.5, 70.9, 57.9, 66.3, 67.8, 57.0),
]
COLUMNS = ("mmlu/direct", "mmlu/cot", "bbh/direct", "bbh/cot", "tydiqa/direct", "mgsm/cot")


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def eval_report(results: dict) -> str:
    """Markdown: the six paper columns beside Table 5, then every benchmark's details."""
    scores = results["scores"]
    norm = results["normalized"]
    lines = [f"# Evaluation of `{results['model']}`", ""]
    lines.append(
        "| model | norm. avg. | MMLU direct | MMLU CoT | BBH direct | BBH CoT | TyDiQA | MGSM CoT |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    row = [_fmt(scores[c]["macro"]) if c in scores else "–" for c in COLUMNS]
    avg = norm["average"] if norm["complete"] else None
    label = (
        _fmt(avg)
        if avg is not None
        else (
            f"({_fmt(norm['partial_average'])}, partial)"
            if norm["partial_average"] is not None
            else "–"
        )
    )
    lines.append(f"| **{results['model']}** (this run) | {label} | " + " | ".join(row) + " |")
    for name, *vals in PAPER_TABLE5:
        lines.append(f"| {name} (paper) | " + " | ".join(_fmt(v) for v in vals) + " |")
    lines += [
        "",
        "Scores are macro averages (57 MMLU subjects, 27 BBH subtasks, 8 TyDiQA and 10 MGSM",
        "languages, English apart). A run with `--limit` or a subset is not comparable to the paper.",
        "",
    ]
    if results.get("skipped"):
        lines += ["Not run: " + "; ".join(f"{k} ({v})" for k, v in results["skipped"].items()), ""]
    lines += [
        "## Details",
        "",
        "| benchmark | n | macro | micro | random | normalized |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, e in scores.items():
        n_norm = norm["parts"].get(name)
        lines.append(
            f"| {name} | {e['n']} | {e['macro']:.1f} | {e['micro']:.1f} | {e['random']:.1f} | {_fmt(n_norm)} |"
        )
    for name, e in scores.items():
        lines += ["", f"### {name}", "", "| subtask | accuracy |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in e["subtasks"].items()]
    lines += [
        "",
        f"Empty outputs: {results['empty_outputs']}; prompts cut from the left to fit: "
        f"{results['truncated_prompts']}; time: {results['seconds']} s.",
        "",
    ]
    return "\n".join(lines)
