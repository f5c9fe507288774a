"""Readers for task files in their publishers' formats, with counted, never silent, bad rows.

Each reader yields `Example`s whose `where` is "file:line" (or "file:#index" for JSON lists).
A bad row raises `FlankitError` naming file, line, task and field, unless the `BadRows` policy
skips it, in which case it is counted (and kept for the build report). Text files are decoded
with `surrogateescape`, so invalid UTF-8 is found in the row and field that holds it (and that
row alone is refused or skipped) instead of ending the whole read.

Example:
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "toy_train.tsv")
    >>> _ = open(p, "w").write("What is 1+1?\\t2\\t1 plus 1 is 2.\\n")
    >>> [e.fields["answer"] for e in read_cot_tsv(p, task="cot_toy", bad=BadRows())]
    ['2']
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flankit.data.tasks import Example
from flankit.errors import FlankitError


@dataclass
class BadRows:
    """Policy and tally for malformed rows: raise (default) or skip and count."""

    skip: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    filtered: dict[str, int] = field(default_factory=dict)  # "task: step" -> rows skipped

    def handle(self, error: FlankitError) -> None:
        if not self.skip:
            raise error
        task = error.task or "?"
        self.counts[task] = self.counts.get(task, 0) + 1
        if len(self.samples) < 50:
            self.samples.append(str(error))

    def skip_row(self, task: str, step: str, where: str = "") -> None:
        """Count a row a preprocess step chose to skip; always counted, never an error."""
        self.counts[task] = self.counts.get(task, 0) + 1
        key = f"{task}: {step}"
        self.filtered[key] = self.filtered.get(key, 0) + 1
        if len(self.samples) < 50:
            self.samples.append(f"{where + ': ' if where else ''}task {task}: skipped by {step}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def open_text(path: str, task: str | None):
    """A text file (gzip-compressed when its name ends in `.gz`) opened for reading rows;
    invalid UTF-8 bytes survive as lone surrogates, which `invalid_utf8` finds in the row that
    holds them."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        return opener(path, "rt", encoding="utf-8", errors="surrogateescape", newline="")
    except OSError as exc:
        raise FlankitError(f"cannot read: {exc.strerror}", file=path, task=task) from exc


def invalid_utf8(value: Any) -> bool:
    """Whether a decoded string (or one inside a list or dict) still holds bytes that were not
    UTF-8."""
    if isinstance(value, (list, tuple)):
        return any(invalid_utf8(v) for v in value)
    if isinstance(value, dict):
        return any(invalid_utf8(v) for v in value.values())
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def utf8_error(
    fields: dict[str, Any], *, file: str, line: int | None = None, task: str | None = None
) -> FlankitError | None:
    """The error for the first field (by name) holding invalid UTF-8, else None."""
    for name, value in fields.items():
        if invalid_utf8(value):
            return FlankitError(
                "invalid UTF-8 bytes (re-save the file as UTF-8)",
                file=file,
                line=line,
                task=task,
                field=name,
            )
    return None


