"""`flankit sweep --dry-run`: what each point of a sweep would train on, without loading data.

For every run of the grid: its collections and their shares of the mixture, the number of tasks
(each collection kind's task names), the examples of one pass over the capped tasks (the sum of
`min(n, cap)`, FLAN's mixing sizes, from the kind's offline `catalog`; a catalog task whose size
is not known without reading its data counts at its cap, and the total is then an upper bound; a
kind without a catalog shows `?`), and the training budget (steps x batch size). Where the run's collections are one of the paper's Table 3
points, the paper's task count is shown beside flankit's.

Example:
    >>> from flankit.sweep import load_sweep_config
    >>> cfg = load_sweep_config("configs/sweep/flan2022_tasks.yaml", [])
    >>> [p["paper_tasks"] for p in plan(cfg)]
    [9, 89, 282, 1836]
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from flankit.data.collections import KINDS, CollectionSpec, data_root, defaults_for
from flankit.data.mixtures import PRESETS
from flankit.errors import FlankitError
from flankit.sweep import SweepConfig, grid, run_config

# The paper's task-count points (Table 3): the collections' roles -> tasks.
PAPER_TASKS = {
    frozenset({"cot"}): 9,
    frozenset({"cot", "muffin"}): 89,
    frozenset({"cot", "muffin", "t0sf"}): 282,
    frozenset({"cot", "muffin", "t0sf", "niv2"}): 1836,
}


@dataclass
class CollectionCount:
    tasks: int | None
    examples: int | None  # None: the kind has no catalog, so no sizes without reading its data
    bounded: bool  # some sizes unknown: examples is an upper bound (those tasks at their cap)
    note: str = ""


def count_collection(spec: CollectionSpec, root: Path) -> CollectionCount:
    """Tasks (the kind's task names) and capped examples (its catalog's mixing sizes), offline."""
    cap = spec.cap if spec.cap is not None else defaults_for(spec).cap
    if spec.name not in KINDS:
        return CollectionCount(None, None, True, f"kind {spec.name!r} is not installed")
    module = importlib.import_module(KINDS[spec.name])
    try:
        names = module.names(spec, root)
        listed = module.catalog(spec, root) if hasattr(module, "catalog") else []
    except FlankitError as exc:
        return CollectionCount(None, None, True, f"not readable offline: {exc.message}")
    note = "" if names else "no tasks found"
    if spec.max_tasks is not None:
        names = names[: spec.max_tasks]
    if not listed:
        return CollectionCount(len(names), None, False, note)
    sizes = {r["task"]: r.get("mixing_size") for r in listed}
    known = [sizes.get(n) for n in names]
    examples = sum(min(s, cap) if s is not None else cap for s in known)
    return CollectionCount(len(names), examples, any(s is None for s in known), note)


def _role(spec: CollectionSpec) -> str | None:
    return spec.role or defaults_for(spec).role


def _shares(specs: list[CollectionSpec], preset: str | None) -> dict[str, float]:
    rates = {}
    for spec in specs:
        rate = spec.rate
        if rate is None and preset in PRESETS and _role(spec) in PRESETS[preset]:
            rate = PRESETS[preset][_role(spec)][0]
        rates[spec.name] = rate
    if any(r is None for r in rates.values()):
        return {name: float("nan") for name in rates}
    total = sum(rates.values()) or 1.0
    return {name: r / total for name, r in rates.items()}


def plan(cfg: SweepConfig) -> list[dict]:
    """One row per run of the sweep: mixture, task count, example budget."""
    rows = []
    for run in grid(cfg):
        tcfg = run_config(cfg, Path(cfg.base), run)
        data = tcfg.data
        root = data_root(data.data_root)
        counts = {spec.name: count_collection(spec, root) for spec in data.collections}
        known = [c.tasks for c in counts.values()]
        rows.append(
            {
                "run": run.name,
                "mixture": _shares(list(data.collections), data.mixture.preset),
                "tasks": None if None in known else sum(known),
                "paper_tasks": PAPER_TASKS.get(frozenset(_role(s) for s in data.collections)),
                "examples_per_pass": None
                if any(c.examples is None for c in counts.values())
                else sum(c.examples for c in counts.values()),
                "examples_bounded": any(c.bounded for c in counts.values()),
                "train_examples": tcfg.steps * tcfg.batch_size,
                "notes": {n: c.note for n, c in counts.items() if c.note},
                "collections": {n: c.tasks for n, c in counts.items()},
            }
        )
    return rows


def format_plan(rows: list[dict]) -> str:
    """The plan as a text table, one line per run, then any notes."""
    lines = ["run | mixture | tasks (paper) | examples per pass | training examples"]
    for r in rows:
        mix = ", ".join(f"{n} {s:.2f}" for n, s in r["mixture"].items())
        tasks = "?" if r["tasks"] is None else f"{r['tasks']:,}"
        paper = f" ({r['paper_tasks']:,})" if r["paper_tasks"] else ""
        examples = r["examples_per_pass"]
        budget = (
            "?" if examples is None else ("<= " if r["examples_bounded"] else "") + f"{examples:,}"
        )
        lines.append(f"{r['run']} | {mix} | {tasks}{paper} | {budget} | {r['train_examples']:,}")
        for name, note in r["notes"].items():
            lines.append(f"  {name}: {note}")
    return "\n".join(lines)
