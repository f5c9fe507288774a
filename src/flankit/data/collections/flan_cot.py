"""The nine Flan 2022 CoT tasks with FLAN's CoT templates, few-shot prompts and input inversions.

`path:` is a folder of FLAN `<name>_train.tsv` files (default `<data root>/flan_cot`, the seven
FLAN ships); put `esnli_train.tsv` and `qed_train.tsv` there too to add those two. Each task
renders forward (`cot_gsm8k`) or input-inverted (`cot_gsm8k_ii`), the inversion with
probability `inversion` (default 0.3 / 1.3, FLAN's CoT-II rate against CoT). Every forward
rendering shows the rationale, as all of FLAN's CoT patterns do, so `cot:` does not apply.
Rendering is `flankit.data.flan2022.cot`.

Example (a config entry):
    collections:
      - {name: flan_cot, path: ../shared/data/flan_cot}
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from flankit.data.collections.spec import CollectionSpec, defaults_for, folder_for
from flankit.data.flan2022 import cot
from flankit.data.flan2022.patterns import (
    FieldsView,
    as_templates,
    render_example,
    zero_shot_pairs,
)
from flankit.data.sources import BadRows
from flankit.data.tasks import Example, Rendered, Task, Variant, example_rng
from flankit.errors import FlankitError, warn

SAME_TASKS_AS = "cot"  # `cot_gsm8k` alone finds the cot kind; `flan_cot/cot_gsm8k`, this one
COLLECTION = "flan_cot"
RENAME = {"{chain_of_thought}": "{rationale}"}
FLAN_NAMES = {"chain_of_thought": "rationale"}


def _folder(spec: CollectionSpec, root: Path) -> Path:
    return folder_for(spec, root, "flan_cot")


def _render(
    dataset: cot.CotDataset, task: Task, index: int, variant: Variant, *, seed: int, epoch: int
) -> Rendered:
    rng = example_rng(seed, task.name + "|flan", index, epoch)
    rows = FieldsView(task.examples, FLAN_NAMES)
    inverted = variant.inverted  # every forward CoT pattern shows the rationale
    return render_example(
        cot.render, dataset, task, index, variant, rows, rng, inverted=inverted, cot=not inverted
    )


def task_from(dataset: cot.CotDataset, path: Path, bad: BadRows | None = None) -> Task:
    """A mixture task rendering one CoT TSV forward and inverted with FLAN's prompts."""
    rows = cot.read_tsv(path, task=dataset.task, bad=bad)
    examples = [
        Example(
            {"question": r["question"], "answer": r["answer"], "rationale": r["chain_of_thought"]}
        )
        for r in rows
    ]
    templates = as_templates(dataset.key, zero_shot_pairs(dataset.key), "cot", RENAME)
    templates += as_templates(
        dataset.inverted_key, zero_shot_pairs(dataset.inverted_key), "inverted", RENAME
    )
    return Task(
        dataset.task,
        COLLECTION,
        examples,
        templates,
        meta={"source": str(path), "inverted_task": dataset.inverted_task},
        renderer=partial(_render, dataset),
    )


def _present(spec: CollectionSpec, root: Path) -> list[tuple[cot.CotDataset, Path]]:
    folder = _folder(spec, root)
    return [(d, folder / d.file) for d in cot.DATASETS if (folder / d.file).is_file()]


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    present = _present(spec, root)
    missing = [d.file for d in cot.DATASETS if d not in {p for p, _ in present}]
    if missing:
        warn(
            f"collection {COLLECTION}: {', '.join(missing)} not in {_folder(spec, root)}; "
            "those tasks are left out (see `flankit data ls flan_cot`)"
        )
    return [task_from(d, path, bad) for d, path in present]


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return [d.task for d, _ in _present(spec, root)]


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def catalog(spec: CollectionSpec, root: Path) -> list[dict]:
    """The nine CoT tasks and their nine inversions, present or not, offline; sizes are the
    files' rows where present, else FLAN's counts."""
    try:
        folder: Path | None = _folder(spec, root)
    except FlankitError:
        folder = None
    cap = spec.cap or defaults_for(spec).cap
    rows = []
    for d in cot.DATASETS:
        path = folder / d.file if folder else Path(spec.path or root / "flan_cot") / d.file
        present = path.is_file()
        if present:
            status = "ok"
        elif not d.shipped:
            status = f"missing: FLAN's repository names {d.file} but lacks it; give the file"
        else:
            status = f"missing: {d.file} not in the folder"
        size = min(cap, _lines(path) if present else d.rows)
        for task, key in ((d.task, d.key), (d.inverted_task, d.inverted_key)):
            rows.append(
                {
                    "collection": COLLECTION,
                    "task": task,
                    "source": str(path),
                    "templates": f"{key}: zs {len(zero_shot_pairs(key))}, fs 10",
                    "mixing_size": size,
                    "present": present,
                    "status": status,
                }
            )
    return rows
