"""The published pre-rendered Flan 2022 submixes, read in streaming batches, texts in a disk spill.

Two layouts are read: the `DataProvenanceInitiative/*_submix_original` parquet files (columns
`inputs, targets, task_source, task_name, template_type`) and `SirNeural/flan_v2`'s
`<submix>_<zs|fs>_<opt|noopt>_train.jsonl.gz` (fields `input, target, task`; the template type
and task source come from the file name). Files are read batch by batch with pyarrow (parquet) or
line by line (JSONL, plain or gzip), filtered by template type, task source and task name. The
label columns are handled as dictionary codes (parquet: read so), so each distinct value is
checked and filtered once per batch, never a Python object per row. A parquet-only read decodes
just the three label columns and keeps row references; the text columns are checked by each row
group's statistics (no null, no empty input), decoded only where those cannot tell, and the kept
rows' texts are read in file order, straight from the Arrow buffers into the spill: by a
collection's load (`read(..., texts=True)`) on a background thread that follows the label pass
row group by row group, else once on first use (`SubmixRows.prepare`). (Decoding texts and labels
in one pass instead was no faster when measured.) Either way the kept texts
end up in a spill file on local disk; only their offsets (a few bytes per row) stay in memory,
and each row is read back on demand. Memory is therefore bounded by the batch size,
not by the submix (these are 0.1-13 GB each).

A row with an unknown `template_type` or `task_source`, or a missing or empty field, is an error
naming the file, row and field; with a skipping `BadRows` it is counted per task instead.

Example:
    >>> import tempfile, json, os
    >>> path = os.path.join(tempfile.mkdtemp(), "cot_submix.jsonl")
    >>> _ = open(path, "w").write(json.dumps({"inputs": "Q?", "targets": "A", "task_source":
    ...     "CoT", "task_name": "cot_x", "template_type": "zs_opt"}) + "\\n")
    >>> rows = read(path, Filters())
    >>> [(t, [e.fields["inputs"] for e in ex]) for t, ex in rows.tasks().items()]
    [('cot_x', ['Q?'])]
"""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import gzip
import json
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flankit.data.flan2022.flan_render import TEMPLATE_TYPES
from flankit.data.sources import BadRows
from flankit.data.tasks import Example
from flankit.errors import FlankitError

COLUMNS = ("inputs", "targets", "task_source", "task_name", "template_type")
SIRNEURAL_FIELDS = ("input", "target", "task")
TASK_SOURCES = ("Flan2021", "P3", "NIv2", "CoT", "Dialog")
SIRNEURAL_SOURCES = {
    "flan": "Flan2021",
    "t0": "P3",
    "niv2": "NIv2",
    "cot": "CoT",
    "dialog": "Dialog",
}
SIRNEURAL_NAME = re.compile(r"(?P<submix>[a-z0-9]+)_(?P<shot>zs|fs)_(?P<opt>opt|noopt)_\w+\.jsonl")
BATCH_ROWS = 8192
LABEL_BATCH_ROWS = 65536  # batches of the label columns alone (dictionary codes)
SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class Filters:
    """Which rows to keep: template types, task sources, task-name patterns (None: all)."""

    template_types: frozenset[str] | None = None
    task_sources: frozenset[str] | None = None
    tasks: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, values, allowed in (
            ("template_type", self.template_types, TEMPLATE_TYPES),
            ("task_source", self.task_sources, TASK_SOURCES),
        ):
            unknown = sorted(set(values or ()) - set(allowed))
            if unknown:
                raise FlankitError(
                    f"unknown {name} {unknown[0]!r} in the submix filter",
                    field=name,
                    hint=f"one of {', '.join(allowed)}",
                )

    def task_kept(self, name: str) -> bool:
        kept = self._memo.get(name)
        if kept is None:
            kept = (
                not self.tasks or any(fnmatch.fnmatchcase(name, p) for p in self.tasks)
            ) and not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)
            self._memo[name] = kept
        return kept


def files(path: str | Path) -> list[Path]:
    """The submix files at `path`: the file itself, or every parquet/JSONL(.gz) file under a
    folder (recursively, sorted)."""
    root = Path(path)
    if root.is_file():
        return [root]
    if root.is_dir():
        found = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        if found:
            return found
        raise FlankitError(
            f"no submix files (*.parquet, *.jsonl, *.jsonl.gz) under {root}", file=str(root)
        )
    raise FlankitError(
        f"submix not found: {root}",
        file=str(root),
        hint="download e.g. DataProvenanceInitiative/cot_submix_original and give its folder",
    )


