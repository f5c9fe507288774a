"""The one error family flankit raises for bad input, with the place it happened."""

from __future__ import annotations


class FlankitError(Exception):
    """A user-facing error that names where the problem is (file, line/row, task, field).

    Example:
        >>> str(FlankitError("missing field", file="a.tsv", line=3, task="cot_gsm8k", field="answer"))
        'a.tsv:3: task cot_gsm8k: field answer: missing field'
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        task: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.task = task
        self.field = field
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line is not None else str(self.file))
        elif self.line is not None:
            parts.append(f"row {self.line}")
        if self.task is not None:
            parts.append(f"task {self.task}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        text = ": ".join(parts + [self.message])
        if self.hint:
            text += f" ({self.hint})"
        return text
