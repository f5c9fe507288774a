"""The T0-SF collection: the 193 `bigscience/P3` subsets of Flan 2022, in FLAN's T0 templates.

Each subset is one task whose rows (promptsource prompts, already rendered in P3) are wrapped in
FLAN's T0 patterns of its task type once per template type (`formats:`, default all four:
zs_opt, zs_noopt, fs_opt, fs_noopt), at load, as Muffin is; the mixture samples them as they
are. A subset renders at most 20,000 rows (FLAN's T0 cap; a seeded uniform sample of a larger
one), or with `examples_per_task` its first N rows. `path:` is a local P3 copy in the hub's
layout (`data/<subset>/train.tfrecord-*`; also `<subset>/train.tfrecord-*`); without it,
`<data root>/p3` is used where it exists, else each subset's files are fetched from the hub with
`huggingface_hub` into its cache. The TFRecords are read without TensorFlow
(`flankit.data.flan2022.tfrecord`). With `path:` and no `tasks:`, the subsets present in the
folder are loaded and the others named in a warning.

Example (a config entry):
    collections:
      - {name: t0sf, path: /data/P3, tasks: ["amazon_polarity_*"]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flankit.data.collections.muffin import PASSTHROUGH, types_of
from flankit.data.collections.spec import CollectionSpec, defaults_for
from flankit.data.flan2022 import flan_render, muffin_sources, t0sf
from flankit.data.flan2022 import muffin as mf
from flankit.data.sources import BadRows
from flankit.data.tasks import Example, Task, prerendered
from flankit.errors import FlankitError, warn

COLLECTION = "t0sf"


def _folder(spec: CollectionSpec, root: Path) -> Path | None:
    """The local P3 copy: `path:`, else `<data root>/p3` where it exists, else None (the hub)."""
    if spec.path:
        return Path(spec.path)
    default = root / "p3"
    return default if default.is_dir() else None


def _present(folder: Path | None, subset: str) -> bool:
    if folder is None:
        return False
    return any(any((d / subset).glob("train.tfrecord-*")) for d in (folder / "data", folder))


def _chosen(spec: CollectionSpec) -> list[t0sf.T0Subset]:
    return mf.select(t0sf.load_catalog(), spec.tasks, spec.exclude)


def _here(spec: CollectionSpec, root: Path) -> tuple[list[t0sf.T0Subset], Path | None]:
    """The subsets to load and the folder to read them from (None: the hub)."""
    chosen, folder = _chosen(spec), _folder(spec, root)
    if folder is None or spec.tasks:
        return chosen, folder
    present = [s for s in chosen if _present(folder, s.subset)]
    if not present:
        raise FlankitError(
            f"collection {COLLECTION}: no P3 subset under {folder}",
            file=str(folder),
            hint="a P3 copy has data/<subset>/train.tfrecord-* files; or drop `path:` for the hub",
        )
    if len(present) < len(chosen):
        missing = [s.subset for s in chosen if s not in present]
        warn(
            f"collection {COLLECTION}: {len(missing)} subsets are not under {folder} and are "
            f"left out ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); list "
            "them in `tasks:` to require them"
        )
    return present, folder


def _example(prepared: t0sf.SubsetRows, row: flan_render.FlanRow) -> Example:
    fields = {
        "inputs": row.inputs,
        "targets": row.targets,
        "format": row.template_type.replace("_", ""),
        "template": f"{prepared.subset.task_type}:{row.template}:{row.form}",
        "shots": len(row.exemplars),
    }
    return Example(fields, prepared.where[row.row])


def task_from(prepared: t0sf.SubsetRows, types: list[str], templates: Any, bad: BadRows) -> Task:
    """One mixture task of a subset's rows rendered in each template type, row by row."""
    rendered = []
    for order, template_type in enumerate(types):
        rows = t0sf.render_formats(prepared, templates, template_type, bad=bad)
        if template_type.startswith("fs"):  # FLAN drops rows left without an exemplar
            for _ in range(len(prepared.fields) - len(rows)):
                bad.skip_row(prepared.subset.subset, f"{template_type}: no exemplar fits")
        rendered.extend((r.row, order, r) for r in rows)
    rendered.sort(key=lambda item: item[:2])
    meta = {
        "source": prepared.source,
        "task_name": prepared.subset.subset,
        "task_type": prepared.subset.task_type,
        "template_types": types,
    }
    examples = [_example(prepared, r) for _, _, r in rendered]
    return Task(
        prepared.subset.subset, COLLECTION, examples, PASSTHROUGH, meta=meta, renderer=prerendered
    )


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    """One task per T0-SF subset, from the local P3 copy or the hub."""
    types = types_of(spec)
    templates = flan_render.load_templates()
    subsets, folder = _here(spec, root)
    if folder is None and subsets and not muffin_sources.hub_reachable():
        raise FlankitError(
            f"collection {COLLECTION}: no local P3 copy (`path:` or {root / 'p3'}) and the hub "
            "is not reachable (or HF_HUB_OFFLINE is set)",
            hint="give `path:` to a P3 copy with data/<subset>/train.tfrecord-* files",
        )
    out = []
    for subset in subsets:
        where = folder if folder is not None else t0sf.fetch_subset(subset.subset)
        prepared = t0sf.subset_rows(
            subset,
            t0sf.read_subset(where, subset.subset),
            source=str(where) if folder is not None else f"hub:{t0sf.HUB_REPO}/{subset.subset}",
            bad=bad,
            limit=spec.examples_per_task,
            sample=t0sf.T0_CAP,
        )
        out.append(task_from(prepared, types, templates, bad))
    return out


