"""Natural Instructions v2: one `task<N>_<name>.json` per task, with a definition and positives.

Tasks built from MMLU are marked `mmlu_source`, so mixtures leave them out.
"""

from __future__ import annotations

from pathlib import Path

from flankit.data.collections.spec import CollectionSpec, folder_for
from flankit.data.sources import BadRows, niv2_examples, read_json
from flankit.data.tasks import Task
from flankit.data.templates import Template
from flankit.errors import FlankitError

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


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    folder = folder_for(spec, root, "niv2", "tasks")
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


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return [
        path.stem for path in sorted(folder_for(spec, root, "niv2", "tasks").glob("task*.json"))
    ]
