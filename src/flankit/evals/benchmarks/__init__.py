"""Benchmarks as plain lists of `Item`s: a prompt, a gold answer, and how to score the output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flankit.errors import FlankitError


@dataclass(frozen=True)
class Item:
    """One evaluation request and its scoring rule."""

    benchmark: str
    subtask: str
    id: str
    mode: str  # "direct" or "cot"
    prompt: str
    gold: str | tuple[str, ...]
    scorer: str  # letter | bbh | number | squad | synthetic
    options: tuple[str, ...] = ()
    lang: str = "en"
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    chance: float = 0.0  # accuracy of random guessing on this item
    continuations: tuple[str, ...] = field(default=())  # scored by log-likelihood when given


BENCHMARKS = ("mmlu", "bbh", "tydiqa", "mgsm", "synthetic", "world")


def no_examples(task: str, file: str, bad) -> FlankitError:
    """The error for a benchmark subtask left with nothing to ask."""
    skipped = bad.counts.get(task, 0) if bad is not None else 0
    reason = f": all {skipped} rows were bad and skipped" if skipped else ""
    return FlankitError("no examples" + reason, file=file, task=task)


def read_text(path: Path, task: str | None = None) -> str:
    """A whole UTF-8 text file (a prompt); bad bytes are an error naming their line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlankitError(f"cannot read: {exc.strerror}", file=str(path), task=task) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FlankitError(
            "invalid UTF-8 bytes (re-save the file as UTF-8)", file=str(path), line=line, task=task
        ) from exc
