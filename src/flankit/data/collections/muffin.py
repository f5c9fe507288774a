"""The Muffin collection (Flan 2021's 71 tasks in Flan 2022), rendered the way FLAN renders it.

Each Muffin task is one flankit task whose examples are its source rows rendered once per FLAN
template type (`formats:` picks the types, default all four: zs_opt, zs_noopt, fs_opt,
fs_noopt), at load, with FLAN's templates; the mixture samples them as they are, and each
rendered row keeps its type as its format. FLAN caps each (task, type) at 30,000; a cap here
applies to the task's rows of all its types together, so `cap: 120000` reproduces FLAN's per-type
caps with four types. A task renders at most 30,000 source rows (FLAN's cap; a seeded uniform
sample of a larger split, in source order), or with `examples_per_task` its first N rows
(streamed from the hub). `tasks:` and `exclude:` take Muffin task names or patterns (`anli_*`);
with `path:` and no `tasks:`, the tasks whose copies are in the folder are loaded and the others
named in a warning. `path:` is the folder of local copies (see
`flankit.data.flan2022.muffin`); without it, `<data root>/muffin` is used where a task's copy is
there, else the hub. Unavailable tasks are listed by `catalog()` with the reason; one whose
preprocessor is ported (bool_q, ag_news_subset: the hub copies lack `title`) loads from a local
copy, and naming one that cannot be read is an error that gives the reason.

Example:
    >>> spec = CollectionSpec(name="muffin", tasks=["rte"], formats={"zsnoopt": 1.0})
    >>> names(spec, Path("."))
    ['rte']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flankit.data.collections.spec import CollectionSpec
from flankit.data.flan2022 import flan_render, muffin_sources
from flankit.data.flan2022 import muffin as mf
from flankit.data.sources import BadRows
from flankit.data.tasks import Example, Task, prerendered
from flankit.data.templates import Template
from flankit.errors import FlankitError, warn

FORMAT_TYPES = {"zsopt": "zs_opt", "zsnoopt": "zs_noopt", "fsopt": "fs_opt", "fsnoopt": "fs_noopt"}
PASSTHROUGH = (Template("flan", "{inputs}", "{targets}"),)


def types_of(spec: CollectionSpec) -> list[str]:
    """The FLAN template types that `formats:` asks for (default all four)."""
    if not spec.formats:
        return list(FORMAT_TYPES.values())
    unknown = sorted(set(spec.formats) - set(FORMAT_TYPES))
    if unknown:
        raise FlankitError(
            f"collection {spec.name}: unknown format {unknown[0]!r}",
            hint=f"choose from {', '.join(FORMAT_TYPES)}",
        )
    return [FORMAT_TYPES[f] for f, w in spec.formats.items() if w > 0]


def _folder(spec: CollectionSpec, root: Path) -> Path:
    return Path(spec.path) if spec.path else root / "muffin"


def _loadable(task: mf.MuffinTask, folder: Path) -> bool:
    """Whether the task can be read: its hub source is usable, or (for a task the hub cannot
    serve but whose preprocessor is ported) a local copy is in the folder."""
    if task.status != "unavailable":
        return True
    return task.steps is not None and mf.local_copy(folder, task.name) is not None


def _chosen(spec: CollectionSpec, folder: Path) -> list[mf.MuffinTask]:
    """The catalog tasks the spec asks for that can be read; naming one exactly that cannot is
    an error that says why."""
    catalog = mf.load_catalog()
    for name in spec.tasks or []:
        task = catalog.get(name)
        if task is not None and not _loadable(task, folder):
            how = f"; give a local copy under {folder}" if task.steps is not None else ""
            raise FlankitError(
                f"collection {spec.name}: task {name} is unavailable: {task.reason}{how}",
                task=name,
            )
    return [t for t in mf.select(catalog, spec.tasks, spec.exclude) if _loadable(t, folder)]


def _example(prepared: mf.TaskRows, row: dict[str, Any]) -> Example:
    fields = {
        "inputs": row["inputs"],
        "targets": row["targets"],
        "format": row["template_type"].replace("_", ""),
        "template": f"{prepared.task.template_key}:{row['template']}:{row['form']}",
        "shots": len(row["exemplars"]),
    }
    return Example(fields, f"{prepared.source}:{row['row']}")


def _here(spec: CollectionSpec, folder: Path) -> list[mf.MuffinTask]:
    """The tasks to load: with `path:` and no `tasks:`, those whose local copy is in the folder
    (the others are named in a warning); else every task chosen."""
    chosen = _chosen(spec, folder)
    if not spec.path or spec.tasks:
        return chosen
    present = [t for t in chosen if mf.local_copy(folder, t.name) is not None]
    if not present:
        raise FlankitError(
            f"collection {spec.name}: no local copy of any Muffin task under {folder}",
            file=str(folder),
            hint="save copies there (flankit.data.flan2022.muffin.save_local_copy) or drop `path:`",
        )
    missing = [t.name for t in chosen if t not in present]
    if missing:
        warn(
            f"collection {spec.name}: {len(missing)} tasks have no local copy under {folder} "
            f"and are left out ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
            "list them in `tasks:` to require them"
        )
    return present


def _render(
    entry: mf.MuffinTask, prepared: mf.TaskRows, types: list[str], templates, bad: BadRows
) -> list[Example]:
    rendered = []
    for order, template_type in enumerate(types):
        rows = mf.render_task(prepared, templates, template_type, bad=bad)
        if template_type.startswith("fs"):  # FLAN drops rows left without an exemplar
            for _ in range(len(prepared.fields) - len(rows)):
                bad.skip_row(entry.name, f"{template_type}: no exemplar fits", prepared.source)
        rendered.extend((r["row"], order, r) for r in rows)
    # Row by row, so a truncated task (`examples_per_task`) keeps every template type.
    rendered.sort(key=lambda item: item[:2])
    return [_example(prepared, r) for _, _, r in rendered]


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    """One task per Muffin task, its rows rendered in each template type as FLAN renders them."""
    templates = flan_render.load_templates()
    types = types_of(spec)
    folder = _folder(spec, root)
    out = []
    for entry in _here(spec, folder):
        templates.require(entry.template_key, task=entry.name)
        prepared = mf.task_rows(
            entry,
            folder,
            templates=templates,
            bad=bad,
            limit=spec.examples_per_task,
            sample=None if spec.examples_per_task else mf.ROWS_PER_TASK,
            required=spec.path is not None,
        )
        meta = {
            "source": prepared.source,
            "task_name": entry.published_name,
            "template_types": types,
            "filtered": prepared.filtered,
        }
        examples = _render(entry, prepared, types, templates, bad)
        out.append(
            Task(entry.name, "muffin", examples, PASSTHROUGH, meta=meta, renderer=prerendered)
        )
    return out


def names(spec: CollectionSpec, root: Path) -> list[str]:
    """The available tasks the spec selects (no data is read)."""
    types_of(spec)
    return [t.name for t in _chosen(spec, _folder(spec, root))]


def catalog(spec: CollectionSpec, root: Path) -> list[dict[str, Any]]:
    """Every Muffin task (71) with its source, templates, mixing size, presence and status."""
    folder = _folder(spec, root)
    rows = []
    for task in mf.load_catalog().values():
        local = mf.local_copy(folder, task.name)
        rows.append(
            {
                "collection": "muffin",
                "task": task.name,
                "source": str(local) if local else task.hub.describe(),
                "templates": f"{task.template_key} ({task.n_templates})",
                "mixing_size": task.mixing_size(spec.cap or mf.MUFFIN_CAP),
                "present": local is not None or mf.hub_cached(task.hub.id),
                "status": task.status,
                "reason": task.reason,
                "preprocessor": task.preprocessor,
            }
        )
    return rows


def check_sources(spec: CollectionSpec, root: Path) -> list[dict[str, Any]]:
    """Each selected task's hub mapping checked against the hub's features: task, source, ok,
    problems. Needs the hub: without it, one error says so before any task is tried."""
    if not muffin_sources.hub_reachable():
        raise FlankitError(
            f"collection {spec.name}: checking the hub mappings needs the hub, which is not "
            "reachable from here (or HF_HUB_OFFLINE is set)",
            hint="run it on a machine with the hub; `flankit data ls` works offline",
        )
    catalog = mf.load_catalog()
    rows = []
    for task in mf.select(catalog, spec.tasks, spec.exclude):
        problems = mf.check_source(task)
        rows.append(
            {
                "collection": "muffin",
                "task": task.name,
                "source": task.hub.describe(),
                "ok": not problems,
                "problems": problems,
            }
        )
    return rows
