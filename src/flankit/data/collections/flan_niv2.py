"""NIV2 the Flan 2022 way: FLAN's task choice, `natinst_v2` templates and few-shot prompts.

`path:` is a natural-instructions checkout or release folder (`tasks/`, `splits/`) or a folder
of task files; default `<data root>/niv2`. `selection:` is `flan` (every task but the 57
MMLU-derived ones; the default), `train` or `test` (the official split), or `all`. Rendering is
`flankit.data.flan2022.niv2`: zero-shot and few-shot from each task's positive examples; a
few-shot target is the output alone (FLAN's `x_shot` targets end with the example separator).

Example (a config entry):
    collections:
      - {name: flan_niv2, path: ../natural-instructions}
"""

from __future__ import annotations

from pathlib import Path

from flankit.data.collections.spec import CollectionSpec, folder_for
from flankit.data.flan2022 import niv2
from flankit.data.flan2022.patterns import (
    FORMAT_TO_TEMPLATE_TYPE,
    FieldsView,
    as_templates,
    zero_shot_pairs,
)
from flankit.data.sources import BadRows
from flankit.data.tasks import Example, Rendered, Task, Variant, example_rng
from flankit.data.templates import Template
from flankit.errors import FlankitError

SAME_TASKS_AS = "niv2"  # a bare task name finds the niv2 kind; `flan_niv2/<task>`, this one
COLLECTION = "flan_niv2"
FLAN_NAMES = {"Definition": "definition"}


def _folder(spec: CollectionSpec, root: Path) -> Path:
    return folder_for(spec, root, "niv2")


def _paths(spec: CollectionSpec, root: Path) -> dict[str, Path]:
    return niv2.task_paths(_folder(spec, root), spec.selection or "flan")


def _render(task: Task, index: int, variant: Variant, *, seed: int, epoch: int) -> Rendered:
    rng = example_rng(seed, task.name + "|flan", index, epoch)
    template_type = FORMAT_TO_TEMPLATE_TYPE[variant.format]
    data = niv2.NIV2Task(
        task.name,
        str(task.meta.get("source")),
        "",
        FieldsView(task.examples, FLAN_NAMES),
        FieldsView(task.exemplars),
    )
    inputs, targets, tid, shots = niv2.render(
        data, index, template_type, rng.randrange(10), rng, separator_in_target=False
    )
    return Rendered(
        task.name, task.collection, index, inputs, targets, tid, variant.format, False, False, shots
    )


def _templates() -> tuple[Template, ...]:
    return as_templates(
        niv2.KEY, zero_shot_pairs(niv2.KEY), "direct", {"{Definition}": "{definition}"}
    )


def task_from(data: niv2.NIV2Task) -> Task:
    """A mixture task that renders one NIV2 task file with FLAN's prompts."""
    # `definition` (lower case) is a task-level field: decontamination skips it.
    examples = [
        Example(
            {"definition": f["Definition"], "input": f["input"], "output": f["output"]},
            f"{data.path}:Instances #{i}",
        )
        for i, f in enumerate(data.instances)
    ]
    exemplars = [
        Example(dict(p), f"{data.path}:Positive Examples #{i}")
        for i, p in enumerate(data.positives)
    ]
    return Task(
        data.name,
        COLLECTION,
        examples,
        _templates(),
        exemplars=exemplars,
        max_exemplars=2,
        meta={
            "source": data.path,
            "bbh_source": False,
            "mmlu_source": niv2.is_mmlu_derived(data.name),
        },
        renderer=_render,
    )


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    return [task_from(niv2.read_task(path, bad=bad)) for path in _paths(spec, root).values()]


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return list(_paths(spec, root))


def get(name: str, spec: CollectionSpec, root: Path, bad: BadRows) -> Task | None:
    path = niv2.tasks_folder(_folder(spec, root)) / f"{name}.json"
    return task_from(niv2.read_task(path, bad=bad)) if path.is_file() else None


def catalog(spec: CollectionSpec, root: Path) -> list[dict]:
    """Every task of the folder, offline: kept ones and the MMLU-derived ones FLAN leaves out.
    Mixing sizes need the instances read, so they are left empty (`flankit data build` counts)."""
    try:
        folder = _folder(spec, root)
    except FlankitError as exc:  # no folder: one row says so
        return [_row("*", str(spec.path or root / "niv2"), None, False, f"missing: {exc}")]
    selection = spec.selection or "flan"
    kept = niv2.task_paths(folder, selection)
    every = niv2.task_paths(folder, "all")
    rows = []
    for name, path in every.items():
        if name in kept:
            status = "ok"
        elif niv2.is_mmlu_derived(name):
            status = "excluded: MMLU-derived (FLAN leaves it out)"
        else:
            status = f"excluded: not in the official {selection} split"
        rows.append(_row(name, str(path), None, True, status))
    return rows


def _row(task: str, source: str, size: int | None, present: bool, status: str) -> dict:
    return {
        "collection": COLLECTION,
        "task": task,
        "source": source,
        "templates": "natinst_v2: zs 10, fs inline 10 + x_shot 10",
        "mixing_size": size,
        "present": present,
        "status": status,
    }
