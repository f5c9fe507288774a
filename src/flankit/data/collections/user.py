"""User collections: a YAML file naming table or hub sources, field mappings, steps and templates.

Sources are JSONL, CSV or Parquet files, or Hugging Face hub datasets (remote code off unless a
source turns it on). Each task may list `preprocess:` steps (see `flankit.data.preprocess`),
applied to the mapped rows before the task is built; templates are checked against the fields
the rows will have after them, before any row is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flankit.config import from_dict
from flankit.data import preprocess
from flankit.data.collections.spec import CollectionSpec
from flankit.data.sources import TABLE_FORMATS, BadRows, map_fields, read_table_rows
from flankit.data.tasks import Task
from flankit.data.templates import parse_templates
from flankit.errors import FlankitError


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
    preprocess: list[str] = field(default_factory=list)  # named steps, in order


@dataclass(frozen=True)
class UserCollection:
    name: str
    tasks: list[UserTask]
    description: str = ""


def _read(path: Path) -> UserCollection:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlankitError(f"cannot read collection file: {exc.strerror}", file=str(path)) from exc
    except yaml.YAMLError as exc:
        raise FlankitError(f"invalid YAML: {exc}", file=str(path)) from exc
    return from_dict(UserCollection, raw, where=str(path))


def _checked_templates(ut: UserTask, where: str):
    """The task's templates, checked against the fields its rows will have: a typo in a template,
    a field map or a step name fails here, before any row is read."""
    src = ut.source
    if src.format not in TABLE_FORMATS:
        raise FlankitError(
            f"source format {src.format!r} is not one of {TABLE_FORMATS}", file=where, task=ut.name
        )
    fields = preprocess.fields_after(src.fields, ut.preprocess, where=where, task=ut.name)
    if "answer" not in fields:
        raise FlankitError(
            "the field mapping needs an 'answer' column (or a preprocess step that makes one)",
            file=where,
            task=ut.name,
            field="answer",
        )
    templates = parse_templates(ut.templates, where=where, task=ut.name)
    for tpl in templates:
        tpl.validate(fields, task=ut.name, where=where)
    return templates


def load_user_collection(path: str | Path, bad: BadRows) -> list[Task]:
    """Tasks from a YAML collection file: sources, field mappings, steps and templates."""
    path = Path(path)
    spec = _read(path)
    tasks = []
    for ut in spec.tasks:
        src = ut.source
        templates = _checked_templates(ut, str(path))
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
        if ut.preprocess:
            examples = preprocess.run_steps(
                examples,
                ut.preprocess,
                collection=spec.name,
                task=ut.name,
                bad=bad,
                source=src.path,
            )
        tasks.append(Task(ut.name, spec.name, examples, templates, meta={"source": src.path}))
    return tasks


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    if not spec.path:
        raise FlankitError(
            f"unknown collection {spec.name!r}",
            hint="a user collection needs `path:` to its YAML file",
        )
    return load_user_collection(spec.path, bad)


def names(spec: CollectionSpec, root: Path) -> list[str]:
    return [t.name for t in _read(Path(spec.path)).tasks] if spec.path else []
