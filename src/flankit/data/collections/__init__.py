"""Named task collections, one module per kind, found through one lazy registry.

`KINDS` maps a collection name to the module that loads it, as a dotted path imported on first
use, so nothing loads on import (`flankit --help` and `flankit data ls` stay fast). Every kind's
module exposes `load(spec, root, bad) -> list[Task]` and `names(spec, root) -> list[str]` (its
task names, cheaply); it may expose `get(name, spec, root, bad)` to build one task directly. A
collection with a `path:` and a name that is no kind is a user collection (YAML). To add a kind,
write its module and add one entry to `KINDS` (or call `register`).

Example:
    >>> tasks = load_collection(CollectionSpec(name="synthetic", examples_per_task=10))
    >>> len(tasks) > 30 and all(t.collection == "synthetic" for t in tasks)
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import gc
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from flankit.data.collections.spec import (
    ALL_FORMATS,
    DEFAULTS,
    USER_DEFAULTS,
    CollectionDefaults,
    CollectionSpec,
    data_root,
    defaults_for,
)
from flankit.data.sources import BadRows
from flankit.data.tasks import Task
from flankit.errors import FlankitError, suggest

__all__ = [
    "ALL_FORMATS",
    "BUILTIN",
    "DEFAULTS",
    "KINDS",
    "USER_DEFAULTS",
    "CollectionDefaults",
    "CollectionSpec",
    "data_root",
    "defaults_for",
    "find_task",
    "is_benchmark_source",
    "kind_module",
    "load_collection",
    "load_user_collection",
    "register",
]

KINDS: dict[str, str] = {
    "cot": "flankit.data.collections.cot",
    "bigbench": "flankit.data.collections.bigbench",
    "niv2": "flankit.data.collections.niv2",
    "synthetic": "flankit.data.collections.synthetic",
    "world": "flankit.data.collections.world",
    "world_text": "flankit.data.collections.world_text",
    "muffin": "flankit.data.collections.muffin",
    "flan_niv2": "flankit.data.collections.flan_niv2",
    "flan_cot": "flankit.data.collections.flan_cot",
    "flan_dialog": "flankit.data.collections.flan_dialog",
    "t0sf": "flankit.data.collections.t0sf",
    "flan_submix": "flankit.data.collections.flan_submix",
    "flan2021_submix": "flankit.data.collections.flan_submix",
    "t0_submix": "flankit.data.collections.flan_submix",
    "niv2_submix": "flankit.data.collections.flan_submix",
    "cot_submix": "flankit.data.collections.flan_submix",
    "dialog_submix": "flankit.data.collections.flan_submix",
}
USER_KIND = "flankit.data.collections.user"
BUILTIN = tuple(KINDS)


def register(name: str, module: str) -> None:
    """Make `module` (a dotted path, imported on first use) the loader of collection `name`."""
    KINDS[name] = module


def kind_module(spec: CollectionSpec) -> ModuleType:
    """The module that loads this collection: its registered kind, else the user-YAML kind."""
    if spec.name in KINDS:
        return importlib.import_module(KINDS[spec.name])
    if spec.path:
        return importlib.import_module(USER_KIND)
    raise FlankitError(
        f"unknown collection {spec.name!r}",
        hint=f"builtins are {', '.join(KINDS)}; a user collection needs `path:` to its YAML",
    )


def __getattr__(name: str) -> Any:
    # The user-YAML loader is importable from here without loading it with the package.
    if name == "load_user_collection":
        return importlib.import_module(USER_KIND).load_user_collection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_benchmark_source(task: Task) -> bool:
    """Tasks held out because an evaluation benchmark was built from them (BBH, MMLU)."""
    return bool(task.meta.get("bbh_source") or task.meta.get("mmlu_source"))


def _with_steps(task: Task, steps: list[str], bad: BadRows) -> Task:
    from flankit.data import preprocess

    source = task.meta.get("source")
    examples = preprocess.run_steps(
        task.examples, steps, collection=task.collection, task=task.name, bad=bad, source=source
    )
    return dataclasses.replace(task, examples=examples)


def load_collection(
    spec: CollectionSpec,
    root: str | Path | None = None,
    bad: BadRows | None = None,
    excluded: dict[str, str] | None = None,
) -> list[Task]:
    """Load the tasks of one collection, filtered by the spec; excluded tasks go into `excluded`."""
    bad = bad if bad is not None else BadRows()
    excluded = excluded if excluded is not None else {}
    with _gc_paused():
        tasks = kind_module(spec).load(spec, data_root(str(root) if root else None), bad)
    kept = _select(spec, tasks, excluded)
    if spec.preprocess:
        kept = [_with_steps(task, spec.preprocess, bad) for task in kept]
    _require_examples(kept, bad)
    if spec.max_tasks is not None:
        kept = kept[: spec.max_tasks]
    if spec.examples_per_task is not None and spec.name != "synthetic":
        for task in kept:
            task.examples = task.examples[: spec.examples_per_task]
    return kept


@contextlib.contextmanager
def _gc_paused():
    """No cyclic garbage collection while a loader builds its rows: the 100k dicts of a large
    collection are all kept, yet each allocation burst sets off a full scan of every object
    alive (a third of bigbench's load time). Garbage without cycles is freed as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _require_examples(tasks: list[Task], bad: BadRows) -> None:
    """Refuse a task left with no examples, saying whether its rows were all skipped."""
    for task in tasks:
        if not task.examples:
            skipped = bad.counts.get(task.name, 0)
            raise FlankitError(
                "no examples" + (f": all {skipped} rows were bad and skipped" if skipped else ""),
                file=task.meta.get("source"),
                task=task.name,
                hint="fix or remove the file, or leave the task out (collection `exclude:`)",
            )


def _select(spec: CollectionSpec, tasks: list[Task], excluded: dict[str, str]) -> list[Task]:
    """The tasks the spec keeps: not benchmark sources (unless asked), matching `tasks:`, not
    matching `exclude:`; a `tasks:` pattern that matches nothing is an error."""
    kept = []
    for task in tasks:
        if not spec.include_benchmark_sources and is_benchmark_source(task):
            excluded[task.name] = "benchmark source (BBH/MMLU)"
        elif spec.tasks and not any(fnmatch.fnmatchcase(task.name, p) for p in spec.tasks):
            continue
        elif any(fnmatch.fnmatchcase(task.name, p) for p in spec.exclude):
            excluded[task.name] = "excluded by config"
        else:
            kept.append(task)
    if spec.tasks:
        missing = [p for p in spec.tasks if not any(fnmatch.fnmatchcase(t.name, p) for t in tasks)]
        if missing:
            raise FlankitError(
                f"collection {spec.name}: no task matches {missing[0]!r}", task=missing[0]
            )
    return kept


def find_task(
    name: str,
    root: str | Path | None = None,
    bad: BadRows | None = None,
    *,
    collection: str | None = None,
    path: str | None = None,
) -> Task:
    """One task by name, from the collection given (`collection=`, or `COLLECTION/TASK`).

    Without one, the task is looked up in every available builtin collection's task list, and
    found only when exactly one holds it; otherwise the error lists the candidates.
    """
    bad = bad if bad is not None else BadRows()
    if collection is None and "/" in name:
        collection, name = name.split("/", 1)
    base = data_root(str(root) if root else None)
    if collection is None:
        collection = _owner(name, base)
    spec = CollectionSpec(name=collection, path=path, include_benchmark_sources=True)
    module = kind_module(spec)
    getter = getattr(module, "get", None)
    task = getter(name, spec, base, bad) if getter else None
    if task is None and name in module.names(spec, base):
        spec = dataclasses.replace(spec, tasks=[name])
        task = next(iter(load_collection(spec, root, bad)), None)
    if task is None:
        raise FlankitError(
            f"unknown task {name!r} in collection {collection}",
            task=name,
            hint=_task_hint(name, module.names(spec, base)),
        )
    return task


def _owner(name: str, root: Path) -> str:
    """The one builtin collection whose task list holds `name`, or an error naming the choices."""
    owners, every, modules = [], [], {}
    for kind in KINDS:
        modules[kind] = importlib.import_module(KINDS[kind])
        try:
            names = modules[kind].names(CollectionSpec(name=kind), root)
        except FlankitError:  # its data is not here: it cannot hold the task
            continue
        every.extend(names)
        if name in names:
            owners.append(kind)
    # A kind that renders another kind's tasks its own way (`SAME_TASKS_AS`) yields to it.
    owners = [k for k in owners if getattr(modules[k], "SAME_TASKS_AS", None) not in owners]
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise FlankitError(
            f"task {name!r} is in several collections",
            task=name,
            hint="name one: " + ", ".join(f"{o}/{name}" for o in owners),
        )
    raise FlankitError(f"unknown task {name!r}", task=name, hint=_task_hint(name, every))


def _task_hint(name: str, names: list[str]) -> str:
    return suggest(name, names, n=3, otherwise="see `flankit data ls`")
