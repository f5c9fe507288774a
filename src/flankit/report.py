"""Tables and plots from result files: evaluation reports and study summaries."""

from __future__ import annotations

from pathlib import Path

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


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def eval_report(results: dict) -> str:
    """Markdown: the six paper columns beside Table 5, then every benchmark's details."""
    from flankit.evals.metrics import paper_parts

    scores = results["scores"]
    norm = results["normalized"]
    parts = paper_parts()  # the columns of Table 5, in its order
    columns = [f"{bench}/{mode}" for bench, mode, _ in parts]
    lines = [f"# Evaluation of `{results['model']}`", ""]
    lines.append("| model | norm. avg. | " + " | ".join(label for *_, label in parts) + " |")
    lines.append("|---|---:|" + "---:|" * len(parts))
    row = [_fmt(scores[c]["macro"]) if c in scores else "–" for c in columns]
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
        f"{results['truncated_prompts']}; compute time: {results['seconds']} s "
        f"(this run: {results.get('run_seconds', results['seconds'])} s).",
        "",
    ]
    return "\n".join(lines)


def quickstart_report(summary: dict, plots: list[str]) -> str:
    """Markdown for `flankit quickstart`."""
    before, after = summary["untrained"], summary["trained"]
    lines = [
        "# flankit quickstart",
        "",
        f"A model finetuned for {summary['steps']} steps on the synthetic suite's held-in families "
        f"(final training loss {summary['final_loss']:.3f}, loss on unseen examples "
        f"{_fmt(summary['heldout_loss']) if summary['heldout_loss'] is None else format(summary['heldout_loss'], '.3f')}), "
        f"evaluated before and after training. Exact-match accuracy (%):",
        "",
        "| tasks | shots | prompting | untrained | trained | change |",
        "|---|---|---|---:|---:|---:|",
    ]
    for key in after:
        parts = key.split()
        if len(parts) == 3:
            split, shot, mode = parts
            b, a = before.get(key, 0.0), after[key]
            lines.append(
                f"| {split.replace('_', '-')} | {'few-shot' if shot == 'fs' else 'zero-shot'} | {mode} | {b:.1f} | {a:.1f} | {a - b:+.1f} |"
            )
    for split in ("held_in", "held_out"):
        b, a = before.get(f"{split} all", 0.0), after.get(f"{split} all", 0.0)
        lines.append(
            f"| **{split.replace('_', '-')}, all** | | | **{b:.1f}** | **{a:.1f}** | **{a - b:+.1f}** |"
        )
    lines += [
        "",
        f"Held-out families never appear in training: the change on them ({summary['held_out_margin']:+.1f} points) "
        "is what instruction finetuning transfers to unseen tasks.",
        "",
    ]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    lines += ["", f"Model: `{summary['model']}`. Time: {summary['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def quickstart_plots(summary: dict, metrics_path, out) -> list[str]:
    """PNG plots: accuracy before/after by group, and the training curves."""
    import json

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = Path(out)
    keys = [k for k in summary["trained"] if len(k.split()) == 3]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    xs = range(len(keys))
    for shift, which, label in ((-0.2, "untrained", "untrained"), (0.2, "trained", "trained")):
        bars = ax.bar(
            [x + shift for x in xs], [summary[which].get(k, 0) for k in keys], 0.4, label=label
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)  # zero bars are labelled too
    ax.set_ylim(
        0, max([1.0] + [summary[w].get(k, 0) for w in ("untrained", "trained") for k in keys]) * 1.2
    )
    ax.set_xticks(
        list(xs), [k.replace("held_", "held-") for k in keys], rotation=30, ha="right", fontsize=8
    )
    ax.set_ylabel("exact match (%)")
    ax.set_title("Synthetic tasks before and after instruction finetuning")
    paths: list[str] = []
    _save(fig, ax, out / "accuracy.png", paths)
    rows = [json.loads(line) for line in open(metrics_path)] if Path(metrics_path).exists() else []
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4))
        train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        held = [(r["step"], r["heldout_loss"]) for r in rows if "heldout_loss" in r]
        ax.plot(*zip(*train), label="training loss", alpha=0.7)
        if held:
            ax.plot(*zip(*held), "o-", label="loss on unseen examples")
        ax.set_xlabel("step")
        ax.set_ylabel("token loss")
        _save(fig, ax, out / "training.png", paths)
    return paths