# ---------------------------------------------------------------- batches in one schema


TEXTS = ("inputs", "targets")
LABELS = ("task_source", "task_name", "template_type")


def _parquet_file(path: Path, labels_as_codes: bool = False) -> Any:
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    names = set(handle.schema_arrow.names)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise FlankitError(
            f"submix file has no column {missing[0]!r} (the published schema is "
            f"{', '.join(COLUMNS)})",
            file=str(path),
            field=missing[0],
        )
    if labels_as_codes:  # their few distinct values are then checked once each, not per row
        return pq.ParquetFile(path, metadata=handle.metadata, read_dictionary=list(LABELS))
    return handle


def _proven_clean(handle: Any, group: int, column: str) -> bool:
    """Whether the row group's statistics show the text column has no null (and, for
    `inputs`, no empty) value, so its texts need not be decoded to be checked."""
    meta = handle.metadata.row_group(group)
    index = handle.schema_arrow.names.index(column)
    stats = meta.column(index).statistics
    if stats is None or not stats.has_null_count or stats.null_count != 0:
        return False
    if column == "targets":
        return True
    return bool(stats.has_min_max) and stats.min not in ("", b"")


def _parquet_batches(path: Path, texts: bool = True) -> Iterator[dict[str, Any]]:
    """Column arrays of each batch (label columns dictionary-encoded), row group by row group.
    With `texts=False` the text columns are read only where the statistics cannot prove them
    well formed (they are read at render time instead, `SubmixRows.prepare`)."""
    handle = _parquet_file(path, labels_as_codes=True)
    runs: list[tuple[list[int], list[str]]] = []  # (row groups, columns) read by one reader
    for group in range(handle.num_row_groups):
        columns = list(COLUMNS) if texts else [
            c for c in COLUMNS if c in LABELS or not _proven_clean(handle, group, c)
        ]  # fmt: skip
        if runs and len(columns) == len(LABELS) and runs[-1][1] == columns:
            runs[-1][0].append(group)  # label codes only: small, so one reader for many groups
        else:
            runs.append(([group], columns))
    for groups, columns in runs:
        # Texts: one reader per row group; one over many keeps what it read of them all
        # (memory grows with the file: +70 MiB peak for the texts of 500,000 rows).
        rows = LABEL_BATCH_ROWS if len(columns) == len(LABELS) else BATCH_ROWS
        for batch in handle.iter_batches(rows, row_groups=groups, columns=columns):
            yield {name: batch.column(name) for name in columns}


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise FlankitError(f"not JSON: {exc.msg}", file=str(path), line=number) from exc


def _sirneural_constants(path: Path) -> dict[str, str] | None:
    """template_type and task_source of a SirNeural/flan_v2 file, from its name."""
    match = SIRNEURAL_NAME.fullmatch(path.name.removesuffix(".gz"))
    if not match:
        return None
    source = SIRNEURAL_SOURCES.get(match["submix"])
    if source is None:
        return None
    return {"template_type": f"{match['shot']}_{match['opt']}", "task_source": source}


def _json_batches(path: Path) -> Iterator[dict[str, Any]]:
    """Column lists of each batch of a JSONL file, in the published column names; a row's
    missing field is None (refused later with its row number)."""
    constants = _sirneural_constants(path)
    batch: dict[str, list] = {c: [] for c in COLUMNS}
    batch["line"] = []
    for number, row in _json_rows(path):
        if not isinstance(row, dict):
            raise FlankitError("a submix row must be a JSON object", file=str(path), line=number)
        if constants is not None and "inputs" not in row:
            row = {"inputs": row.get("input"), "targets": row.get("target"),
                   "task_name": row.get("task"), **constants}  # fmt: skip
        for column in COLUMNS:
            batch[column].append(row.get(column))
        batch["line"].append(number)
        if len(batch["line"]) >= BATCH_ROWS:
            yield batch
            batch = {c: [] for c in batch}
    if batch["line"]:
        yield batch


# ---------------------------------------------------------------- the spill


