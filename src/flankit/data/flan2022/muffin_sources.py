"""Where Muffin rows come from: a local copy (save_to_disk folder, parquet, JSONL) or the hub.

A local copy of task T is the hub split FLAN trains on (`load_dataset(id, config,
split=<catalog split>)`), saved as `<folder>/T/` (`save_to_disk`, read with random access), or
as `<folder>/T.parquet`, `<folder>/T.jsonl(.gz)` or `<folder>/T/*.parquet` in the hub's columns.
The hub is read through `datasets.load_dataset`: the whole split (memory-mapped in its cache),
or streamed when only the first rows are wanted. A machine without the hub fails at once.

Example:
    >>> local_copy("no/such/folder", "rte") is None
    True
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flankit.data.sources import jsonl_rows, utf8_error
from flankit.errors import FlankitError

if TYPE_CHECKING:
    from flankit.data.flan2022.muffin import MuffinTask

COLLECTION = "muffin"


LOCAL_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json")


def local_copy(folder: str | Path | None, task: str) -> Path | None:
    """The local copy of `task` under `folder` (a save_to_disk folder or a rows file), if any."""
    if folder is None:
        return None
    root = Path(folder)
    for suffix in LOCAL_SUFFIXES:
        if (root / f"{task}{suffix}").is_file():
            return root / f"{task}{suffix}"
    directory = root / task
    saved = ("dataset_info.json", "dataset_dict.json")  # save_to_disk of a split, or of several
    if any((directory / name).is_file() for name in saved) or any(directory.glob("*.parquet")):
        return directory
    return None


def _utf8_jsonl_rows(path: Path, task: str) -> Iterator[dict[str, Any]]:
    # Muffin's rows go on to parquet and JSON unchecked, so invalid UTF-8 stops the read here.
    for where, row in jsonl_rows(str(path), task):
        error = utf8_error(row, file=where, task=task)
        if error is not None:
            raise error
        yield row


def _parquet_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()


def read_local(path: Path, task: str) -> Iterable[Mapping[str, Any]]:
    """Rows of a local copy: JSONL(.gz)/JSON lines, parquet file(s), or a save_to_disk folder."""
    if path.is_dir() and not any(path.glob("*.parquet")):
        from datasets import load_from_disk

        rows = load_from_disk(str(path))  # random access: a sample reads only its rows
        if not hasattr(rows, "select"):
            raise FlankitError(
                f"collection {COLLECTION}: the folder holds several splits ({', '.join(rows)}), "
                "not the one split the task trains on",
                file=str(path),
                task=task,
                hint="save that split alone: load_dataset(id, config, split=...).save_to_disk(...)",
            )
        return rows
    if path.is_dir():
        return _parquet_rows(sorted(path.glob("*.parquet")))
    if path.suffix == ".parquet":
        return _parquet_rows([path])
    return _utf8_jsonl_rows(path, task)


_SLICE = re.compile(r"^(\w+)\[(-?\d*):(-?\d*)\]$")


def _stream_bounds(task: MuffinTask) -> tuple[str, int | None, int | None]:
    """(split name, start, stop) of a split expression such as `train[:-200]`; negative
    bounds are resolved with the hub's split size."""
    match = _SLICE.match(task.hub.split)
    if not match:
        return task.hub.split, None, None
    name, start, stop = match.group(1), match.group(2), match.group(3)
    bounds = [int(start) if start else None, int(stop) if stop else None]
    if any(b is not None and b < 0 for b in bounds):
        from datasets import load_dataset_builder

        size = (
            load_dataset_builder(task.hub.id, task.hub.config, revision=task.hub.revision)
            .info.splits[name]
            .num_examples
        )
        bounds = [size + b if b is not None and b < 0 else b for b in bounds]
    return name, bounds[0], bounds[1]


