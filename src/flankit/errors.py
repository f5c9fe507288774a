"""The one error family flankit raises for bad input, with the place it happened."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable


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


def suggest(
    name: str, choices: Iterable[str], *, n: int = 1, prefix: str = "", otherwise: str | None = None
) -> str:
    """The hint for a name that is none of `choices`: up to `n` close ones (each after `prefix`),
    else `otherwise` (by default, every choice).

    Example:
        >>> suggest("bbhh", ["mmlu", "bbh", "mgsm"])
        'did you mean bbh?'
        >>> suggest("xyz", ["mmlu", "bbh"])
        'choose from mmlu, bbh'
    """
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), choices, n=n, cutoff=0.6)
    if close:
        return "did you mean " + ", ".join(prefix + c for c in close) + "?"
    return otherwise if otherwise is not None else "choose from " + ", ".join(choices)


class FlankitWarning(UserWarning):
    """Something flankit recovered from on its own; shown as one line, not a Python trace."""


def warn(message: str) -> None:
    """Tell the user, in one line, what happened, where, and what flankit did about it.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as seen:
        ...     warnings.simplefilter("always")
        ...     warn("cache.jsonl: last line is cut; moved aside, its request is recomputed")
        >>> warnings.formatwarning(seen[0].message, seen[0].category, "x.py", 1)
        'flankit: warning: cache.jsonl: last line is cut; moved aside, its request is recomputed\\n'
    """
    warnings.warn(FlankitWarning(message), stacklevel=2)


_python_format = warnings.formatwarning


def _format(message, category, filename, lineno, line=None) -> str:
    # Python's default names flankit's own source line, which says nothing to a user.
    if isinstance(category, type) and issubclass(category, FlankitWarning):
        return f"flankit: warning: {message}\n"
    return _python_format(message, category, filename, lineno, line)


warnings.formatwarning = _format


def describe_failure(exc: BaseException, command: str | None = None) -> str:
    """One line for a user: what failed and what to do (the traceback is for `--debug`).

    Example:
        >>> describe_failure(FileNotFoundError(2, "No such file or directory", "x.yaml"), "train")
        'train: cannot open x.yaml: No such file or directory (check the path)'
    """
    if isinstance(exc, FlankitError):
        return str(exc)
    what = command or "flankit"
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return (
            f"{what}: out of memory ({_first_line(exc)}) (lower the batch size or the input "
            "length, or use a smaller model)"
        )
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        package = exc.name.split(".")[0]
        return f"{what}: needs the Python package {package!r} (pip install {package})"
    if isinstance(exc, OSError) and exc.filename:
        return f"{what}: cannot open {exc.filename}: {exc.strerror or _first_line(exc)} (check the path)"
    return (
        f"{what} failed: {type(exc).__name__}: {_first_line(exc)} (not a known input mistake: "
        "run again with --debug for the traceback, and report it if the input looks right)"
    )


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().split("\n")[0] or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
