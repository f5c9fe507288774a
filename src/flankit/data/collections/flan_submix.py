"""The published pre-rendered Flan 2022 submixes as collections: their rows, mixed as they are.

`flan_submix` reads any of them; `flan2021_submix`, `t0_submix`, `niv2_submix`, `cot_submix` and
`dialog_submix` are the same kind with the role (and so the Flan 2022 rate and per-task cap of
`mixture.preset: flan2022`) and the `task_source` filter of one submix, so that a recipe lists
the five as five collections. `path:` is a file or folder of the published files:
`DataProvenanceInitiative/<submix>_submix_original` parquet, or `SirNeural/flan_v2` JSONL(.gz)
(default: `<data root>/<submix>_submix_original`). Filters: `formats:` (the template types,
zsopt = zs_opt ...), `task_sources:` (Flan2021, P3, NIv2, CoT, Dialog), `tasks:`/`exclude:`
(published task names or patterns). Each published `task_name` is one task; its rows stay on
disk (`flankit.data.flan2022.submix`) and are decontaminated like any other task's.

Example (a config entry):
    collections:
      - {name: cot_submix, path: /data/cot_submix_original, formats: {zsopt: 1, fsopt: 1}}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flankit.data.collections.muffin import FORMAT_TYPES, PASSTHROUGH, types_of
from flankit.data.collections.spec import CollectionSpec
from flankit.data.flan2022 import muffin_sources
from flankit.data.sources import BadRows
from flankit.data.tasks import Task, prerendered
from flankit.errors import FlankitError

if TYPE_CHECKING:  # the reader (numpy, pyarrow) is imported when rows are read, not to list
    from flankit.data.flan2022 import submix

# kind -> (published folder name, task_source it holds)
SUBMIXES = {
    "flan2021_submix": ("flan2021_submix_original", "Flan2021"),
    "t0_submix": ("t0_submix_original", "P3"),
    "niv2_submix": ("niv2_submix_original", "NIv2"),
    "cot_submix": ("cot_submix_original", "CoT"),
    "dialog_submix": ("dialog_submix_original", "Dialog"),
}
HUB = "DataProvenanceInitiative/{}"


def _path(spec: CollectionSpec, root: Path) -> Path:
    if spec.path:
        return Path(spec.path)
    if spec.name in SUBMIXES:
        return root / SUBMIXES[spec.name][0]
    raise FlankitError(
        f"collection {spec.name}: give `path:` (a published submix file or folder)",
        hint="e.g. a download of DataProvenanceInitiative/cot_submix_original",
    )


def filters(spec: CollectionSpec) -> submix.Filters:
    """The rows the spec keeps: its formats, task sources (a named submix: its own) and tasks."""
    from flankit.data.flan2022 import submix

    sources = spec.task_sources
    if sources is None and spec.name in SUBMIXES:
        sources = [SUBMIXES[spec.name][1]]
    chosen = types_of(spec)
    return submix.Filters(
        template_types=None if len(chosen) == len(FORMAT_TYPES) else frozenset(chosen),
        task_sources=None if sources is None else frozenset(sources),
        tasks=tuple(spec.tasks or ()),
        exclude=tuple(spec.exclude),
    )


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    """One task per published task name, its rows as published (read back from the spill)."""
    from flankit.data.flan2022 import submix

    path = _path(spec, root)
    rows = submix.read(path, filters(spec), bad, texts=True)  # to be rendered: read the texts
    tasks = []
    for name, examples in sorted(rows.tasks().items()):
        meta = {
            "source": str(path),
            "task_name": name,
            "task_source": rows.task_source[name],
            "published": True,
        }
        tasks.append(Task(name, spec.name, examples, PASSTHROUGH, meta=meta, renderer=prerendered))
    return tasks


def names(spec: CollectionSpec, root: Path) -> list[str]:
    """The published task names the spec keeps (parquet: three columns read, not the texts)."""
    from flankit.data.flan2022 import submix

    return submix.task_names(_path(spec, root), filters(spec))


def catalog(spec: CollectionSpec, root: Path) -> list[dict[str, Any]]:
    """One row per submix: the published files, present or not (no rows are read)."""
    kinds = [spec.name] if spec.name in SUBMIXES else list(SUBMIXES)
    rows = []
    for kind in kinds:
        path = Path(spec.path) if spec.path else root / SUBMIXES[kind][0]
        hub = HUB.format(SUBMIXES[kind][0])
        rows.append(
            {
                "collection": kind,
                "task": f"(published {SUBMIXES[kind][1]} rows)",
                "source": str(path) if path.exists() else "hub:" + hub,
                "templates": "pre-rendered",
                "mixing_size": None,
                "present": path.exists() or muffin_sources.hub_cached(hub),
                "status": "ok",
            }
        )
    return rows