def hub_cached(hub_id: str | None) -> bool:
    """Whether the hub dataset is in the local `datasets` or hub cache (a cheap stat)."""
    if not hub_id:
        return False
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    datasets_cache = Path(os.environ.get("HF_DATASETS_CACHE", home / "datasets"))
    hub_cache = Path(os.environ.get("HF_HUB_CACHE", home / "hub"))
    return (datasets_cache / hub_id.replace("/", "___")).is_dir() or (
        hub_cache / ("datasets--" + hub_id.replace("/", "--"))
    ).is_dir()


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """Whether the hub answers at all (offline mode off and its host accepts a connection in a
    few seconds), so that a machine without it fails at once instead of after retries."""
    if any(
        os.environ.get(v, "0") not in ("", "0") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    ):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    name, _, port = host.partition(":")
    try:
        with socket.create_connection((name, int(port or 443)), timeout=3):
            return True
    except OSError:
        return False


def read_hub(task: MuffinTask, *, limit: int | None = None) -> Iterable[Mapping[str, Any]]:
    """Rows of the task's hub split: streamed when only the first `limit` rows are wanted, else
    the whole split (memory-mapped, random access). Needs the hub (or its cache); errors say
    how to use a local copy instead."""
    if not task.hub.id:
        raise FlankitError(
            f"collection {COLLECTION}: no hub source ({task.reason})",
            task=task.name,
            hint="point the collection's `path:` at a local copy of the task's rows",
        )
    if not hub_reachable() and not hub_cached(task.hub.id):
        raise FlankitError(
            f"collection {COLLECTION}: no local copy and the hub is not reachable "
            f"(nor {task.hub.id} in its cache)",
            file=task.hub.describe(),
            task=task.name,
            hint="point the collection's `path:` at a folder of local copies "
            "(flankit.data.flan2022.muffin.save_local_copy writes one)",
        )
    try:
        from datasets import load_dataset

        if limit is None:  # the whole split, memory-mapped in the `datasets` cache
            return load_dataset(
                task.hub.id, task.hub.config, split=task.hub.split, revision=task.hub.revision
            )
        name, start, stop = _stream_bounds(task)
        rows = load_dataset(
            task.hub.id, task.hub.config, split=name, streaming=True, revision=task.hub.revision
        )
        if start:
            rows = rows.skip(start)
        if stop is not None:
            rows = rows.take(stop - (start or 0))
        return rows
    except Exception as exc:  # network, missing script, unknown config: all mean "not here"
        raise FlankitError(
            f"collection {COLLECTION}: cannot read {task.hub.describe()}: {exc}",
            file=task.hub.describe(),
            task=task.name,
            hint="on a machine with the hub run flankit.data.flan2022.muffin.save_local_copy, "
            "then point the collection's `path:` at that folder",
        ) from exc


def save_local_copy(task: MuffinTask, folder: str | Path) -> Path:
    """Save the task's hub split as `<folder>/<task>/` (save_to_disk) for offline use."""
    from datasets import load_dataset

    out = Path(folder) / task.name
    rows = load_dataset(
        task.hub.id, task.hub.config, split=task.hub.split, revision=task.hub.revision
    )
    rows.save_to_disk(str(out))
    return out


def check_source(task: MuffinTask) -> list[str]:
    """Problems with the task's hub mapping, from the hub's dataset features (empty: it fits).
    Needs the hub; offline it raises an error that says so."""
    if not task.hub.id:
        return [f"no hub source: {task.reason}"]
    if task.steps is None:
        return [f"not ported: {task.reason}"]
    try:
        from datasets import load_dataset_builder

        info = load_dataset_builder(task.hub.id, task.hub.config, revision=task.hub.revision).info
    except Exception as exc:  # offline, gated, or a script `datasets` no longer runs
        raise FlankitError(
            f"collection {COLLECTION}: cannot check {task.hub.describe()} (this needs the hub): "
            f"{exc}",
            task=task.name,
        ) from exc
    problems = []
    features = set(info.features or {})
    missing = [c for c in task.columns if c not in features]
    if missing:
        problems.append(f"columns {missing} not in the hub's features {sorted(features)}")
    split = _SLICE.sub(r"\1", task.hub.split)
    if info.splits and split not in info.splits:
        problems.append(f"split {split!r} not in {sorted(info.splits)}")
    return problems