def _text(value: Any) -> str | None:
    """A usable text value, or None for missing/empty/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text.strip() else None


def _first_text(value: Any) -> str | None:
    """A usable text value; of a list (several gold targets), the first usable entry."""
    if isinstance(value, list):
        value = next((v for v in value if _text(v) is not None), None)
    return _text(value)


def _readable_entries(
    entries: list,
    place: str,
    texts: Callable[[dict], dict[str, Any]] | None,
    *,
    task: str,
    bad: BadRows,
    what: str,
) -> Iterator[tuple[str, dict]]:
    """(where, entry) for each entry of a JSON list that is an object whose fields picked by
    `texts` are valid UTF-8 (not checked when `texts` is None: the file is known to be clean);
    every other entry goes to `bad`. `where` is "{place}#{index}"."""
    for i, entry in enumerate(entries):
        where = f"{place}#{i}"
        if not isinstance(entry, dict):
            bad.handle(FlankitError(f"{what} is not an object", file=where, task=task))
            continue
        error = texts and utf8_error(texts(entry), file=where, task=task)
        if error:
            bad.handle(error)
            continue
        yield where, entry


def read_cot_tsv(path: str | Path, *, task: str, bad: BadRows) -> Iterator[Example]:
    """Flan CoT TSV: no header; question, answer, chain of thought; literal `\\n` escapes."""
    path = str(path)
    names = ("question", "answer", "rationale")
    text, utf8 = read_text(path, task=task)  # valid UTF-8: skip the check row by row
    for lineno, line in enumerate(io.StringIO(text, newline=""), start=1):
        line = line.rstrip("\r\n")
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) != 3:
            bad.handle(
                FlankitError(
                    f"expected 3 tab-separated columns (question, answer, rationale), got {len(cols)}",
                    file=path,
                    line=lineno,
                    task=task,
                )
            )
            continue
        error = not utf8 and utf8_error(dict(zip(names, cols)), file=path, line=lineno, task=task)
        if error:
            bad.handle(error)
            continue
        fields = {}
        for name, value in zip(names, cols):
            value = value.replace("\\n", "\n").strip()
            if not value:
                bad.handle(
                    FlankitError("empty value", file=path, line=lineno, task=task, field=name)
                )
                fields = None
                break
            fields[name] = value
        if fields is not None:
            yield Example(fields, f"{path}:{lineno}")


def read_json(path: str | Path, *, task: str | None = None) -> Any:
    """Parse a JSON file, turning errors into FlankitError with the line. Invalid UTF-8 inside
    strings is kept (as lone surrogates) for the example readers to refuse row by row."""
    return read_json_checked(path, task=task)[0]


# A JSON escape for a UTF-16 surrogate: the one way valid UTF-8 text can parse into a string
# that holds a lone surrogate. Pairs (`\ud83d\ude00`) match too, which only costs the fast path.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def read_json_checked(path: str | Path, *, task: str | None = None) -> tuple[Any, bool]:
    """`read_json`, and whether every string in it is known to be valid UTF-8 (the file is
    UTF-8 and has no surrogate escape), so readers may skip the check field by field."""
    path = str(path)
    text, utf8 = read_text(path, task=task)
    clean = utf8 and _SURROGATE_ESCAPE.search(text) is None
    if not text.strip():
        raise FlankitError("empty file", file=path, task=task)
    try:
        return json.loads(text), clean
    except json.JSONDecodeError as exc:
        raise FlankitError(
            f"invalid JSON: {exc.msg}", file=path, line=exc.lineno, task=task
        ) from exc


def read_text(path: str | Path, *, task: str | None = None) -> tuple[str, bool]:
    """A whole text file decoded, and whether it is valid UTF-8; if not, its invalid bytes
    survive as lone surrogates, which `invalid_utf8` finds in the row that holds them."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise FlankitError(f"cannot read: {exc.strerror}", file=str(path), task=task) from exc
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="surrogateescape"), False


def _bigbench_texts(ex: dict) -> dict[str, Any]:
    return {k: ex.get(k) for k in ("input", "target")} | {
        "target_scores": list(ex.get("target_scores") or [])
    }


def _niv2_texts(inst: dict) -> dict[str, Any]:
    return {"input": inst.get("input"), "output": inst.get("output")}


def bigbench_examples(
    data: dict, *, path: str, task: str, bad: BadRows, utf8: bool = False
) -> Iterator[Example]:
    """BIG-bench `examples`: `input` plus `target` (str or list) and/or `target_scores`.
    `utf8`: every string in `data` is known to be valid UTF-8 (`read_json_checked`)."""
    examples = data.get("examples")
    if not isinstance(examples, list):
        raise FlankitError("no 'examples' list", file=path, task=task, field="examples")
    description = data.get("description") or ""
    error = utf8_error({"description": description}, file=path, task=task)
    if error:
        raise error
    texts = None if utf8 else _bigbench_texts
    readable = _readable_entries(examples, f"{path}:", texts, task=task, bad=bad, what="example")
    for where, ex in readable:
        scores = ex.get("target_scores")
        has_scores = isinstance(scores, dict) and bool(scores)
        question = _text(ex.get("input"))
        # BIG-bench allows an empty input for multiple choice: the options are the content.
        if question is None and not (has_scores and isinstance(ex.get("input"), str)):
            bad.handle(FlankitError("missing or empty", file=where, task=task, field="input"))
            continue
        fields: dict[str, Any] = {"input": (question or "").strip(), "description": description}
        if has_scores:
            options = [str(k) for k in scores]
            best = max(scores, key=lambda k: scores[k])
            fields["options"] = options
            fields["answer"] = str(best)
        else:
            target = _first_text(ex.get("target"))
            if target is None:
                bad.handle(FlankitError("missing or empty", file=where, task=task, field="target"))
                continue
            fields["answer"] = target.strip()
        yield Example(fields, where)


