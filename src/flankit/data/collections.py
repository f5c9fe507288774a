"""Named task collections: `cot`, `bigbench`, `niv2`, `synthetic`, and user collections from YAML.

`load_collection(spec, ...)` returns the collection's tasks, with benchmark-source tasks removed
unless asked for. Collections are found through a plain dict of loaders; nothing loads on import.

Example:
    >>> tasks = load_collection(CollectionSpec(name="synthetic", examples_per_task=10))
    >>> len(tasks) > 30 and all(t.collection == "synthetic" for t in tasks)
    True
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flankit.config import from_dict
from flankit.data import synthetic, world_tasks
from flankit.data.sources import (
    TABLE_FORMATS,
    BadRows,
    bigbench_examples,
    map_fields,
    niv2_examples,
    read_cot_tsv,
    read_json,
    read_table_rows,
)
from flankit.data.tasks import Example, Task
from flankit.data.templates import Template, parse_templates
from flankit.errors import FlankitError

BUILTIN = ("cot", "bigbench", "niv2", "synthetic", "world", "world_text")


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
    "bigbench": CollectionDefaults(5_000, ALL_FORMATS, 0.0, 0.0, None),
    "synthetic": CollectionDefaults(5_000, ALL_FORMATS, 0.5, 0.0, None),
    "world": CollectionDefaults(5_000, ALL_FORMATS, 0.5, 0.0, None),
    # Pretraining rows are plain text: one zero-shot rendering, no options, no CoT.
    "world_text": CollectionDefaults(10**9, {"zsnoopt": 1.0}, 0.0, 0.0, None),
}
USER_DEFAULTS = CollectionDefaults(30_000, ALL_FORMATS, 0.5, 0.0, None)


def defaults_for(spec: CollectionSpec) -> CollectionDefaults:
    return DEFAULTS.get(spec.name, USER_DEFAULTS)


def data_root(root: str | None = None) -> Path:
    """Where the real data lives: the argument, $FLANKIT_DATA, or ../shared/data."""
    return Path(root or os.environ.get("FLANKIT_DATA") or "../shared/data")


# ---------------------------------------------------------------- templates for the builtins

COT_DIRECT = (
    Template("cot_d0", "{question}", "{answer}"),
    Template("cot_d1", "Question: {question}\nAnswer:", "{answer}"),
    Template("cot_d2", "Answer the following question.\n{question}", "{answer}"),
    Template("cot_d3", "{question}\nGive only the final answer.", "{answer}"),
    Template("cot_d4", "Q: {question}\nA:", "{answer}"),
)
COT_COT = (
    Template(
        "cot_c0",
        "{question} Let's think first. Chain of thought:",
        "{rationale}\nTherefore, the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c1",
        "{question}\nLet's think step by step.",
        "{rationale}\nSo the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c2",
        "Question: {question}\nAnswer with step-by-step reasoning:",
        "{rationale}\nThe answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c3",
        "{question} Think carefully first, then make a decision:",
        "{rationale} So, the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c4",
        "Q: {question}\nA: Let's think step by step.",
        "{rationale} The answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c5",
        "Use reasoning to lead to the answer of the following question:\n{question}\n Reasoning process:",
        "{rationale}\nThe final answer: {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c6",
        "{question} Stream of consciousness first, then make a decision:",
        "{rationale}\nThus, the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c7",
        "Question: {question}\nLet's think step by step:",
        "{rationale} Final answer: {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c8",
        "Answer this question, explaining your reasoning.\n{question}",
        "{rationale}\nAnswer: {answer}",
        kind="cot",
    ),
    Template(
        "cot_c9",
        "{question}\nWork it out step by step before answering.",
        "Step by step: {rationale}\nSo the final answer is {answer}.",
        kind="cot",
    ),
)
COT_INVERTED = (
    Template(
        "cot_i0",
        "Given the following reasoning and answer, what was the question? {rationale}\n The answer: {answer}",
        "The question {question}",
        kind="inverted",
    ),
    Template(
        "cot_i1",
        "Reverse engineer the question: {answer}\nReasoning: {rationale}",
        "The question: {question}",
        kind="inverted",
    ),
    Template(
        "cot_i2",
        "Come up with a question and reasoning that would justify this answer: {answer}",
        "The question is: {question}\nStep-by-step reasoning process: {rationale}",
        kind="inverted",
    ),
    Template(
        "cot_i3",
        "What question would produce this chain of thought and answer?\n{rationale}\nAnswer: {answer}",
        "Question: {question}",
        kind="inverted",
    ),
    Template(
        "cot_i4",
        "Imagine a question and stream-of-consciousness explanation for which this is the answer: {answer}",
        "Question: {question}\nStream of consciousness: {rationale}",
        kind="inverted",
    ),
)

BIGBENCH_TEMPLATES = (
    Template("bb_native", "{input}", "{answer}"),
    Template("bb_q", "Q: {input}\nA:", "{answer}"),
    Template("bb_desc", "{input}", "{answer}", prefix="{description}\n\n"),
    Template("bb_task", "Input: {input}\nOutput:", "{answer}", prefix="Task: {description}\n\n"),
    Template("bb_question", "Question: {input}\n\nAnswer:", "{answer}"),
    Template("bb_answer", "{input}\nAnswer:", "{answer}"),
)

NIV2_TEMPLATES = (
    Template("niv2_0", "{input}\nOutput:", "{answer}", prefix="Definition: {definition}\n\n"),
    Template("niv2_1", "Input: {input}\nOutput:", "{answer}", prefix="{definition}\n\n"),
    Template("niv2_2", "Q: {input}\nA:", "{answer}", prefix="TASK DEFINITION: {definition}\n\n"),
    Template(
        "niv2_3",
        "Problem: {input}\nSolution:",
        "{answer}",
        prefix="Detailed Instructions: {definition}\n",
    ),
    Template("niv2_4", "{input}\n", "{answer}", prefix="{definition}\n"),
    Template(
        "niv2_5", "Input: {input}\nAnswer:", "{answer}", prefix="Instructions: {definition}\n\n"
    ),
    Template("niv2_6", "Student: {input}\nTeacher:", "{answer}", prefix="Teacher: {definition}\n"),
    Template(
        "niv2_7",
        "Question: {input}\nAnswer:",
        "{answer}",
        prefix="Part 1. Definition\n{definition}\nPart 2. Task\n",
    ),
)


# ---------------------------------------------------------------- loaders


def _require_dir(path: Path, name: str) -> Path:
    if not path.is_dir():
        raise FlankitError(
            f"collection {name}: directory not found: {path}",
            hint="pass `path:` in the collection spec, --data-root, or set FLANKIT_DATA",
        )
    return path


def _load_cot(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    folder = _require_dir(Path(spec.path) if spec.path else root / "flan_cot", "cot")
    tasks = []
    for tsv in sorted(folder.glob("*_train.tsv")):
        name = "cot_" + tsv.name[: -len("_train.tsv")]
        examples = list(read_cot_tsv(tsv, task=name, bad=bad))
        tasks.append(
            Task(
                name,
                "cot",
                examples,
                COT_DIRECT + COT_COT + COT_INVERTED,
                meta={"source": str(tsv)},
            )
        )
    return tasks


def _bigbench_index(folder: Path) -> dict[str, dict]:
    index_path = folder.parent / "index.json"
    if not index_path.exists():
        index_path = folder / "index.json"
    if not index_path.exists():
        return {}
    return {e["name"]: e for e in read_json(index_path)}


# BIG-bench tasks that BIG-Bench Hard was drawn from, for checkouts without our index.json.
BBH_SOURCE_PREFIXES = (
    "boolean_expressions",
    "causal_judgment",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction",
    "movie_recommendation",
    "multistep_arithmetic",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects",
    "web_of_lies",
    "word_sorting",
)


def _load_bigbench(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    folder = _require_dir(Path(spec.path) if spec.path else root / "bigbench" / "tasks", "bigbench")
    index = _bigbench_index(folder)
    files = sorted(folder.glob("*.json"))
    if not files:  # a BIG-bench checkout or sdist: benchmark_tasks/<task>/[<subtask>/]task.json
        files = sorted(folder.glob("**/task.json"))
    tasks = []
    for path in files:
        if path.name == "index.json":
            continue
        if path.name == "task.json":
            stem = "__".join(path.parent.relative_to(folder).parts)
        else:
            stem = path.stem
        name = "bb_" + stem
        entry = index.get(stem, {})
        bbh = entry.get("bbh_source", stem.startswith(BBH_SOURCE_PREFIXES))
        data = read_json(path, task=name)
        if not isinstance(data, dict):
            raise FlankitError("a BIG-bench task file must hold a JSON object", file=str(path))
        if "examples" not in data and _is_parent_task(path, data):
            continue  # a task with subtasks: its examples are in the subtasks' files
        examples = list(bigbench_examples(data, path=str(path), task=name, bad=bad))
        prefix = data.get("task_prefix") or ""
        native = Template(
            "bb_native",
            _escape(data.get("example_input_prefix", ""))
            + "{input}"
            + _escape(data.get("example_output_prefix", "")),
            "{answer}",
            prefix=_escape(prefix),
        )
        templates = (native,) + BIGBENCH_TEMPLATES[1:]
        tasks.append(
            Task(
                name,
                "bigbench",
                examples,
                templates,
                meta={"source": str(path), "bbh_source": bbh, "keywords": data.get("keywords", [])},
            )
        )
    return tasks


def _is_parent_task(path: Path, data: dict) -> bool:
    return bool(data.get("subtasks")) or (
        path.name == "task.json" and any(path.parent.glob("*/task.json"))
    )


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _load_niv2(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    folder = _require_dir(Path(spec.path) if spec.path else root / "niv2" / "tasks", "niv2")
    tasks = []
    for path in sorted(folder.glob("task*.json")):
        name = path.stem
        data = read_json(path, task=name)
        if not isinstance(data, dict):
            raise FlankitError(
                "a NIV2 task file must hold a JSON object", file=str(path), task=name
            )
        _, instances, positives = niv2_examples(data, path=str(path), task=name, bad=bad)
        sources = " ".join(data.get("Source") or []).lower()
        mmlu = "mmlu" in name.lower() or "mmlu" in sources
        tasks.append(
            Task(
                name,
                "niv2",
                instances,
                NIV2_TEMPLATES,
                exemplars=positives,
                max_exemplars=2,
                meta={"source": str(path), "bbh_source": False, "mmlu_source": mmlu},
            )
        )
    return tasks


def _load_synthetic(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    names = synthetic.HELD_OUT if spec.held_out else synthetic.HELD_IN
    n = spec.examples_per_task or 500
    if spec.split not in ("train", "eval"):
        raise FlankitError(f"collection synthetic: split {spec.split!r} is not 'train' or 'eval'")
    split = "eval" if spec.held_out else spec.split
    return [synthetic.synthetic_task(f, n, split=split) for f in names]


def _load_world(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    names = world_tasks.HELD_OUT if spec.held_out else world_tasks.HELD_IN
    split = "eval" if spec.held_out else spec.split
    return [world_tasks.world_task(f, spec.examples_per_task, split=split) for f in names]


def _load_world_text(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    """The world's pretraining documents as (inputs, targets) rows of one task."""
    from flankit.data.world import build_world, pretraining_rows

    world = build_world(world_tasks.WORLD_SEED, world_tasks.WORLD_PEOPLE)
    seed = 1 if spec.split == "eval" else 0  # other documents and other noise
    rows = pretraining_rows(
        world, spec.examples_per_task or 2000, objective=spec.objective, seed=seed
    )
    examples = [Example(r, f"world_text:{spec.split}#{i}") for i, r in enumerate(rows)]
    tpl = (Template("text", "{inputs}", "{targets}"),)
    return [Task("world_text", "world_text", examples, tpl, meta={"source": "world"})]


