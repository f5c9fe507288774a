"""The Dialog tasks of Flan 2022 (QReCC, WikiDialog): predict the next turn, and its inversion.

Sources (their published files; FLAN read them through TFDS `q_re_cc:1.0.0` and
`wiki_dialog:1.0.0`):
- QReCC (github apple/ml-qrecc, `dataset/qrecc_data.zip` -> `qrecc_train.json`): one JSON list
  of turns, each an object with `Context` (the earlier questions and answers, alternating),
  `Question`, `Rewrite`, `Answer`, `Conversation_no`, `Turn_no`, ... FLAN keeps turns with
  `Turn_no` > 6 and uses their `Context` only.
- WikiDialog-OQ (google-research/dialog-inpainting; 11M dialogs, `data_train.jsonl-*.gz`):
  JSON lines with `utterances` (a list of strings; the first is the writer's opening line,
  which FLAN drops), `pid`, `title`, `passage`, ... Plain `.jsonl` and `.jsonl.gz` are read.

From a row's turns FLAN cuts a random prefix of odd length 1, 3, ... (at most 39): the prefix is
the dialog, the next turn the answer. flankit draws that cut once per row from a seed of the task
and row number, so a row always gives the same dialog (as a cached FLAN dataset does).

Rendering: `{dialog_}` is the dialog as FLAN formats it: zero-shot rows use its randomised
format (a start string, one speaker-name style and one turn ending, drawn per row), few-shot
rows the fixed one (``DIALOG:\\n<t1>\\n- <t2>...\\n- ``). Inversion (`<task>_ii`,
`<task>_input_inversion` patterns) gives the response and asks for the dialog. Dialog has no
no-options variant.

Example:
    >>> fixed_dialog(["Hi", "Hello!", "How are you?"])
    'DIALOG:\\nHi\\n- Hello!\\n- How are you?\\n- '
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from flankit.data.flan2022.patterns import (
    flan_templates,
    key_and_task,
    render_row,
    zs_fs_submix_rows,
)
from flankit.data.sources import BadRows, read_json
from flankit.errors import FlankitError

TASK_SOURCE = "Dialog"
DIALOG_CAP = 200_000  # FLAN's per-task mixing cap for Dialog and Dialog-II
INVERSION_RATE = 0.3  # Dialog-II is mixed at 0.3 : 1 against Dialog
MAX_CUT = 20  # FLAN draws the cut among the first 20 odd positions
QRECC_MIN_TURN = 7


@dataclass(frozen=True)
class DialogSource:
    """One Flan 2022 dialog task: its FLAN name, file format and how to obtain it."""

    task: str
    files: str  # glob under the dialog folder
    obtain: str
    rows: int | None  # FLAN-era train rows, where known

    @property
    def inverted_task(self) -> str:
        return f"{self.task}_ii"

    @property
    def key(self) -> str:
        return self.task

    @property
    def inverted_key(self) -> str:
        return f"{self.task}_input_inversion"


SOURCES = (
    DialogSource(
        "qrecc",
        "qrecc_train.json",
        "qrecc_train.json from github apple/ml-qrecc dataset/qrecc_data.zip",
        None,
    ),
    DialogSource(
        "wiki_dialog",
        "wiki_dialog/*.jsonl*",
        "WikiDialog-OQ data_train.jsonl-*.gz (google-research/dialog-inpainting) in wiki_dialog/",
        None,
    ),
)
BY_TASK = {s.task: s for s in SOURCES}


def cut(turns: list[str], rng: random.Random) -> tuple[list[str], str]:
    """FLAN's random cut: an odd-length prefix as the dialog and the next turn as the answer."""
    choices = min(len(turns) // 2, MAX_CUT)
    idx = rng.randrange(choices) * 2 + 1
    return turns[:idx], turns[idx]


def fixed_dialog(dialog: list[str]) -> str:
    """FLAN's deterministic dialog block (`format_dialog`)."""
    return "DIALOG:\n" + "\n- ".join(dialog) + "\n- "


def random_dialog(dialog: list[str], rng: random.Random, path: str | None = None) -> str:
    """FLAN's randomised dialog block (`format_dialog_non_deterministic`)."""
    data = flan_templates(path)
    start = rng.choice(data["DIALOG_START_STRING_CANDIDATES"])
    names = rng.choice(data["DIALOG_ITEM_NAME_CANDIDATES"])
    ends = rng.choice(data["DIALOG_ITEM_END_STR_CANDIDATES"])
    body = "".join(names[i] + turn + ends[i] for i, turn in enumerate(dialog))
    return start + body + names[len(dialog)]


# --- reading -----------------------------------------------------------------------------------


def _turns(value: Any, *, where: str, task: str, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise FlankitError("must be a list of strings", file=where, task=task, field=field)
    if len(value) < 2:
        raise FlankitError(
            f"needs at least 2 turns, has {len(value)}", file=where, task=task, field=field
        )
    return value


def read_qrecc(path: str | Path, *, bad: BadRows | None = None) -> Iterator[tuple[str, list[str]]]:
    """(where, turns) of the QReCC turns FLAN keeps (`Turn_no` > 6): the turn's `Context`."""
    data = read_json(path, task="qrecc")
    if not isinstance(data, list):
        raise FlankitError("QReCC must be a JSON list of turns", file=str(path), task="qrecc")
    for i, row in enumerate(data):
        where = f"{path}:turn {i}"
        try:
            if not isinstance(row, dict) or not isinstance(row.get("Turn_no"), int):
                raise FlankitError(
                    "needs an integer Turn_no", file=where, task="qrecc", field="Turn_no"
                )
            if row["Turn_no"] < QRECC_MIN_TURN:
                continue
            yield where, _turns(row.get("Context"), where=where, task="qrecc", field="Context")
        except FlankitError as error:
            if bad is None:
                raise
            bad.handle(error)


def read_wiki_dialog(
    files: list[Path], *, bad: BadRows | None = None, limit: int | None = None
) -> Iterator[tuple[str, list[str]]]:
    """(where, turns) of WikiDialog rows: `utterances` without the opening line."""
    count = 0
    for path in files:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if limit is not None and count >= limit:
                    return
                where = f"{path}:{lineno}"
                try:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise FlankitError(
                            f"not JSON: {exc.msg}", file=where, task="wiki_dialog"
                        ) from None
                    utterances = row.get("utterances") if isinstance(row, dict) else None
                    turns = _turns(
                        utterances[1:] if isinstance(utterances, list) else utterances,
                        where=where,
                        task="wiki_dialog",
                        field="utterances",
                    )
                except FlankitError as error:
                    if bad is None:
                        raise
                    bad.handle(error)
                    continue
                count += 1
                yield where, turns


def source_files(folder: str | Path, source: DialogSource) -> list[Path]:
    return sorted(p for p in Path(folder).glob(source.files) if p.is_file())


def read_rows(
    folder: str | Path,
    source: DialogSource,
    *,
    bad: BadRows | None = None,
    limit: int | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """(where, fields) of a dialog task: `dialog` (list of turns) and `answer`, cut once per row."""
    files = source_files(folder, source)
    if not files:
        raise FlankitError(
            f"no {source.files} under {folder}",
            file=str(folder),
            task=source.task,
            hint=f"download {source.obtain}",
        )
    if source.task == "qrecc":
        turns = read_qrecc(files[0], bad=bad)
    else:
        turns = read_wiki_dialog(files, bad=bad, limit=limit)
    out = []
    for i, (where, row) in enumerate(turns):
        if limit is not None and i >= limit:
            break
        dialog, answer = cut(row, random.Random(f"{source.task}|{i}"))
        out.append((where, {"dialog": dialog, "answer": answer}))
    return out


# --- rendering ---------------------------------------------------------------------------------


def render(
    source: DialogSource,
    rows: Sequence[dict[str, Any]],
    index: int,
    template_type: str,
    template: int,
    rng: random.Random,
    *,
    inverted: bool = False,
) -> tuple[str, str, str, int]:
    """(inputs, targets, template id, shots) of one row, forward or inverted."""
    key, task = key_and_task(source, inverted)
    if template_type.startswith("zs"):
        row = rows[index]
        fields = [{**row, "dialog_": random_dialog(row["dialog"], rng)}]
        return render_row(fields, 0, key, template_type, template, rng, task=task)
    return render_row(_FixedDialogs(rows), index, key, template_type, template, rng, task=task)


class _FixedDialogs(Sequence):
    """Rows with their fixed `dialog_` block, formatted only for the rows a prompt uses."""

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # type: ignore[override]
        row = self.rows[i]
        return {**row, "dialog_": fixed_dialog(row["dialog"])}


# render_rows(source, rows, template_type="zs_opt", *, inverted=False, seed=0): every row in the
# published submix schema; templates round-robin by row position.
render_rows = partial(zs_fs_submix_rows, render, collection="Dialog", task_source=TASK_SOURCE)
