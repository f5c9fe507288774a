"""What `flankit data ls` says of a collection (tasks, examples, held out, bad rows), cached.

Counting a file-backed collection means parsing its files (bigbench: ~1000 task JSON files), so
the counts are kept in `$FLANKIT_CACHE/ls-counts.json` (default ~/.cache/flankit), keyed by the
collection, its `path` and the data root. An entry holds the name, size and mtime of every file
in each folder the collection's tasks were read from, and of the module that loads the kind; a
file changed, added or removed there makes the entry stale, and the collection is loaded and
counted again. A collection whose tasks do not all come from files (synthetic, world) is never
cached: it is loaded each time (it is cheap). The cache is an optimisation only: when it cannot
be read or written, the counts are computed as without it.

Example (world is generated, so it is counted, not cached):
    >>> from flankit.data.collections import CollectionSpec
    >>> collection_counts(CollectionSpec(name="world"), None).tasks
    10
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flankit.data import collections
from flankit.data.collections import data_root, kind_module
from flankit.data.collections.spec import CollectionSpec
from flankit.data.sources import BadRows
from flankit.data.tasks import Task
from flankit.outputs import write_atomic

VERSION = 1
SAMPLES = 5


@dataclass
class Counts:
    """One collection's listing: task and example counts, tasks held out, bad rows skipped."""

    tasks: int
    examples: int
    excluded: int = 0
    bad_total: int = 0
    bad_samples: list[str] = field(default_factory=list)


def cache_file() -> Path:
    root = os.environ.get("FLANKIT_CACHE") or Path.home() / ".cache" / "flankit"
    return Path(root) / "ls-counts.json"


def _stamp(folders: list[str], module: str) -> list:
    """Name, size and mtime (ns) of every file in `folders` and of `module`; None if gone."""
    out: list = []
    for folder in [*folders, module]:
        try:
            if folder == module:
                st = os.stat(module)
                out.append([module, st.st_size, st.st_mtime_ns])
                continue
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
            out.append([folder, [[e.name, *_size_mtime(e)] for e in entries]])
        except OSError:
            return []
    return out


def _size_mtime(entry: os.DirEntry) -> tuple[int, int]:
    st = entry.stat()
    return (st.st_size if entry.is_file() else -1), st.st_mtime_ns


def _folders(tasks: list[Task]) -> list[str] | None:
    """The folders the tasks were read from; None when some task has no source file."""
    sources = [t.meta.get("source") for t in tasks]
    if not tasks or not all(s and os.path.isfile(s) for s in sources):
        return None
    # Resolve each folder once, not each of ~1000 files: a file that is a link is stamped
    # through its folder's entry, whose stat follows the link.
    return sorted(
        {os.path.realpath(os.path.abspath(d)) for d in {os.path.dirname(s) for s in sources}}
    )


def _read_store() -> dict:
    with contextlib.suppress(OSError, ValueError):
        store = json.loads(cache_file().read_text(encoding="utf-8"))
        if isinstance(store, dict) and store.get("version") == VERSION:
            return store
    return {"version": VERSION, "entries": {}}


def count(spec: CollectionSpec, root: str | Path | None) -> tuple[Counts, list[Task]]:
    """The collection loaded (bad rows skipped and counted) and its counts."""
    bad, excluded = BadRows(skip=True), {}
    tasks = collections.load_collection(spec, root, bad, excluded)
    counts = Counts(
        tasks=len(tasks),
        examples=sum(len(t) for t in tasks),
        excluded=len(excluded),
        bad_total=bad.total,
        bad_samples=bad.samples[:SAMPLES],
    )
    return counts, tasks


def collection_counts(spec: CollectionSpec, root: str | Path | None) -> Counts:
    """The collection's counts: from the cache when none of its files changed, else counted
    (and cached, for a collection read from files)."""
    key = json.dumps([spec.name, spec.path, str(data_root(str(root) if root else None))])
    module = kind_module(spec).__file__ or ""
    store = _read_store()
    entry = store["entries"].get(key)
    if entry and entry["stamp"] and entry["stamp"] == _stamp(entry["folders"], module):
        return Counts(**entry["counts"])
    counts, tasks = count(spec, root)
    folders = _folders(tasks)
    if folders is not None:
        stamp = _stamp(folders, module)
        store["entries"][key] = {"folders": folders, "stamp": stamp, "counts": asdict(counts)}
        with contextlib.suppress(OSError):
            cache_file().parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cache_file(), json.dumps(store))
    return counts
