"""The miniature world's task families: questions about one generated world of people."""

from __future__ import annotations

from pathlib import Path

from flankit.data import world_tasks
from flankit.data.collections.spec import CollectionSpec, named_family
from flankit.data.sources import BadRows
from flankit.data.tasks import Task


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    names = world_tasks.HELD_OUT if spec.held_out else world_tasks.HELD_IN
    split = "eval" if spec.held_out else spec.split
    return [world_tasks.world_task(f, spec.examples_per_task, split=split) for f in names]


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return [f"world_{family}" for family in world_tasks.FAMILY_BY_NAME]


def get(name: str, spec: CollectionSpec, root: Path, bad: BadRows) -> Task | None:
    """One family by task name, held-in or held-out alike (for `flankit data show`)."""
    family = named_family(name, "world_", world_tasks.FAMILY_BY_NAME)
    return None if family is None else world_tasks.world_task(family)