def sweep_markdown(rows: list[dict], plots: list[str]) -> str:
    """The sweep's results table."""
    lines = [
        "# Sweep results",
        "",
        "Exact-match accuracy (%) on the synthetic families; held-out families never appear in training.",
        "",
        "| run | tasks | shape | params | CoT data | held-in direct | held-in CoT | held-out direct | held-out CoT | held-out all | train loss |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(
        rows, key=lambda r: (str(r.get("shape")), r.get("num_tasks") or 0, str(r.get("cot")))
    ):
        cot = "–" if r.get("cot") is None else ("yes" if r["cot"] else "no")
        lines.append(
            f"| {r['name']} | {r.get('num_tasks') or '–'} | {r.get('shape') or '–'} | {r['params'] / 1e6:.2f}M | {cot} | "
            f"{_fmt(r.get('held_in/direct'))} | {_fmt(r.get('held_in/cot'))} | {_fmt(r.get('held_out/direct'))} | "
            f"{_fmt(r.get('held_out/cot'))} | {_fmt(r.get('held_out/all'))} | {_fmt(r.get('train_loss'))} |"
        )
    lines.append("")
    if plots:
        counted = all(r.get("n/held_out/all") for r in rows)
        lines += [
            "In the plots, error bars are ±1 binomial standard error over the items scored"
            + ("" if counted else " (shown only where the results give item counts)")
            + "; dashed lines mark random guessing among the shown options.",
            "",
        ]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(lines) + "\n"


SPLITS = (("held_in", "held-in families"), ("held_out", "held-out families"))


def read_sweep_json(path: Path) -> list[dict]:
    """The rows of a sweep.json (one per run), checked enough to plot them."""
    import json

    from flankit.errors import FlankitError

    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FlankitError(f"cannot read sweep results: {exc}", file=str(path)) from exc
    if not isinstance(rows, list):
        raise FlankitError("sweep.json must hold a list of runs", file=str(path))
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise FlankitError("a run must be a JSON object", file=str(path), line=i)
        for key, kind in (("name", str), ("params", (int, float))):
            if not isinstance(row.get(key), kind):
                raise FlankitError("missing or malformed", file=str(path), line=i, field=key)
    return rows


def binomial_se(row: dict, key: str) -> float | None:
    """One standard error (percentage points) of the accuracy `row[key]` over `row['n/'+key]`
    items; None when the row does not say how many items there were."""
    n, acc = row.get(f"n/{key}"), row.get(key)
    if not n or acc is None:
        return None
    p = acc / 100.0
    return 100.0 * (p * (1.0 - p) / n) ** 0.5


def _pooled(rows: list[dict], key: str) -> tuple[float, float | None]:
    """Accuracy over several runs' items together, and its standard error."""
    if rows and all(r.get(f"n/{key}") for r in rows):
        n = sum(r[f"n/{key}"] for r in rows)
        acc = sum(r.get(key, 0.0) * r[f"n/{key}"] for r in rows) / n
        return acc, binomial_se({key: acc, f"n/{key}": n}, key)
    return sum(r.get(key, 0.0) for r in rows) / max(len(rows), 1), None


def _chance(rows: list[dict], key: str) -> float | None:
    vals = [r[f"chance/{key}"] for r in rows if r.get(f"chance/{key}") is not None]
    return sum(vals) / len(vals) if vals else None


