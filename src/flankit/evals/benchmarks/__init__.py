"""Benchmarks as plain lists of `Item`s, found through one lazy registry.

Each benchmark module exposes a `Benchmark` record: its name, a typed options dataclass (each
field is the config key and CLI flag `<name>_<field>` / `--<name>-<field>`), `load(options,
setup) -> list[Item]`, `score(item, output)`, its prompt version and what the report shows of
it. `REGISTRY` maps a name to `"module:ATTR"` (imported on first use, so `import flankit` loads
no benchmark) or to a `Benchmark` given to `register`. To add a benchmark, write its module and
add one entry to `REGISTRY`; the runner, the metrics, the report and the CLI loop over it.

Example:
    >>> get("bbh").prompt_version
    'bbh-suzgun-v1'
    >>> get("bbhh")
    Traceback (most recent call last):
    ...
    flankit.errors.FlankitError: unknown benchmark 'bbhh' (did you mean bbh?)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flankit.errors import FlankitError, suggest


@dataclass(frozen=True)
class Item:
    """One evaluation request and its scoring rule."""

    benchmark: str
    subtask: str
    id: str
    mode: str  # "direct" or "cot"
    prompt: str
    gold: str | tuple[str, ...]
    scorer: str  # its scoring rule by name (letter, bbh, ...); its benchmark scores it
    options: tuple[str, ...] = ()
    lang: str = "en"
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    chance: float = 0.0  # accuracy of random guessing on this item
    continuations: tuple[str, ...] = field(default=())  # scored by log-likelihood when given


@dataclass(frozen=True)
class NoOptions:
    """The options of a benchmark that has none."""


@dataclass(frozen=True)
class Setup:
    """What every benchmark's `load` gets besides its own options."""

    modes: tuple[str, ...]  # the modes to build, those of the run the benchmark is evaluated in
    limit: int | None  # items per subtask / subject / language (None: all)
    root: Path  # the data root (--data-root, $FLANKIT_DATA or ../shared/data)
    bad: Any  # the run's `BadRows`: malformed rows raise, or are skipped and counted


Score = tuple[str | None, bool, float]  # (extracted answer, correct, F1)


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: how its items are built and scored, and how the report shows it."""

    name: str
    load: Callable[[Any, Setup], list[Item]]  # (options, setup) -> items
    score: Callable[[Item, str], Score]
    prompt_version: str
    options: type = NoOptions  # a frozen dataclass; its fields become `<key>_<field>` keys
    modes: tuple[str, ...] | None = None  # the modes it is evaluated in (None: any)
    modes_note: str = ""  # why it is not run when a run asks none of `modes`
    unavailable: Callable[[Any], str | None] = lambda options: None  # why it cannot run
    # (mode, Table 5 column) for each part of the paper's normalized average it provides
    paper_columns: tuple[tuple[str, str], ...] = ()
    reported_apart: frozenset[str] = frozenset()  # subtasks kept out of its macro average
    f1: bool = False  # also report the macro F1 (and each sample's `f1`)
    options_key: str = ""  # the prefix of its option keys (default: its name)

    @property
    def key(self) -> str:
        return self.options_key or self.name


# name -> "module:ATTR" of its `Benchmark` (imported on first use) or the `Benchmark` itself.
REGISTRY: dict[str, str | Benchmark] = {
    "mmlu": "flankit.evals.benchmarks.mmlu:BENCHMARK",
    "bbh": "flankit.evals.benchmarks.bbh:BENCHMARK",
    "tydiqa": "flankit.evals.benchmarks.tydiqa:BENCHMARK",
    "mgsm": "flankit.evals.benchmarks.mgsm:BENCHMARK",
    "synthetic": "flankit.evals.benchmarks.synthetic:BENCHMARK",
    "world": "flankit.evals.benchmarks.world:BENCHMARK",
    "world_cloze": "flankit.evals.benchmarks.world:CLOZE",
}


def register(benchmark: Benchmark) -> Benchmark:
    """Add (or replace) a benchmark under its name; return it."""
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def get(name: str) -> Benchmark:
    """The benchmark called `name`; an unknown name is an error with the closest one."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise FlankitError(f"unknown benchmark {name!r}", hint=suggest(name, REGISTRY))
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = REGISTRY[name] = getattr(importlib.import_module(module), attr)
    return entry


def names() -> list[str]:
    """Every registered benchmark's name, in registry order."""
    return list(REGISTRY)


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
