"""The miniature world's pretraining documents, as one task of (inputs, targets) rows."""

from __future__ import annotations

from pathlib import Path

from flankit.data import world_tasks
from flankit.data.collections.spec import CollectionSpec
from flankit.data.sources import BadRows
from flankit.data.tasks import Example, Task
from flankit.data.templates import Template


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    """The world's pretraining documents as (inputs, targets) rows of one task."""
    from flankit.data.world import build_world, pretraining_rows

    world = build_world(world_tasks.WORLD_SEED, world_tasks.WORLD_PEOPLE)
    seed = 1 if spec.split == "eval" else 0  # other documents and other noise
    rows = pretraining_rows(
        world, spec.examples_per_task or 2000, objective=spec.objective, seed=seed
    )
    examples = [Example(r, f"world_text:{spec.split}#{i}") for i, r in enumerate(rows)]
    tpl = (Template("text", "{inputs}", "{targets}"),)
    return [Task("world_text", "world_text", examples, tpl, meta={"source": "world"})]


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return ["world_text"]