class Spill:
    """Texts appended to a local file; only their end offsets stay in memory. Writes run on one
    background thread (at most `PENDING` batches queued), so they overlap with decoding the next
    batch instead of adding to it."""

    PENDING = 4

    def __init__(self, folder: str | None = None) -> None:
        handle = tempfile.NamedTemporaryFile(
            prefix="flankit-submix-", suffix=".bin", dir=folder, delete=False
        )
        self.path = handle.name
        self._writer = handle
        self._ends: list[np.ndarray] = []
        self._size = 0
        self.ends = np.zeros(0, dtype=np.int64)
        self._fd: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flankit-spill")
        self._pending: deque = deque()
        owner = os.getpid()
        atexit.register(lambda: os.getpid() == owner and _unlink(self.path))

    def append(self, column: Any) -> None:
        """Append a pyarrow string column's texts (no nulls), straight from its buffers."""
        import pyarrow as pa

        wide = pa.types.is_large_string(column.type)
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int64 if wide else np.int32)
        offsets = offsets[column.offset : column.offset + len(column) + 1].astype(np.int64)
        data = column.buffers()[2]
        start, stop = int(offsets[0]), int(offsets[-1])
        if stop > start:
            # The closure keeps `column` (and so its buffer) alive until the bytes are written.
            chunk = memoryview(data)[start:stop]
            self._pending.append(self._pool.submit(self._writer.write, chunk))
            while len(self._pending) > self.PENDING:
                self._pending.popleft().result()
        ends = self._size + (offsets[1:] - start)
        if len(ends):
            self._size = int(ends[-1])
            self._ends.append(ends)

    def close(self) -> None:
        while self._pending:
            self._pending.popleft().result()
        self._pool.shutdown()
        self._writer.close()
        self.ends = np.concatenate(self._ends) if self._ends else np.zeros(0, dtype=np.int64)
        self._ends = []

    def __getitem__(self, i: int) -> str:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        start = int(self.ends[i - 1]) if i else 0
        data = os.pread(self._fd, int(self.ends[i]) - start, start)
        return data.decode("utf-8", "surrogateescape")

    def __getstate__(self) -> dict:
        return {"path": self.path, "ends": self.ends, "_size": self._size}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _fd=None, _ends=[], _writer=None, _pool=None, _pending=deque())


def _group_starts(handle: Any) -> np.ndarray:
    """The first row of each row group, and the row count at the end."""
    sizes = [handle.metadata.row_group(g).num_rows for g in range(handle.num_row_groups)]
    return np.cumsum([0] + sizes)


def _spill_group(handle: Any, group: int, first: int, rows: np.ndarray, inputs, targets) -> None:
    """Append the texts of `rows` (0-based in the file, increasing, all in row group `group`,
    which starts at row `first`) to the two spills."""
    for batch in handle.iter_batches(BATCH_ROWS, row_groups=[group], columns=TEXTS):
        stop = first + batch.num_rows
        lo, hi = np.searchsorted(rows, [first, stop])
        if hi > lo:
            keep = rows[lo:hi] - first
            inputs.append(_take(batch.column("inputs"), keep))
            targets.append(_take(batch.column("targets"), keep))
        first = stop


class _TextPass:
    """A parquet read's texts, read on one background thread while the label pass goes on:
    each row group is handed over as soon as the label pass is past it, in file order, so the
    spills hold what `SubmixRows.prepare` would write."""

    def __init__(self, spill_dir: str | None) -> None:
        self.inputs, self.targets = Spill(spill_dir), Spill(spill_dir)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flankit-texts")
        self._jobs: list = []
        self._file: tuple[Any, np.ndarray] | None = None  # (handle, group starts)
        self._group = 0
        self._kept: list[np.ndarray] = []

    def start(self, path: Path) -> None:
        self.finish_file()
        handle = _parquet_file(path)  # its own handle: the label pass reads through another
        self._file, self._group, self._kept = (handle, _group_starts(handle)), 0, []

    def kept(self, rows: np.ndarray) -> None:
        """Kept rows (0-based, increasing) of the batch just read."""
        if len(rows):
            self._kept.append(rows)

    def done_through(self, row: int) -> None:
        """The label pass has read the rows before `row` (0-based): hand over their groups."""
        handle, starts = self._file
        while self._group < len(starts) - 1 and starts[self._group + 1] <= row:
            end = starts[self._group + 1]
            kept = np.concatenate(self._kept) if self._kept else np.zeros(0, dtype=np.int64)
            here, self._kept = kept[kept < end], [kept[kept >= end]]
            if len(here):
                job = (handle, self._group, int(starts[self._group]), here)
                self._jobs.append(self._pool.submit(_spill_group, *job, self.inputs, self.targets))
            self._group += 1

    def finish_file(self) -> None:
        if self._file is not None:
            self.done_through(int(self._file[1][-1]))
            self._file = None

    def abandon(self) -> None:
        """After an error: stop the thread (a no-op once `close` has run)."""
        for job in self._jobs:
            job.cancel()
        self._pool.shutdown(wait=True)

    def close(self) -> tuple[Spill, Spill]:
        """Wait for every group (errors raise here) and close the spills."""
        try:
            self.finish_file()
            for job in self._jobs:
                job.result()
        finally:
            self._pool.shutdown()
        self.inputs.close()
        self.targets.close()
        return self.inputs, self.targets


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class SubmixExamples(Sequence):
    """One task's kept rows as `Example`s (inputs, targets, format), read from the spill."""

    def __init__(self, rows: SubmixRows, positions: np.ndarray) -> None:
        self.rows = rows
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    def prepare(self) -> None:
        """Read the texts now (before worker processes fork), not on first use."""
        self.rows.prepare()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return SubmixExamples(self.rows, self.positions[index])
        pos = int(self.positions[index])
        return self.rows.example(pos)