def _points(ax, xs, ys, ses, label: str, series: int = 0, offset: float = 1.0) -> list[float]:
    """A line with ±1 SE error bars and each point's value written beside it (left of the
    point for even series, right for odd ones, so two series at one x stay readable)."""
    xs = [x * offset for x in xs]
    have = any(e is not None for e in ses)
    errs = [e or 0.0 for e in ses] if have else None
    line = ax.errorbar(xs, ys, yerr=errs, fmt="o-", capsize=3, label=label)
    side = -1 if series % 2 == 0 else 1
    for x, y in zip(xs, ys):
        ax.annotate(
            f"{y:.1f}", (x, y), textcoords="offset points", xytext=(side * 6, 0),
            ha="right" if side < 0 else "left", va="center", fontsize=7,
            color=line[0].get_color(),
        )  # fmt: skip
    return [y + (e or 0.0) for y, e in zip(ys, ses)]


def _y_axis(ax, tops: list[float], chance: float | None) -> None:
    """y from 0, with room for the labels; the random baseline as a marked dashed line."""
    top = max(tops + [chance or 0.0, 1.0])
    if chance:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            f"random guessing {chance:.1f}", (0.01, chance), xycoords=("axes fraction", "data"),
            textcoords="offset points", xytext=(0, 2), fontsize=7, color="grey",
        )  # fmt: skip
    ax.set_ylim(0, top * 1.2)


def _plain_log_x(ax, ticks: list[float], labels: list[str]) -> None:
    """A log x axis whose only ticks are the values run, written plainly (4, 8, 16, 31)."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ax.set_xticks(ticks, labels)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(min(ticks) / 1.3, max(ticks) * 1.3)


def _note(fig, rows: list[dict], key: str) -> None:
    have = all(r.get(f"n/{key}") for r in rows)
    fig.text(
        0.5,
        0.005,
        "error bars: ±1 binomial standard error"
        if have
        else "no item counts in the results, so no error bars",
        ha="center",
        va="bottom",
        fontsize=7,
        color="dimgrey",
    )


def _scaling_plot(
    plt, rows, x, group, label, spread, ticks, tick_labels, xlabel, title, path, paths
):
    """Held-in and held-out accuracy against `x` (a log axis), one line per `group` of runs."""
    groups = sorted({group(r) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (split, panel) in zip(axes, SPLITS):
        key, tops = f"{split}/all", []
        for j, g in enumerate(groups):
            sel = sorted((r for r in rows if group(r) == g), key=lambda r: r[x])
            offset = 1.0 + spread * (j - (len(groups) - 1) / 2)  # error bars side by side
            tops += _points(
                ax,
                [r[x] for r in sel],
                [r.get(key, 0.0) for r in sel],
                [binomial_se(r, key) for r in sel],
                label(g),
                j,
                offset,
            )
        _plain_log_x(ax, ticks, tick_labels)
        _y_axis(ax, tops, _chance(rows, key))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(panel)
    fig.suptitle(title)
    _note(fig, rows, "held_out/all")
    _save(fig, axes, path, paths)


def _params_label(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


def sweep_plots(rows: list[dict], out) -> list[str]:
    """Held-in and held-out accuracy vs number of tasks (per shape), vs parameters (per task
    count), and the CoT ablation; error bars, value labels, y from 0, random baseline marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = Path(out)
    paths: list[str] = []
    with_tasks = [r for r in rows if r.get("num_tasks") and r.get("cot") is not False]
    if with_tasks:
        counts = sorted({r["num_tasks"] for r in with_tasks})
        params = sorted({r["params"] for r in with_tasks})
        _scaling_plot(
            plt,
            with_tasks,
            "num_tasks",
            lambda r: str(r.get("shape")),
            str,
            0.04,
            counts,
            [str(c) for c in counts],
            "number of finetuning tasks",
            "Scaling the number of tasks (cf. the paper's Figure 4)",
            out / "tasks.png",
            paths,
        )
        _scaling_plot(
            plt,
            with_tasks,
            "params",
            lambda r: r["num_tasks"],
            lambda n: f"{n} tasks",
            0.03,
            params,
            [_params_label(p) for p in params],
            "parameters",
            "Scaling model size (cf. the paper's Figure 4)",
            out / "params.png",
            paths,
        )
    ablation = [r for r in rows if r.get("cot") is not None]
    if {True, False} <= {r["cot"] for r in ablation}:
        _cot_ablation_plot(plt, ablation, out, paths)
    return paths


