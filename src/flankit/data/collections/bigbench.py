"""BIG-bench: one JSON file per task (ours), or a checkout's `<task>/[<subtask>/]task.json`.

Tasks that BIG-Bench Hard was drawn from are marked `bbh_source`, so mixtures leave them out.
"""

from __future__ import annotations

from pathlib import Path

from flankit.data.collections.spec import CollectionSpec, folder_for
from flankit.data.sources import BadRows, bigbench_examples, read_json, read_json_checked
from flankit.data.tasks import Task
from flankit.data.templates import Template, literal
from flankit.errors import FlankitError

BIGBENCH_TEMPLATES = (
    Template("bb_native", "{input}", "{answer}"),
    Template("bb_q", "Q: {input}\nA:", "{answer}"),
    Template("bb_desc", "{input}", "{answer}", prefix="{description}\n\n"),
    Template("bb_task", "Input: {input}\nOutput:", "{answer}", prefix="Task: {description}\n\n"),
    Template("bb_question", "Question: {input}\n\nAnswer:", "{answer}"),
    Template("bb_answer", "{input}\nAnswer:", "{answer}"),
)

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


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    folder = folder_for(spec, root, "bigbench", "tasks")
    index = _bigbench_index(folder)
    tasks = []
    for stem, path in _task_files(folder):
        name = "bb_" + stem
        entry = index.get(stem, {})
        bbh = entry.get("bbh_source", stem.startswith(BBH_SOURCE_PREFIXES))
        data, utf8 = read_json_checked(path, task=name)
        if not isinstance(data, dict):
            raise FlankitError("a BIG-bench task file must hold a JSON object", file=str(path))
        if "examples" not in data and _is_parent_task(path, data):
            continue  # a task with subtasks: its examples are in the subtasks' files
        examples = list(bigbench_examples(data, path=str(path), task=name, bad=bad, utf8=utf8))
        prefix = data.get("task_prefix") or ""
        native = Template(
            "bb_native",
            literal(data.get("example_input_prefix", ""))
            + "{input}"
            + literal(data.get("example_output_prefix", "")),
            "{answer}",
            prefix=literal(prefix),
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


def _bigbench_index(folder: Path) -> dict[str, dict]:
    index_path = folder.parent / "index.json"
    if not index_path.exists():
        index_path = folder / "index.json"
    if not index_path.exists():
        return {}
    return {e["name"]: e for e in read_json(index_path)}


def _task_files(folder: Path) -> list[tuple[str, Path]]:
    """(stem, file) of every task file: `<stem>.json`, or a checkout's `<task>/[<sub>/]task.json`."""
    files = sorted(folder.glob("*.json"))
    if not files:  # a BIG-bench checkout or sdist: benchmark_tasks/<task>/[<subtask>/]task.json
        files = sorted(folder.glob("**/task.json"))
    out = []
    for path in files:
        if path.name == "index.json":
            continue
        if path.name == "task.json":
            out.append(("__".join(path.parent.relative_to(folder).parts), path))
        else:
            out.append((path.stem, path))
    return out


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return ["bb_" + stem for stem, _ in _task_files(folder_for(spec, root, "bigbench", "tasks"))]