def niv2_examples(
    data: dict, *, path: str, task: str, bad: BadRows
) -> tuple[str, list[Example], list[Example]]:
    """NIV2 task file -> (definition, instances, positive examples)."""
    definition = data.get("Definition")
    if isinstance(definition, list):
        definition = definition[0] if definition else None
    definition = _text(definition)
    if definition is None:
        raise FlankitError("missing or empty", file=path, task=task, field="Definition")
    error = utf8_error({"Definition": definition}, file=path, task=task)
    if error:
        raise error
    instances = data.get("Instances")
    if not isinstance(instances, list):
        raise FlankitError("no 'Instances' list", file=path, task=task, field="Instances")

    def convert(items: list, kind: str) -> list[Example]:
        out = []
        readable = _readable_entries(
            items, f"{path}:{kind}", _niv2_texts, task=task, bad=bad, what="entry"
        )
        for where, inst in readable:
            inp = _text(inst.get("input"))
            output = _first_text(inst.get("output"))
            if inp is None or output is None:
                name = "input" if inp is None else "output"
                bad.handle(FlankitError("missing, empty or NaN", file=where, task=task, field=name))
                continue
            out.append(
                Example(
                    {
                        "definition": definition.strip(),
                        "input": inp.strip(),
                        "answer": output.strip(),
                    },
                    where,
                )
            )
        return out

    positives = convert(data.get("Positive Examples") or [], "Positive Examples")
    return definition, convert(instances, "Instances"), positives


TABLE_FORMATS = ("jsonl", "csv", "parquet", "hub")


def read_table_rows(
    path: str,
    fmt: str,
    *,
    task: str,
    split: str = "train",
    name: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Raw rows of a JSONL / CSV / Parquet file or a Hugging Face hub dataset, with locations."""
    if fmt == "hub":
        hub = {"name": name, "split": split, "revision": revision}
        yield from _hub_rows(path, task, trust_remote_code=trust_remote_code, **hub)
        return
    reader = _FILE_TABLES.get(fmt)
    if reader is None:
        raise FlankitError(
            f"unknown table format {fmt!r}; choose one of {TABLE_FORMATS}", task=task
        )
    yield from reader(path, task)


def jsonl_rows(path: str, task: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """("file:line", row) of each JSON object line of a `.jsonl` (or `.jsonl.gz`) file; lines
    are numbered from 1, blank lines skipped, a line that is not a JSON object raises."""
    with open_text(path, task) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FlankitError(
                    f"invalid JSON: {exc.msg}", file=path, line=lineno, task=task
                ) from exc
            if not isinstance(row, dict):
                raise FlankitError("row is not a JSON object", file=path, line=lineno, task=task)
            yield f"{path}:{lineno}", row


def _csv_rows(path: str, task: str) -> Iterator[tuple[str, dict[str, Any]]]:
    with open_text(path, task) as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield f"{path}:{reader.line_num}", row


def _parquet_rows(path: str, task: str) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise FlankitError(f"cannot read parquet: {exc}", file=path, task=task) from exc
    for i, row in enumerate(table.to_pylist()):
        yield f"{path}:row {i}", row


_FILE_TABLES = {"jsonl": jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}


def _hub_rows(
    path: str, task: str, *, name, split: str, revision, trust_remote_code: bool
) -> Iterator[tuple[str, dict[str, Any]]]:
    import datasets

    try:
        ds = datasets.load_dataset(
            path, name, split=split, revision=revision, trust_remote_code=trust_remote_code
        )
    except Exception as exc:  # the hub raises many kinds; all mean "cannot load"
        raise FlankitError(
            f"cannot load hub dataset {path!r} (config {name!r}, split {split!r}): {exc}",
            task=task,
            hint="check the dataset id, or set HF_HUB_OFFLINE=0 and your network",
        ) from exc
    for i, row in enumerate(ds):
        yield f"{path}[{split}]:row {i}", row


def map_fields(
    rows: Iterator[tuple[str, dict[str, Any]]],
    mapping: dict[str, str],
    *,
    task: str,
    bad: BadRows,
) -> Iterator[Example]:
    """Rename source columns to task fields (`{task_field: source_column}`); check each value.

    `options` may be a list or a string joined with `|`; every other field must be non-empty text.
    """
    for where, row in rows:
        fields: dict[str, Any] = {}
        error = utf8_error({n: row.get(c) for n, c in mapping.items()}, file=where, task=task)
        if error:
            bad.handle(error)
            continue
        ok = True
        for name, column in mapping.items():
            if column not in row:
                bad.handle(
                    FlankitError(f"column {column!r} is missing", file=where, task=task, field=name)
                )
                ok = False
                break
            value = row[column]
            if name == "options":
                if isinstance(value, str):
                    value = [v.strip() for v in value.split("|")]
                if not isinstance(value, (list, tuple)) or not value:
                    bad.handle(
                        FlankitError(
                            "options must be a non-empty list", file=where, task=task, field=name
                        )
                    )
                    ok = False
                    break
                fields[name] = [str(v) for v in value]
                continue
            text = _text(value)
            if text is None:
                bad.handle(FlankitError("missing or empty", file=where, task=task, field=name))
                ok = False
                break
            fields[name] = text
        if ok:
            yield Example(fields, where)