def names(spec: CollectionSpec, root: Path) -> list[str]:
    """The subsets the spec selects (no data is read)."""
    types_of(spec)
    return [s.subset for s in _chosen(spec)]


def catalog(spec: CollectionSpec, root: Path) -> list[dict[str, Any]]:
    """Every T0-SF subset (193) with its source, templates, mixing size and presence, offline."""
    folder = _folder(spec, root)
    cap = spec.cap or defaults_for(spec).cap
    cached = muffin_sources.hub_cached(t0sf.HUB_REPO)
    rows = []
    for subset in t0sf.load_catalog().values():
        local = _present(folder, subset.subset)
        rows.append(
            {
                "collection": COLLECTION,
                "task": subset.subset,
                "source": f"{folder}/data/{subset.subset}" if local else f"hub:{t0sf.HUB_REPO}",
                "templates": f"{subset.task_type} (10)",
                "mixing_size": subset.mixing_size(cap),
                "present": local or cached,
                "status": "ok",
            }
        )
    return rows


def check_sources(spec: CollectionSpec, root: Path) -> list[dict[str, Any]]:
    """Each selected subset checked against the hub repo's file list: its train shards exist.
    Needs the hub: without it, one error says so before any subset is tried."""
    if not muffin_sources.hub_reachable():
        raise FlankitError(
            f"collection {COLLECTION}: checking the P3 subsets needs the hub, which is not "
            "reachable from here (or HF_HUB_OFFLINE is set)",
            hint="run it on a machine with the hub; `flankit data ls` works offline",
        )
    from huggingface_hub import HfApi

    files = set(HfApi().list_repo_files(t0sf.HUB_REPO, repo_type="dataset"))
    rows = []
    for subset in _chosen(spec):
        prefix = f"data/{subset.subset}/train.tfrecord-"
        ok = any(f.startswith(prefix) for f in files)
        rows.append(
            {
                "collection": COLLECTION,
                "task": subset.subset,
                "source": f"hub:{t0sf.HUB_REPO}/data/{subset.subset}",
                "ok": ok,
                "problems": [] if ok else [f"no {prefix}* file in {t0sf.HUB_REPO}"],
            }
        )
    return rows
