"""The Flan 2022 Dialog tasks (QReCC, WikiDialog): next-turn prediction and its inversion.

`path:` is a folder holding `qrecc_train.json` (QReCC) and/or `wiki_dialog/*.jsonl[.gz]`
(WikiDialog-OQ), default `<data root>/flan2022_dialog`; file formats are in
`flankit.data.flan2022.dialog`. A task whose files are absent is left out and listed by
`catalog` with where to get it. `examples_per_task` also bounds how many WikiDialog rows are
read (it has 11M). Each row renders forward (`qrecc`) or inverted (`qrecc_ii`), the inversion
with probability `inversion` (default 0.3 / 1.3, FLAN's Dialog-II rate against Dialog).

Example (a config entry):
    collections:
      - {name: flan_dialog, path: data/dialog, examples_per_task: 200000}
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from flankit.data.collections.spec import CollectionSpec, defaults_for
from flankit.data.flan2022 import dialog
from flankit.data.flan2022.patterns import (
    FieldsView,
    as_templates,
    render_example,
    zero_shot_pairs,
)
from flankit.data.sources import BadRows
from flankit.data.tasks import Example, Rendered, Task, Variant, example_rng
from flankit.errors import FlankitError, warn

COLLECTION = "flan_dialog"
RENAME = {"{dialog_}": "{dialog}"}


def _folder(spec: CollectionSpec, root: Path) -> Path:
    return Path(spec.path) if spec.path else root / "flan2022_dialog"


def _render(
    source: dialog.DialogSource,
    inversion: float,
    task: Task,
    index: int,
    variant: Variant,
    *,
    seed: int,
    epoch: int,
) -> Rendered:
    rng = example_rng(seed, task.name + "|flan", index, epoch)
    inverted = variant.inverted or rng.random() < inversion
    rows = FieldsView(task.examples)
    return render_example(
        dialog.render, source, task, index, variant, rows, rng, inverted=inverted, cot=False
    )


def task_from(source: dialog.DialogSource, spec: CollectionSpec, root: Path, bad: BadRows) -> Task:
    """A mixture task rendering one dialog source forward and inverted with FLAN's prompts."""
    folder = _folder(spec, root)
    read = dialog.read_rows(folder, source, bad=bad, limit=spec.examples_per_task)
    examples = [Example(fields, where) for where, fields in read]
    templates = as_templates(source.key, zero_shot_pairs(source.key), "direct", RENAME)
    templates += as_templates(
        source.inverted_key, zero_shot_pairs(source.inverted_key), "inverted", RENAME
    )
    inversion = defaults_for(spec).inversion if spec.inversion is None else spec.inversion
    return Task(
        source.task,
        COLLECTION,
        examples,
        templates,
        meta={"source": str(folder / source.files), "inverted_task": source.inverted_task},
        renderer=partial(_render, source, inversion),
    )


def _present(spec: CollectionSpec, root: Path) -> list[dialog.DialogSource]:
    folder = _folder(spec, root)
    return [s for s in dialog.SOURCES if dialog.source_files(folder, s)]


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    present = _present(spec, root)
    if not present:
        raise FlankitError(
            f"collection {COLLECTION}: no dialog files under {_folder(spec, root)}",
            hint="; ".join(f"{s.task}: {s.obtain}" for s in dialog.SOURCES),
        )
    for s in dialog.SOURCES:
        if s not in present:
            warn(f"collection {COLLECTION}: task {s.task} left out, no {s.files}: {s.obtain}")
    return [task_from(s, spec, root, bad) for s in present]


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return [s.task for s in _present(spec, root)]


def catalog(spec: CollectionSpec, root: Path) -> list[dict]:
    """Both dialog tasks and their inversions, present or not, offline."""
    folder = _folder(spec, root)
    cap = spec.cap or defaults_for(spec).cap
    rows = []
    for s in dialog.SOURCES:
        present = bool(dialog.source_files(folder, s))
        status = "ok" if present else f"missing: download {s.obtain}"
        for task, key in ((s.task, s.key), (s.inverted_task, s.inverted_key)):
            rows.append(
                {
                    "collection": COLLECTION,
                    "task": task,
                    "source": str(folder / s.files),
                    "templates": f"{key}: zs 10, fs 10",
                    "mixing_size": None if s.rows is None else min(cap, s.rows),
                    "present": present,
                    "status": status,
                }
            )
    return rows