# ---------------------------------------------------------------- user collections (YAML)


@dataclass(frozen=True)
class UserSource:
    format: str  # jsonl | csv | parquet | hub
    path: str
    fields: dict[str, str]  # task field -> source column
    split: str = "train"
    name: str | None = None  # hub dataset config
    revision: str | None = None
    trust_remote_code: bool = False


@dataclass(frozen=True)
class UserTask:
    name: str
    source: UserSource
    templates: list[dict]


@dataclass(frozen=True)
class UserCollection:
    name: str
    tasks: list[UserTask]
    description: str = ""


def load_user_collection(path: str | Path, bad: BadRows) -> list[Task]:
    """Tasks from a YAML collection file: sources, field mappings and templates."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlankitError(f"cannot read collection file: {exc.strerror}", file=str(path)) from exc
    except yaml.YAMLError as exc:
        raise FlankitError(f"invalid YAML: {exc}", file=str(path)) from exc
    spec = from_dict(UserCollection, raw, where=str(path))
    tasks = []
    for ut in spec.tasks:
        src = ut.source
        if src.format not in TABLE_FORMATS:
            raise FlankitError(
                f"source format {src.format!r} is not one of {TABLE_FORMATS}",
                file=str(path),
                task=ut.name,
            )
        for required in ("answer",):
            if required not in src.fields:
                raise FlankitError(
                    "the field mapping needs an 'answer' column",
                    file=str(path),
                    task=ut.name,
                    field="answer",
                )
        # Templates are checked before any row is read, so a typo fails at once.
        templates = parse_templates(ut.templates, where=str(path), task=ut.name)
        for tpl in templates:
            tpl.validate(set(src.fields), task=ut.name, where=str(path))
        location = src.path
        if src.format != "hub" and not os.path.isabs(location):
            location = str((path.parent / location).resolve())
        rows = read_table_rows(
            location,
            src.format,
            task=ut.name,
            split=src.split,
            name=src.name,
            revision=src.revision,
            trust_remote_code=src.trust_remote_code,
        )
        examples = list(map_fields(rows, src.fields, task=ut.name, bad=bad))
        tasks.append(Task(ut.name, spec.name, examples, templates, meta={"source": src.path}))
    return tasks


LOADERS: dict[str, Callable[[CollectionSpec, Path, BadRows], list[Task]]] = {
    "cot": _load_cot,
    "bigbench": _load_bigbench,
    "niv2": _load_niv2,
    "synthetic": _load_synthetic,
    "world": _load_world,
    "world_text": _load_world_text,
}


def is_benchmark_source(task: Task) -> bool:
    """Tasks held out because an evaluation benchmark was built from them (BBH, MMLU)."""
    return bool(task.meta.get("bbh_source") or task.meta.get("mmlu_source"))


def load_collection(
    spec: CollectionSpec,
    root: str | Path | None = None,
    bad: BadRows | None = None,
    excluded: dict[str, str] | None = None,
) -> list[Task]:
    """Load the tasks of one collection, filtered by the spec; excluded tasks go into `excluded`."""
    bad = bad if bad is not None else BadRows()
    excluded = excluded if excluded is not None else {}
    loader = LOADERS.get(spec.name)
    if loader is not None:
        tasks = loader(spec, data_root(str(root) if root else None), bad)
    elif spec.path:
        tasks = load_user_collection(spec.path, bad)
    else:
        raise FlankitError(
            f"unknown collection {spec.name!r}",
            hint=f"builtins are {', '.join(BUILTIN)}; a user collection needs `path:` to its YAML",
        )
    kept = []
    for task in tasks:
        if not spec.include_benchmark_sources and is_benchmark_source(task):
            excluded[task.name] = "benchmark source (BBH/MMLU)"
        elif spec.tasks and not any(fnmatch.fnmatchcase(task.name, p) for p in spec.tasks):
            continue
        elif any(fnmatch.fnmatchcase(task.name, p) for p in spec.exclude):
            excluded[task.name] = "excluded by config"
        else:
            kept.append(task)
    if spec.tasks:
        missing = [p for p in spec.tasks if not any(fnmatch.fnmatchcase(t.name, p) for t in tasks)]
        if missing:
            raise FlankitError(
                f"collection {spec.name}: no task matches {missing[0]!r}", task=missing[0]
            )
    for task in kept:
        if not task.examples:
            skipped = bad.counts.get(task.name, 0)
            raise FlankitError(
                "no examples" + (f": all {skipped} rows were bad and skipped" if skipped else ""),
                file=task.meta.get("source"),
                task=task.name,
                hint="fix or remove the file, or leave the task out (collection `exclude:`)",
            )
    if spec.max_tasks is not None:
        kept = kept[: spec.max_tasks]
    if spec.examples_per_task is not None and spec.name != "synthetic":
        for task in kept:
            task.examples = task.examples[: spec.examples_per_task]
    return kept


def find_task(name: str, root: str | Path | None = None, bad: BadRows | None = None) -> Task:
    """Find one task by name across the builtin collections (by its name prefix)."""
    if name.startswith("syn_"):
        family = name[4:]
        if family not in synthetic.FAMILY_BY_NAME:
            raise FlankitError(
                f"unknown task {name!r}",
                task=name,
                hint=_suggest(name, [f"syn_{f}" for f in synthetic.FAMILY_BY_NAME]),
            )
        return synthetic.synthetic_task(family)
    if name.startswith("world_") and name[6:] in world_tasks.FAMILY_BY_NAME:
        return world_tasks.world_task(name[6:])
    collection = (
        "cot"
        if name.startswith("cot_")
        else "bigbench"
        if name.startswith("bb_")
        else "niv2"
        if name.startswith("task")
        else None
    )
    if collection is None:
        raise FlankitError(
            f"unknown task {name!r}",
            task=name,
            hint="task names start with cot_, bb_, task<N>_, syn_ or world_; see `flankit data ls`",
        )
    tasks = load_collection(
        CollectionSpec(name=collection, include_benchmark_sources=True), root, bad
    )
    for task in tasks:
        if task.name == name:
            return task
    raise FlankitError(
        f"unknown task {name!r} in collection {collection}",
        task=name,
        hint=_suggest(name, [t.name for t in tasks]),
    )


def _suggest(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=3)
    return f"did you mean {', '.join(close)}?" if close else "see `flankit data ls`"
