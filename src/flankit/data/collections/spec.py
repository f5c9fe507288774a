"""What a data config says about one collection, and the defaults each collection kind mixes at."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from flankit.errors import FlankitError


@dataclass(frozen=True)
class CollectionSpec:
    """One collection in a mixture: where it is, which tasks, and how it is mixed and rendered."""

    name: str
    path: str | None = None  # directory (builtins) or YAML file (user collections)
    rate: float | None = None  # share of the mixture; None = from the preset, or by size
    cap: int | None = None  # max examples per task counted for mixing
    role: str | None = None  # preset role: muffin, t0sf, niv2, cot, dialog
    formats: dict[str, float] | None = None  # zsopt/zsnoopt/fsopt/fsnoopt weights
    cot: float | None = None  # probability of a CoT rendering where a task has rationales
    inversion: float | None = None  # probability of input inversion where a task supports it
    tasks: list[str] | None = None  # task names or glob patterns to keep
    exclude: list[str] = field(default_factory=list)
    max_tasks: int | None = None  # keep the first N tasks in name order (task-count scaling)
    examples_per_task: int | None = None  # synthetic: rows per family; others: truncate
    include_benchmark_sources: bool = False
    held_out: bool = False  # synthetic: the held-out families instead of the held-in ones
    split: str = "train"  # synthetic: "eval" gives rows that never repeat a training row
    objective: str = "span_corruption"  # world_text: span_corruption (T5) or next_token
    preprocess: list[str] = field(default_factory=list)  # named row steps, after the loader's own
    selection: str | None = None  # flan_niv2: flan (default), train or test (official split), all
    task_sources: list[str] | None = None  # flan_submix: Flan2021, P3, NIv2, CoT, Dialog rows only


@dataclass(frozen=True)
class CollectionDefaults:
    cap: int
    formats: dict[str, float]
    cot: float
    inversion: float
    role: str | None


ALL_FORMATS = {"zsopt": 1.0, "zsnoopt": 1.0, "fsopt": 1.0, "fsnoopt": 1.0}
DEFAULTS = {
    # CoT and NIV2 have no no-options variants in the Flan Collection; CoT-II is mixed at 0.3 : 1.
    "cot": CollectionDefaults(100_000, {"zsopt": 1.0, "fsopt": 1.0}, 1.0, 0.3 / 1.3, "cot"),
    "niv2": CollectionDefaults(5_000, {"zsopt": 1.0, "fsopt": 1.0}, 0.0, 0.0, "niv2"),
    # Muffin rows are rendered by FLAN's rules at load; the mixture only samples them.
    "muffin": CollectionDefaults(30_000, ALL_FORMATS, 0.0, 0.0, "muffin"),
    "bigbench": CollectionDefaults(5_000, ALL_FORMATS, 0.0, 0.0, None),
    "synthetic": CollectionDefaults(5_000, ALL_FORMATS, 0.5, 0.0, None),
    "world": CollectionDefaults(5_000, ALL_FORMATS, 0.5, 0.0, None),
    # The Flan 2022 kinds render with FLAN's own prompts; their inversions mix at 0.3 : 1.
    "flan_niv2": CollectionDefaults(5_000, {"zsopt": 1.0, "fsopt": 1.0}, 0.0, 0.0, "niv2"),
    "flan_cot": CollectionDefaults(100_000, {"zsopt": 1.0, "fsopt": 1.0}, 1.0, 0.3 / 1.3, "cot"),
    "flan_dialog": CollectionDefaults(
        200_000, {"zsopt": 1.0, "fsopt": 1.0}, 0.0, 0.3 / 1.3, "dialog"
    ),
    # T0-SF: FLAN's T0 cap; all four template types, rendered at load like Muffin.
    "t0sf": CollectionDefaults(20_000, ALL_FORMATS, 0.0, 0.0, "t0sf"),
    # The published submixes: rows as published; each named submix mixes at its role's rate.
    "flan_submix": CollectionDefaults(30_000, ALL_FORMATS, 0.0, 0.0, None),
    "flan2021_submix": CollectionDefaults(30_000, ALL_FORMATS, 0.0, 0.0, "muffin"),
    "t0_submix": CollectionDefaults(20_000, ALL_FORMATS, 0.0, 0.0, "t0sf"),
    "niv2_submix": CollectionDefaults(5_000, ALL_FORMATS, 0.0, 0.0, "niv2"),
    "cot_submix": CollectionDefaults(100_000, ALL_FORMATS, 0.0, 0.0, "cot"),
    "dialog_submix": CollectionDefaults(200_000, ALL_FORMATS, 0.0, 0.0, "dialog"),
    # Pretraining rows are plain text: one zero-shot rendering, no options, no CoT.
    "world_text": CollectionDefaults(10**9, {"zsnoopt": 1.0}, 0.0, 0.0, None),
}
USER_DEFAULTS = CollectionDefaults(30_000, ALL_FORMATS, 0.5, 0.0, None)


def defaults_for(spec: CollectionSpec) -> CollectionDefaults:
    return DEFAULTS.get(spec.name, USER_DEFAULTS)


def data_root(root: str | None = None) -> Path:
    """Where the real data lives: the argument, $FLANKIT_DATA, or ../shared/data."""
    return Path(root or os.environ.get("FLANKIT_DATA") or "../shared/data")


def require_dir(path: Path, name: str) -> Path:
    if not path.is_dir():
        raise FlankitError(
            f"collection {name}: directory not found: {path}",
            hint="pass `path:` in the collection spec, --data-root, or set FLANKIT_DATA",
        )
    return path


def folder_for(spec: CollectionSpec, root: Path, *default: str) -> Path:
    """The spec's `path:`, else `default` under the data root; an error if it is not a folder."""
    return require_dir(Path(spec.path) if spec.path else root.joinpath(*default), spec.name)


def named_family(name: str, prefix: str, families) -> str | None:
    """The family that task name `<prefix><family>` names, or None when it names none."""
    family = name.removeprefix(prefix)
    return family if name == prefix + family and family in families else None