def _cot_ablation_plot(plt, ablation: list[dict], out: Path, paths: list[str]) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (split, title) in zip(axes, SPLITS):
        tops = []
        modes = ("direct", "cot")
        for j, flag in enumerate((False, True)):
            sel = [r for r in ablation if r["cot"] is flag]
            stats = [_pooled(sel, f"{split}/{m}") for m in modes]
            xs = [i + (j - 0.5) * 0.38 for i in range(len(modes))]
            ys = [a for a, _ in stats]
            ses = [e for _, e in stats]
            have = any(e is not None for e in ses)
            ax.bar(
                xs,
                ys,
                0.38,
                yerr=[e or 0.0 for e in ses] if have else None,
                capsize=3,
                label="with CoT data" if flag else "without CoT data",
            )
            for x, y, e in zip(xs, ys, ses):
                ax.annotate(
                    f"{y:.1f}", (x, y + (e or 0.0)), textcoords="offset points", xytext=(0, 3),
                    ha="center", fontsize=8,
                )  # fmt: skip
                tops.append(y + (e or 0.0))
        for i, m in enumerate(modes):  # each prompting mode has its own random baseline
            chance = _chance(ablation, f"{split}/{m}")
            if chance:
                ax.hlines(
                    chance, i - 0.45, i + 0.45, colors="grey", linestyles="--", linewidth=1,
                    label="random guessing" if i == 0 else None,
                )  # fmt: skip
                ax.annotate(
                    f"{chance:.1f}", (i - 0.45, chance), textcoords="offset points",
                    xytext=(1, -3), ha="left", va="top", fontsize=7, color="dimgrey",
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
                )  # fmt: skip
                tops.append(chance)
        ax.set_xticks(range(len(modes)), ["direct prompting", "CoT prompting"])
        _y_axis(ax, tops, None)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(title)
    fig.suptitle("CoT ablation (cf. the paper's Figure 5)")
    _note(fig, ablation, "held_out/all")
    _save(fig, axes, out / "cot_ablation.png", paths)


def _save(fig, ax, path: Path, paths: list[str]) -> None:
    """Finish a figure: legend(s), layout, PNG file, and remember its path."""
    import matplotlib.pyplot as plt

    for a in ax if isinstance(ax, (list, tuple)) or hasattr(ax, "flat") else [ax]:
        a.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(str(path))


CELL_LABELS = {"zs": "zero-shot", "fs": "few-shot", "zsnoopt": "zero-shot, no options"}
SHOT_ORDER = {"zs": 0, "zsnoopt": 1, "fs": 2}


def _pm(cell: dict | None) -> str:
    return "–" if cell is None else f"{cell['acc']:.1f} ± {cell['se']:.1f}"