@dataclass
class SubmixRows:
    """Every kept row of a submix read: texts in spills, per row its type, task and origin."""

    inputs: Spill | None  # None until `prepare` (a parquet-only read reads texts lazily)
    targets: Spill | None
    template_type: np.ndarray  # index into TEMPLATE_TYPES, per kept row
    origin: np.ndarray  # row number within its file, per kept row
    file_of: np.ndarray  # index into `files`, per kept row
    files: list[str]
    by_task: dict[str, np.ndarray]
    task_source: dict[str, str]
    rows_read: int = 0
    spill_dir: str | None = None

    def prepare(self) -> None:
        """Read the kept rows' texts (parquet: row group by row group, in file order, only the
        groups holding kept rows) into the spill, once; later calls do nothing."""
        if self.inputs is not None:
            return
        inputs, targets = Spill(self.spill_dir), Spill(self.spill_dir)
        for file_index, file in enumerate(self.files):
            rows = self.origin[self.file_of == file_index] - 1  # 0-based, increasing
            if not len(rows):
                continue
            handle = _parquet_file(Path(file))
            starts = _group_starts(handle)
            for group in np.unique(np.searchsorted(starts, rows, side="right") - 1).tolist():
                lo, hi = np.searchsorted(rows, starts[group : group + 2])
                _spill_group(handle, group, int(starts[group]), rows[lo:hi], inputs, targets)
        inputs.close()
        targets.close()
        self.inputs, self.targets = inputs, targets

    def __getstate__(self) -> dict:
        self.prepare()  # read once here, not once in each process that unpickles it
        return self.__dict__

    def example(self, pos: int) -> Example:
        self.prepare()
        fields = {
            "inputs": self.inputs[pos],
            "targets": self.targets[pos],
            "format": TEMPLATE_TYPES[int(self.template_type[pos])].replace("_", ""),
            "template": "published",
            "shots": 0,
        }
        where = f"{self.files[int(self.file_of[pos])]}:row {int(self.origin[pos])}"
        return Example(fields, where)

    def tasks(self) -> dict[str, SubmixExamples]:
        return {name: SubmixExamples(self, pos) for name, pos in self.by_task.items()}


# ---------------------------------------------------------------- reading


