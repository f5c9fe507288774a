"""Benchmarks as plain lists of `Item`s: a prompt, a gold answer, and how to score the output."""

from __future__ import annotations

from dataclasses import dataclass, field


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