def quickstart_comparison_table(summary: dict) -> list[str]:
    """The paper's comparison in miniature: pretrained vs instruction-finetuned, per cell."""
    pre, fin, gain = summary["pretrained"], summary["finetuned"], summary["gain"]
    lines = [
        "| families | prompt | prompting | n | pretrained | finetuned | gain (95% CI) | chance |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    order = {"held_out": 0, "held_in": 1, "cloze_held_out": 2, "cloze_held_in": 3}
    keys = sorted(
        (k for k in fin if len(k.split()) == 3),
        key=lambda k: (order.get(k.split()[0], 9), SHOT_ORDER.get(k.split()[1], 9), k.split()[2]),
    )
    for key in keys:
        split, shot, mode = key.split()
        g = gain.get(key)
        ci = "–" if g is None else f"{g['gain']:+.1f} ({g['low']:+.1f} to {g['high']:+.1f})"
        bold = "**" if key == summary.get("headline") else ""
        lines.append(
            f"| {bold}{split.replace('_', '-')}{bold} | {CELL_LABELS.get(shot, shot)} | {mode} "
            f"| {fin[key]['n']} | {_pm(pre.get(key))} | {_pm(fin[key])} | {bold}{ci}{bold} "
            f"| {fin[key]['chance']:.1f} |"
        )
    return lines


def transfer_sentences(summary: dict) -> list[str]:
    """Plain statements of what did and did not transfer (95% intervals on the gains)."""
    out = []
    for key, g in summary["gain"].items():
        parts = key.split()
        if len(parts) != 3 or not key.startswith("held_out"):
            continue
        _, shot, mode = parts
        chance = summary["finetuned"][key]["chance"]
        acc = summary["finetuned"][key]["acc"]
        where = f"held-out {CELL_LABELS.get(shot, shot)} {mode}"
        if g["low"] > 0:
            beyond = (
                "above" if acc - 1.96 * summary["finetuned"][key]["se"] > chance else "not above"
            )
            out.append(
                f"- **Transferred**: {where}, {g['gain']:+.1f} points (95% CI {g['low']:+.1f} to "
                f"{g['high']:+.1f}); the finetuned model is {beyond} chance ({chance:.1f})."
            )
        else:
            out.append(
                f"- **Did not transfer**: {where}, {g['gain']:+.1f} points (95% CI "
                f"{g['low']:+.1f} to {g['high']:+.1f})."
            )
    return out


def quickstart_comparison_report(summary: dict, plots: list[str]) -> str:
    """Markdown for `flankit quickstart`: the comparison table and plot first, then details."""
    pre = (
        f"pretrained for {summary['pretrain_steps']} steps on the world's text"
        + (" (reused from the cache)" if summary.get("pretrain_cached") else "")
        if summary.get("pretrain_steps")
        else "given as --model"
    )
    lines = [
        "# flankit quickstart: instruction finetuning on a miniature world",
        "",
        f"The pretrained model ({summary.get('shape') or 'given'}, {pre}) prompted as it is, "
        f"against the same model instruction-finetuned for {summary['steps']} steps on the "
        "held-in families. Held-out families never appear in finetuning; their facts are only in "
        "the pretraining text. Every question is asked with its answer options listed (four "
        "values of the attribute, or the two names), as the paper's held-out benchmarks are, and "
        "zero-shot also without them. Exact-match accuracy (%) ± one binomial standard error:",
        "",
        *quickstart_comparison_table(summary),
        "",
        *[f"![{Path(p).stem}]({Path(p).name})" for p in plots],
        "",
        "What transferred to the held-out families:",
        "",
        *transfer_sentences(summary),
        "",
        "Chance is the accuracy of a random well-formed answer (one of the listed options; "
        "without options, one of the attribute's values, or one of the two names); a model "
        "that only learned the answer format scores about that, so a gain up to chance is "
        "format and a score above it is knowledge reached through an untrained instruction. "
        "The gain's 95% interval is paired: both models answer the same items, and it "
        "comes from the per-item differences (finetuned right and pretrained wrong, or the "
        "reverse; McNemar's comparison in its normal form). "
        "Held-in rows use people whose facts finetuning never asked about. Cloze rows probe "
        "knowledge in the pretraining format (`Ada lives in <extra_id_0>.`), whatever the "
        "instructions: what the model knows, held-in and held-out attributes.",
        "",
        f"Finetuning loss {summary['final_loss']:.3f}. Model: `{summary['model']}`. "
        f"Time: {summary['seconds']:.0f} s (pretraining {summary['pretrain_seconds']:.0f} s"
        + (
            f"; the cached pretraining run took {summary['pretrain_seconds_cold']:.0f} s"
            if summary.get("pretrain_cached") and summary.get("pretrain_seconds_cold")
            else ""
        )
        + _stage_times(summary)
        + ").",
        "",
    ]
    return "\n".join(lines)


def _stage_times(summary: dict) -> str:
    """Finetuning and evaluation seconds and the machine's load average, where recorded."""
    parts = [
        f"{label} {summary[key]:.0f} s"
        for key, label in (("finetune_seconds", "finetuning"), ("eval_seconds", "evaluation"))
        if summary.get(key) is not None
    ]
    if summary.get("load_average"):
        parts.append("load average " + " / ".join(f"{x:.1f}" for x in summary["load_average"]))
    return "".join(f"; {p}" for p in parts)


def quickstart_comparison_plot(summary: dict, out) -> list[str]:
    """One PNG: pretrained vs finetuned per cell, with 95% error bars and chance marks."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    keys = [k for k in summary["finetuned"] if len(k.split()) == 3]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = list(range(len(keys)))
    for dx, who, label in ((-0.2, "pretrained", "pretrained (prompted)"), (0.2, "finetuned", "instruction-finetuned")):  # fmt: skip
        cells = [summary[who].get(k, {"acc": 0.0, "se": 0.0}) for k in keys]
        ax.bar(
            [x + dx for x in xs],
            [c["acc"] for c in cells],
            0.4,
            yerr=[1.96 * c["se"] for c in cells],
            capsize=3,
            label=label,
        )
    ax.scatter(xs, [summary["finetuned"][k]["chance"] for k in keys], marker="_", s=400, c="k", label="chance", zorder=3)  # fmt: skip
    ax.set_xticks(xs, [k.replace("held_", "held-") for k in keys], rotation=30, ha="right", fontsize=8)  # fmt: skip
    ax.set_ylabel("exact match (%), 95% CI")
    ax.set_title("Miniature world: pretrained vs instruction-finetuned")
    paths: list[str] = []
    _save(fig, ax, Path(out) / "comparison.png", paths)
    return paths


STUDY_METRICS = (
    ("held_out/zs_direct", "held-out zero-shot direct"),
    ("held_out/zsnoopt_direct", "held-out zero-shot direct, no options"),
    ("held_out/direct", "held-out direct"),
    ("held_out/cot", "held-out CoT"),
    ("held_in/direct", "held-in direct"),
    ("held_in/cot", "held-in CoT"),
)


def seed_stats(rows: list[dict], key: str) -> tuple[float, float, int] | None:
    """Mean over seeds and its standard error: across seeds when there are several, else the
    binomial SE of the one run (from its item count)."""
    import math

    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    if len(vals) > 1:
        var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
        return mean, math.sqrt(var / len(vals)), len(vals)
    n = rows[0].get(f"n/{key}") or 0
    p = mean / 100.0
    return mean, (100.0 * math.sqrt(p * (1 - p) / n) if n else 0.0), 1


def study_groups(rows: list[dict]) -> list[tuple[tuple, list[dict]]]:
    """Runs grouped by every axis but the seed, in a stable order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (str(r.get("shape")), r.get("num_tasks") if r.get("num_tasks") is not None else -1, str(r.get("cot")))  # fmt: skip
        groups.setdefault(key, []).append(r)
    return sorted(groups.items())


def study_table(rows: list[dict], axis: str = "all") -> list[str]:
    """Mean ± SE over seeds per grid point; `axis` (tasks, shape, cot) picks the rows a finding
    needs: tasks = runs without a CoT ablation; cot = runs with one; shape = all shapes."""
    head = "| tasks | shape | params | CoT data | seeds | " + " | ".join(t for _, t in STUDY_METRICS) + " |"  # fmt: skip
    lines = [head, "|---:|---|---:|---|---:|" + "---:|" * len(STUDY_METRICS)]
    for (_, _, _), runs in study_groups(rows):
        r0 = runs[0]
        if axis == "tasks" and r0.get("cot") is False:
            continue
        if axis == "cot" and r0.get("cot") is None and r0.get("num_tasks") != 0:
            continue
        cells = []
        for key, _ in STUDY_METRICS:
            st = seed_stats(runs, key)
            cells.append("–" if st is None else f"{st[0]:.1f} ± {st[1]:.1f}")
        cot = "–" if r0.get("cot") is None else ("yes" if r0["cot"] else "no")
        tasks = (
            "0 (pretrained only)" if r0.get("num_tasks") == 0 else (r0.get("num_tasks") or "all")
        )
        lines.append(
            f"| {tasks} | {r0.get('shape') or '–'} | {r0['params'] / 1e6:.2f}M | {cot} "
            f"| {len(runs)} | " + " | ".join(cells) + " |"
        )
    return lines


def study_plots(rows: list[dict], out, key: str = "held_out/zs_direct") -> list[str]:
    """Mean ± 95% interval over seeds: `key` against the number of finetuning tasks (0 = the
    pretrained model alone), against parameters, and with vs without CoT data."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = Path(out)
    paths: list[str] = []
    groups = study_groups(rows)
    tasks = [(rs[0], seed_stats(rs, key)) for _, rs in groups if rs[0].get("num_tasks") is not None and rs[0].get("cot") is not False]  # fmt: skip
    by_shape: dict[str, list] = {}
    for r0, st in tasks:
        if st:
            by_shape.setdefault(str(r0.get("shape")), []).append(
                (r0["num_tasks"], r0["params"], st)
            )
    if by_shape:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for shape, pts in sorted(by_shape.items()):
            pts.sort()
            ax.errorbar([p[0] for p in pts], [p[2][0] for p in pts], yerr=[1.96 * p[2][1] for p in pts], fmt="o-", capsize=3, label=shape)  # fmt: skip
        ax.set_xlabel("held-in task families finetuned on (0 = pretrained only)")
        ax.set_ylabel(f"{key.replace('_', ' ')} (%)")
        ax.set_title("Number of finetuning tasks (cf. the paper's Figure 4)")
        _save(fig, ax, out / "study_tasks.png", paths)
        if len(by_shape) > 1:
            fig, ax = plt.subplots(figsize=(6.5, 4))
            for n in sorted({p[0] for pts in by_shape.values() for p in pts}):
                pts = sorted((p[1], p[2]) for v in by_shape.values() for p in v if p[0] == n)
                ax.errorbar([p[0] for p in pts], [p[1][0] for p in pts], yerr=[1.96 * p[1][1] for p in pts], fmt="o-", capsize=3, label=f"{n} tasks")  # fmt: skip
            ax.set_xscale("log")
            ax.set_xlabel("parameters")
            ax.set_ylabel(f"{key.replace('_', ' ')} (%)")
            ax.set_title("Model size (cf. the paper's Figure 4)")
            _save(fig, ax, out / "study_size.png", paths)
    ablation = [rs for _, rs in groups if rs[0].get("cot") is not None]
    if {True, False} <= {rs[0]["cot"] for rs in ablation}:
        cols = ["held_in/direct", "held_in/cot", "held_out/direct", "held_out/cot"]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for j, flag in enumerate((False, True)):
            rs = [r for g in ablation if g[0]["cot"] is flag for r in g]
            sts = [seed_stats(rs, c) or (0.0, 0.0, 0) for c in cols]
            ax.bar([i + (j - 0.5) * 0.4 for i in range(len(cols))], [s[0] for s in sts], 0.4, yerr=[1.96 * s[1] for s in sts], capsize=3, label="with CoT data" if flag else "without CoT data")  # fmt: skip
        ax.set_xticks(range(len(cols)), [c.replace("_", "-").replace("/", "\n") for c in cols])
        ax.set_ylabel("exact match (%)")
        ax.set_title("CoT data (cf. the paper's Figure 5)")
        _save(fig, ax, out / "study_cot.png", paths)
    return paths