class _Labels:
    """A label column of one batch as per-row codes into its distinct values: `values[codes]`
    (-1: null). The checks and filters run once per distinct value, then reach the rows through
    `lut(...)[codes]`, so no per-row Python object is made."""

    def __init__(self, column: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        self.codes = column.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        self.values = column.dictionary.to_pylist()

    def lut(self, per_value, null: bool | int = False, dtype: Any = bool) -> np.ndarray:
        """`per_value(value)` for each distinct value, and `null` last (where code -1 lands)."""
        return np.array([per_value(v) for v in self.values] + [null], dtype=dtype)

    def value(self, row: int) -> Any:
        code = int(self.codes[row])
        return None if code < 0 else self.values[code]


class _Reader:
    """Accumulates one read: validates and filters each batch (vectorised), spills kept rows."""

    def __init__(
        self,
        filters: Filters,
        bad: BadRows,
        spill_dir: str | None,
        deferred: bool,
        texts: _TextPass | None = None,
    ) -> None:
        self.filters, self.bad, self.deferred = filters, bad, deferred
        self.spill_dir = spill_dir
        self.inputs = None if deferred else Spill(spill_dir)
        self.targets = None if deferred else Spill(spill_dir)
        self.texts = texts  # a deferred read's texts, read alongside
        self.types: list[np.ndarray] = []
        self.origin: list[np.ndarray] = []
        self.file_of: list[np.ndarray] = []
        self.task_of: list[np.ndarray] = []  # per kept row, index into `task_names`
        self.task_ids: dict[str, int] = {}
        self.task_names: list[str] = []
        self.task_source: dict[str, str] = {}
        self.kept = 0
        self.read = 0

    def _checks(self, cols: dict[str, Any], labels: dict[str, _Labels]):
        """(field, bad-row mask, what is wrong) for each check, in the order rows are told."""
        import pyarrow.compute as pc

        out = []
        for column in [c for c in COLUMNS if c in cols or c in labels]:
            what = "missing, empty or not text" if column != "targets" else "missing or not text"
            if column in labels:
                wrong = labels[column].lut(lambda v: not isinstance(v, str) or v == "", True)
                mask = wrong[labels[column].codes]
            else:
                wrong = pc.is_null(cols[column])
                if column != "targets":
                    wrong = pc.or_(wrong, pc.equal(pc.binary_length(cols[column]), 0))
                mask = _mask(wrong.fill_null(True))
            out.append((column, mask, f"field {column!r} is {what}"))
        for column, allowed in (("template_type", TEMPLATE_TYPES), ("task_source", TASK_SOURCES)):
            # a null or non-text value was told above; here only text outside the allowed set
            unknown = labels[column].lut(lambda v, a=allowed: isinstance(v, str) and v not in a)
            out.append((column, unknown[labels[column].codes],
                        f"unknown {column} (one of {', '.join(allowed)})"))  # fmt: skip
        return out

    def _valid(self, path: Path, cols, labels: dict[str, _Labels], lines) -> np.ndarray:
        """Which rows are well formed; each other row is an error (or counted, when skipping)."""
        checks = self._checks(cols, labels)
        wrong = np.logical_or.reduce([m for _, m, _ in checks])
        for i in np.flatnonzero(wrong):
            column, _, message = next(c for c in checks if c[1][i])
            task = labels["task_name"].value(int(i))
            value = labels[column].value(int(i)) if column in labels else None
            told = f"{message}: {value!r}" if message.startswith("unknown") else message
            self.bad.handle(
                FlankitError(
                    f"submix row: {told}",
                    file=str(path),
                    line=int(lines[i]),
                    task=task or None,
                    field=column,
                )
            )
        return ~wrong

    def add(self, path: Path, file_index: int, batch: dict[str, Any], first_row: int) -> int:
        """Validate, filter and spill one batch; returns its row count."""
        labels = {c: _Labels(_arrow(batch[c])) for c in LABELS}
        cols = {c: _arrow(batch[c]) for c in TEXTS if c in batch}
        n = len(labels["task_name"].codes)
        lines = (
            np.asarray(batch["line"]) if "line" in batch else np.arange(first_row, first_row + n)
        )
        keep = np.flatnonzero(
            self._valid(path, cols, labels, lines) & _wanted(self.filters, labels)
        )
        if len(keep):
            self._spill(file_index, cols, labels, keep, lines[keep])
        return n

    def _spill(self, file_index: int, cols, labels: dict[str, _Labels], keep, lines) -> None:
        origin = np.asarray(lines, dtype=np.int64)  # 1-based row numbers of the kept rows
        if not self.deferred:
            self.inputs.append(_take(cols["inputs"], keep))
            self.targets.append(_take(cols["targets"], keep))
        elif self.texts is not None:
            self.texts.kept(origin - 1)
        kind = labels["template_type"]
        types = kind.lut(
            lambda v: TEMPLATE_TYPES.index(v) if v in TEMPLATE_TYPES else -1, -1, np.int8
        )
        self.types.append(types[kind.codes[keep]])
        name = labels["task_name"]
        per_value = name.lut(self._task_id, -1, dtype=np.int32)
        ids = per_value[name.codes[keep]]
        self.task_of.append(ids)
        # A task's source is that of its first kept row: looked for only among the rows of
        # tasks that have none yet (after the first batches, usually none).
        sourceless = np.array(
            [t >= 0 and self.task_names[t] not in self.task_source for t in per_value.tolist()],
            dtype=bool,
        )
        if sourceless.any():
            rows = np.flatnonzero(sourceless[name.codes[keep]])
            new, first = np.unique(ids[rows], return_index=True)
            for at, task in sorted(zip(first.tolist(), new.tolist())):
                source = labels["task_source"].value(int(keep[rows[at]]))
                self.task_source[self.task_names[task]] = source
        self.origin.append(origin)
        self.file_of.append(np.full(len(keep), file_index, dtype=np.int32))
        self.kept += len(keep)

    def _task_id(self, name: Any) -> int:
        if not isinstance(name, str):
            return -1
        task = self.task_ids.get(name)
        if task is None:
            task = self.task_ids[name] = len(self.task_names)
            self.task_names.append(name)
        return task

    def _by_task(self) -> dict[str, np.ndarray]:
        """Kept-row positions per task, in increasing order, tasks in order of first row."""
        if not self.task_of:
            return {}
        ids = np.concatenate(self.task_of)
        order = np.argsort(ids, kind="stable")
        counts = np.bincount(ids, minlength=len(self.task_names))
        starts = np.concatenate([[0], np.cumsum(counts)])
        present, first = np.unique(ids, return_index=True)
        return {
            self.task_names[t]: order[starts[t] : starts[t + 1]]
            for t in present[np.argsort(first)].tolist()
        }

    def finish(self, paths: list[Path]) -> SubmixRows:
        if not self.deferred:
            self.inputs.close()
            self.targets.close()
        elif self.texts is not None:
            self.inputs, self.targets = self.texts.close()

        def cat(parts, dtype):
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return SubmixRows(
            inputs=self.inputs,
            targets=self.targets,
            template_type=cat(self.types, np.int8),
            origin=cat(self.origin, np.int64),
            file_of=cat(self.file_of, np.int32),
            files=[str(p) for p in paths],
            by_task=self._by_task(),
            task_source=self.task_source,
            rows_read=self.read,
            spill_dir=self.spill_dir,
        )


def _wanted(filters: Filters, labels: dict[str, _Labels]) -> np.ndarray:
    """Which rows of a batch pass the filters (decided once per distinct label value)."""
    f = filters
    mask = np.ones(len(labels["task_name"].codes), dtype=bool)
    for column, allowed in (
        ("template_type", f.template_types),
        ("task_source", f.task_sources),
    ):
        if allowed is not None:
            mask &= labels[column].lut(lambda v, a=allowed: v in a)[labels[column].codes]
    if f.tasks or f.exclude:
        name = labels["task_name"]
        mask &= name.lut(lambda v: isinstance(v, str) and bool(v) and f.task_kept(v))[name.codes]
    return mask


def _mask(array: Any) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False).astype(bool)


