"""What `flankit data ls` says of a collection (tasks, examples, held out, bad rows), cached.

Counting a file-backed collection means parsing its files (bigbench: ~1000 task JSON files), so
the counts are kept in `$FLANKIT_CACHE/ls-counts.json` (default ~/.cache/flankit), keyed by the
collection, its `path` and the data root. An entry holds the name, size and mtime of every file
in each folder the collection's tasks were read from, and of the module that loads the kind; a
file changed, added or removed there makes the entry stale, and the collection is loaded and
counted again. A collection whose tasks do not all come from files (synthetic, world) is never
cached: it is loaded each time (it is cheap). The cache is an optimisation only: when it cannot
be read or written, the counts are computed as without it. `listing_counts` counts the
collections that are not cached side by side, one worker process per CPU (forked, so nothing is
imported again), and writes the cache once, from the listing process.

Example (world is generated, so it is counted, not cached):
    >>> from flankit.data.collections import CollectionSpec
    >>> collection_counts(CollectionSpec(name="world"), None).tasks
    10
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flankit.data import collections
from flankit.data.collections import data_root, kind_module
from flankit.data.collections.spec import CollectionSpec
from flankit.data.sources import BadRows
from flankit.data.tasks import Task
from flankit.errors import FlankitError
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


def _cached(store: dict, spec: CollectionSpec, root: str | Path | None) -> Counts | None:
    """The counts kept for `spec` if none of its files changed since, else None."""
    try:
        module = kind_module(spec).__file__ or ""
    except FlankitError:
        return None  # counting it says why
    entry = store["entries"].get(_key(spec, root))
    if entry and entry["stamp"] and entry["stamp"] == _stamp(entry["folders"], module):
        return Counts(**entry["counts"])
    return None


def _key(spec: CollectionSpec, root: str | Path | None) -> str:
    return json.dumps([spec.name, spec.path, str(data_root(str(root) if root else None))])


def _counted(spec: CollectionSpec, root: str | Path | None) -> tuple[Counts, list[str] | None]:
    """The counts and the folders to stamp them by (None: not all from files)."""
    counts, tasks = count(spec, root)
    return counts, _folders(tasks)


def _remember(store: dict, spec: CollectionSpec, root, counts: Counts, folders) -> bool:
    """Put the counts in `store` if they can be cached; whether they were."""
    if folders is None:
        return False
    stamp = _stamp(folders, kind_module(spec).__file__ or "")
    entry = {"folders": folders, "stamp": stamp, "counts": asdict(counts)}
    store["entries"][_key(spec, root)] = entry
    return True


def _write_store(store: dict) -> None:
    with contextlib.suppress(OSError):
        cache_file().parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_file(), json.dumps(store))


def collection_counts(spec: CollectionSpec, root: str | Path | None) -> Counts:
    """The collection's counts: from the cache when none of its files changed, else counted
    (and cached, for a collection read from files)."""
    store = _read_store()
    cached = _cached(store, spec, root)
    if cached is not None:
        return cached
    counts, folders = _counted(spec, root)
    if _remember(store, spec, root, counts, folders):
        _write_store(store)
    return counts


def _counted_in_worker(spec: CollectionSpec, root) -> tuple[Counts, list[str] | None] | str:
    # A FlankitError comes back as its text: the listing prints it, and text always pickles.
    try:
        return _counted(spec, root)
    except FlankitError as exc:
        return str(exc)


def _pool(jobs: int) -> ProcessPoolExecutor | None:
    """Worker processes for `jobs` counts: as many as there are CPUs to run them; None for
    one, or where processes cannot be forked (spawning would import everything again)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(jobs, cpus or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def listing_counts(
    specs: list[CollectionSpec], root: str | Path | None
) -> Iterator[Counts | FlankitError]:
    """`collection_counts` of each spec, in order (a FlankitError for one that cannot be
    counted), the uncached ones counted side by side in worker processes, one per CPU.

    Example:
        >>> [c.tasks for c in listing_counts([CollectionSpec(name="world")], None)]
        [10]
    """
    store = _read_store()
    cached = [_cached(store, spec, root) for spec in specs]
    todo = [i for i, c in enumerate(cached) if c is None]
    pool = _pool(len(todo))
    futures = {i: pool.submit(_counted_in_worker, specs[i], root) for i in todo} if pool else {}
    changed = False
    try:
        for i, spec in enumerate(specs):
            if cached[i] is not None:
                yield cached[i]
                continue
            result = futures[i].result() if pool else _counted_in_worker(spec, root)
            if isinstance(result, str):
                yield FlankitError(result)
                continue
            changed |= _remember(store, spec, root, *result)
            yield result[0]
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        if changed:
            _write_store(store)
