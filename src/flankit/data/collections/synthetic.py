"""The synthetic suite: generated task families, held-in for training and held-out for eval."""

from __future__ import annotations

from pathlib import Path

from flankit.data import synthetic
from flankit.data.collections.spec import CollectionSpec, named_family
from flankit.data.sources import BadRows
from flankit.data.tasks import Task
from flankit.errors import FlankitError


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    names = synthetic.HELD_OUT if spec.held_out else synthetic.HELD_IN
    n = spec.examples_per_task or 500
    if spec.split not in ("train", "eval"):
        raise FlankitError(f"collection synthetic: split {spec.split!r} is not 'train' or 'eval'")
    split = "eval" if spec.held_out else spec.split
    return [synthetic.synthetic_task(f, n, split=split) for f in names]


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return [f"syn_{family}" for family in synthetic.FAMILY_BY_NAME]


def get(name: str, spec: CollectionSpec, root: Path, bad: BadRows) -> Task | None:
    """One family by task name, held-in or held-out alike (for `flankit data show`)."""
    family = named_family(name, "syn_", synthetic.FAMILY_BY_NAME)
    return None if family is None else synthetic.synthetic_task(family)