def _arrow(column: Any) -> Any:
    """A pyarrow string array of a column (a JSON batch's list: values that are not text become
    nulls, so they are refused as such)."""
    if not isinstance(column, list):
        return column
    import pyarrow as pa

    return pa.array([v if isinstance(v, str) else None for v in column], type=pa.large_string())


def _take(column: Any, keep: np.ndarray) -> Any:
    if len(keep) == len(column):
        return column
    return column.take(keep)


def read(
    path: str | Path,
    filters: Filters,
    bad: BadRows | None = None,
    *,
    spill_dir: str | None = None,
    texts: bool = False,
) -> SubmixRows:
    """Every row of the submix file(s) at `path` that passes `filters`, spilled to disk.

    `texts`: a parquet-only read reads the kept texts now, on a background thread that follows
    the label pass row group by row group (for a load that renders them), instead of at the
    first `prepare`."""
    bad = bad if bad is not None else BadRows()
    paths = files(path)
    deferred = all(p.suffix == ".parquet" for p in paths)
    alongside = _TextPass(spill_dir) if deferred and texts else None
    reader = _Reader(filters, bad, spill_dir, deferred, alongside)
    try:
        for file_index, file in enumerate(paths):
            if file.suffix == ".parquet":
                batches = _parquet_batches(file, texts=not deferred)
            else:
                batches = _json_batches(file)
            if alongside is not None:
                alongside.start(file)
            row = 1
            for batch in batches:
                count = reader.add(file, file_index, batch, row)
                row += count
                reader.read += count
                if alongside is not None:
                    alongside.done_through(row - 1)
        return reader.finish(paths)
    finally:
        if alongside is not None:
            alongside.abandon()


def task_names(path: str | Path, filters: Filters) -> list[str]:
    """The task names of the rows that pass `filters`, cheaply: a parquet read decodes only
    the task_name, task_source and template_type columns (JSONL files are read whole)."""
    return sorted(read(path, filters, BadRows(skip=True)).by_task)
