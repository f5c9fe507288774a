"""What an evaluation runs (`EvalConfig`) and what an `flankit eval` job is (`EvalJob`).

Both are typed frozen dataclasses loaded by `flankit.config.load_config`. Their fields are the
run-wide settings below plus every registered benchmark's options, flat, as
`<benchmark>_<option>` (`mmlu_split`, `bbh_subtasks`, `tydiqa_dev`, ...): the same names as the
`--mmlu-split`, `--bbh-subtasks` flags. The classes are made from the benchmark registry when
this module is first imported, so a benchmark module's `Options` is the only place its settings
are written; a benchmark registered later runs with its options' defaults.

Example:
    >>> cfg = EvalConfig(benchmarks=["bbh"], bbh_subtasks=["navigate"])
    >>> options_of(cfg, "bbh").subtasks
    ['navigate']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from flankit.errors import FlankitError, suggest
from flankit.evals import benchmarks

MODES = ("direct", "cot")


@dataclass(frozen=True)
class _Run:
    """The run-wide settings of an evaluation (every benchmark's options are added to these)."""

    benchmarks: list[str] = field(default_factory=lambda: ["mmlu", "bbh", "tydiqa", "mgsm"])
    modes: list[str] = field(default_factory=lambda: ["direct", "cot"])
    limit: int | None = None  # items per subtask / subject / language
    self_consistency: int = 0  # k sampled CoT paths, majority vote (0: greedy only)
    sc_temperature: float = 0.7
    data_root: str | None = None
    batch_size: int = 8
    max_new_tokens: int | None = None  # cap on every item's generation length (quick runs)
    skip_bad_rows: bool = False  # skip (and count, in results.json) malformed benchmark rows


@dataclass(frozen=True)
class _Job:
    """The settings of an `flankit eval` job besides what it evaluates: the model and the output."""

    model: str | None = None  # a local folder, a hub id or a .gguf file
    out: str | None = None  # output folder: results.json, samples.jsonl, report.md
    gguf_file: str | None = None
    trust_remote_code: bool = False
    backend: Literal["hf", "vllm"] = "hf"
    tensor_parallel_size: int = 1  # GPUs per model (vllm backend)
    max_input_length: int | None = None  # prompt tokens kept, cut from the left


def option_fields() -> list[tuple[str, Any, dataclasses.Field, benchmarks.Benchmark]]:
    """(config key, type, field, benchmark) for every registered benchmark's options, once each."""
    out, seen = [], set()
    for name in benchmarks.names():
        bench = benchmarks.get(name)
        hints = get_type_hints(bench.options)
        for f in dataclasses.fields(bench.options):
            key = f"{bench.key}_{f.name}"
            if key not in seen:
                seen.add(key)
                out.append((key, hints[f.name], f, bench))
    return out


def _copy(f: dataclasses.Field) -> dataclasses.Field:
    if f.default_factory is not dataclasses.MISSING:
        return field(default_factory=f.default_factory, metadata=f.metadata)
    return field(default=f.default, metadata=f.metadata)


def _check(cfg) -> None:
    """Every benchmark and mode named exists (a typo gets the closest name)."""
    for name in cfg.benchmarks:
        benchmarks.get(name)
    for mode in cfg.modes:
        if mode not in MODES:
            raise FlankitError(f"unknown mode {mode!r}", hint=suggest(mode, MODES))


def _make(name: str, doc: str, parts: list[type], namespace: dict) -> type:
    specs = []
    for part in parts:
        hints = get_type_hints(part)
        specs += [(f.name, hints[f.name], _copy(f)) for f in dataclasses.fields(part)]
    specs += [(key, tp, _copy(f)) for key, tp, f, _ in option_fields()]
    cls = dataclasses.make_dataclass(
        name,
        specs,
        frozen=True,
        namespace={"__post_init__": _check, "__doc__": doc, **namespace},
    )
    cls.__module__ = __name__
    return cls


EvalConfig = _make(
    "EvalConfig",
    "What an evaluation runs: benchmarks, modes, limits and each benchmark's options.",
    [_Run],
    {},
)


def _suite(job) -> EvalConfig:
    """What the job evaluates: its `EvalConfig` fields."""
    return EvalConfig(**{f.name: getattr(job, f.name) for f in dataclasses.fields(EvalConfig)})


_TRAIN_KEYS = [
    "data", "optim", "steps", "micro_batch_size", "precision", "attention", "parallel", "seed",
    "out_dir", "save_every", "keep_last", "eval_every", "heldout", "heldout_examples",
    "eval_suite", "log_every", "chunk_examples", "vocab_size", "log_to",
]  # fmt: skip
_BUILD_KEYS = [
    "collections",
    "mixture",
    "render",
    "decontaminate",
    "features",
    "output",
    "num_proc",
]

EvalJob = _make(
    "EvalJob",
    "An `flankit eval` job: the model, the output folder and what to evaluate (`suite()`).",
    [_Job, _Run],
    {
        "OTHER_COMMANDS_KEYS": {
            **{k: "`flankit train`, not by `flankit eval`" for k in _TRAIN_KEYS},
            **{k: "`flankit data build`, not by `flankit eval`" for k in _BUILD_KEYS},
        },
        "suite": _suite,
    },
)


def options_of(cfg, name: str):
    """The typed options of benchmark `name` in `cfg` (defaults for keys `cfg` lacks)."""
    bench = benchmarks.get(name)
    values = {}
    for f in dataclasses.fields(bench.options):
        key = f"{bench.key}_{f.name}"
        if hasattr(cfg, key):
            values[f.name] = getattr(cfg, key)
    return bench.options(**values)
