"""The preprocess stage: named row steps between a source's rows and a task's examples.

A step is a plain function from a row's fields to new fields, or to None to skip the row; a skip
is counted under the step's name, and a step that finds a row it cannot convert raises
`RowError`, which the stage turns into a `FlankitError` naming collection, task, source, row and
field. Steps are found by name in `STEPS`, one plain dict (add a function and one entry); each
entry also says which fields the step needs, adds and removes, so templates are checked against
the fields a task will have before any row is read.

Example:
    >>> from flankit.data.sources import BadRows
    >>> from flankit.data.tasks import Example
    >>> rows = [Example({"question": "2+2?", "options": ["3", "4"], "label": 1}, "toy.jsonl:1")]
    >>> out = run_steps(rows, ["label_to_option"], collection="mine", task="sums", bad=BadRows())
    >>> out[0].fields
    {'question': '2+2?', 'options': ['3', '4'], 'answer': '4'}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flankit.data.sources import BadRows
from flankit.data.tasks import Example
from flankit.errors import FlankitError, suggest

Fields = dict[str, Any]


class RowError(Exception):
    """A step's refusal of one row: what is wrong, and in which field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Step:
    """A named row step and the fields it reads, writes and drops."""

    fn: Callable[[Fields], Fields | None]
    needs: tuple[str, ...] = ()
    adds: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()


def label_to_option(fields: Fields) -> Fields:
    """`label` (an index into `options`) becomes `answer`, the option's text."""
    options, label = fields.get("options"), fields.get("label")
    if not isinstance(options, (list, tuple)) or not options:
        raise RowError("needs a non-empty options list", "options")
    try:
        index = int(str(label).strip())
    except ValueError:
        raise RowError(f"label {label!r} is not an option index", "label") from None
    if not 0 <= index < len(options):
        raise RowError(f"label {index} is outside the {len(options)} options", "label")
    out = {k: v for k, v in fields.items() if k != "label"}
    out["answer"] = str(options[index])
    return out


def strip_text(fields: Fields) -> Fields:
    """Surrounding whitespace removed from every text field and every option."""
    out: Fields = {}
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.strip()
        elif isinstance(value, (list, tuple)):
            value = [v.strip() if isinstance(v, str) else v for v in value]
        out[name] = value
    return out


def skip_answer_not_in_options(fields: Fields) -> Fields | None:
    """Rows whose answer is not one of their options are skipped (counted), not trained on."""
    options = fields.get("options")
    if options and str(fields.get("answer")) not in [str(o) for o in options]:
        return None
    return fields


def drop_options(fields: Fields) -> Fields:
    """The options list removed, so the task renders as open-ended generation."""
    return {k: v for k, v in fields.items() if k != "options"}


STEPS: dict[str, Step] = {
    "label_to_option": Step(
        label_to_option, needs=("label", "options"), adds=("answer",), removes=("label",)
    ),
    "strip_text": Step(strip_text),
    "skip_answer_not_in_options": Step(skip_answer_not_in_options, needs=("answer",)),
    "drop_options": Step(drop_options, removes=("options",)),
}


def resolve(names: Sequence[str], *, where: str | None = None, task: str | None = None) -> list:
    """The steps named, in order; an unknown name is an error with a suggestion."""
    steps = []
    for name in names:
        if name not in STEPS:
            hint = suggest(name, STEPS)
            raise FlankitError(
                f"unknown preprocess step {name!r}", file=where, task=task, hint=hint
            )
        steps.append((name, STEPS[name]))
    return steps


def fields_after(
    fields: Iterable[str],
    names: Sequence[str],
    *,
    where: str | None = None,
    task: str | None = None,
) -> set[str]:
    """The fields a row has after the named steps, starting from `fields`; a step that needs a
    field no earlier stage provides is an error before any row is read."""
    have = set(fields)
    for name, step in resolve(names, where=where, task=task):
        for needed in step.needs:
            if needed not in have:
                raise FlankitError(
                    f"preprocess step {name} needs a field the rows lack",
                    file=where,
                    task=task,
                    field=needed,
                )
        have = (have | set(step.adds)) - set(step.removes)
    return have


def run_steps(
    examples: Iterable[Example],
    names: Sequence[str],
    *,
    collection: str,
    task: str,
    bad: BadRows,
    source: str | None = None,
) -> list[Example]:
    """Every example through the named steps; skipped rows are counted in `bad.filtered`."""
    steps = resolve(names, where=source, task=task)
    out = []
    for ex in examples:
        fields: Fields | None = ex.fields
        for name, step in steps:
            try:
                fields = step.fn(fields)
            except RowError as exc:
                bad.handle(
                    FlankitError(
                        f"collection {collection}: preprocess {name}: {exc.message}",
                        file=ex.where or source,
                        task=task,
                        field=exc.field,
                    )
                )
                fields = None
                break
            if fields is None:
                bad.skip_row(task, name, ex.where)
                break
        if fields is not None:
            out.append(Example(fields, ex.where))
    return out
