"""Muffin (Flan 2021 inside Flan 2022): the 71-task catalog, its rows, and FLAN's four formats.

The catalog (`resources/muffin_tasks.json`) holds, per task, FLAN's template key, TFDS name and
training split, preprocessors and case counts, the hub source (id, config, split) and flankit's
status: `mapped` (hub mapping checked against the dataset card or the hub's files, preprocessor
ported), `unverified` (ported, hub mapping not yet checked) or `unavailable` (no faithful source
or no port; `reason` says which). Rows come from a local copy when one is there, else from the
hub through `datasets.load_dataset` (`muffin_sources`), the first N rows or a seeded sample of at
most 30,000 a task (`task_rows`), rendered by `flan_render` (`render_task`). A local copy of
task T is the hub split FLAN trains on (`load_dataset(id, config, split=<catalog split>)`), saved
as a `save_to_disk` folder `<folder>/T/`, or as `<folder>/T.parquet`, `<folder>/T.jsonl(.gz)` or
`<folder>/T/*.parquet` in the hub's columns; `save_local_copy` writes one.

Example:
    >>> catalog = load_catalog()
    >>> len(catalog), catalog["rte"].template_key, catalog["rte"].mixing_size()
    (71, 'rte', 2290)
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from itertools import count
from pathlib import Path
from typing import Any

from flankit.data.flan2022 import flan_render
from flankit.data.flan2022 import muffin_prep as prep
from flankit.data.flan2022 import muffin_text as text_prep
from flankit.data.flan2022.muffin_sources import (
    COLLECTION,
    check_source,
    hub_cached,
    hub_reachable,
    local_copy,
    read_hub,
    read_local,
    save_local_copy,
)
from flankit.data.flan2022.patterns import pattern_fields
from flankit.data.sources import BadRows, read_json
from flankit.errors import FlankitError

__all__ = [
    "COLLECTION",
    "MuffinTask",
    "TaskRows",
    "check_source",
    "hub_cached",
    "hub_reachable",
    "load_catalog",
    "local_copy",
    "prepare",
    "read_hub",
    "read_local",
    "render_task",
    "save_local_copy",
    "select",
    "task_rows",
]

TASK_SOURCE = "Flan2021"
MUFFIN_CAP = 30_000  # FLAN's per-task mixing cap for the Flan 2021 submix
STATUSES = ("mapped", "unverified", "unavailable")
ROWS_PER_TASK = MUFFIN_CAP  # source rows rendered per task by default (FLAN's rate cap)

_T = text_prep.translation
STEPS: dict[str, tuple[tuple[Callable, ...], Callable]] = {
    "bool_q": ((), prep.process_boolq),
    "rte": ((), prep.process_rte),
    "wsc": ((), prep.process_wsc),
    "record": ((), text_prep.process_record),
    "coqa": ((), text_prep.process_coqa),
    "para_crawl_enes": ((), text_prep.process_para_crawl_enes),
    "true_case": ((text_prep.keep_true_case,), text_prep.process_true_case),
    "fix_punct": ((text_prep.keep_fix_punct,), text_prep.process_fix_punct),
    "word_segment": ((), text_prep.process_word_segment),
    "wic": ((), prep.process_wic),
    "natural_questions": ((), text_prep.process_natural_questions),
    "trivia_qa": ((text_prep.keep_trivia_qa,), text_prep.process_trivia_qa),
    "arc_challenge": ((prep.keep_arc,), prep.process_arc),
    "arc_easy": ((prep.keep_arc,), prep.process_arc),
    "math_dataset": ((), text_prep.process_math_dataset),
    "aeslc": ((text_prep.keep_aeslc,), text_prep.process_aeslc),
    "cnn_dailymail": ((), text_prep.process_cnn_dailymail),
    "gigaword": ((text_prep.keep_gigaword,), text_prep.process_document_summary),
    "multi_news": ((), text_prep.process_document_summary),
    "samsum": ((), text_prep.process_samsum),
    "xsum": ((), text_prep.process_document_summary),
    "squad_v1": ((), text_prep.process_squad_v1),
    "squad_v2": ((), text_prep.process_squad_v2),
    "drop": ((), text_prep.process_drop),
    "multirc": ((), prep.process_multirc),
    "ag_news_subset": ((), prep.process_ag_news),
    "anli_r1": ((), prep.process_anli),
    "anli_r2": ((), prep.process_anli),
    "anli_r3": ((), prep.process_anli),
    "sentiment140": ((), prep.process_sentiment140),
    "imdb_reviews": ((), prep.process_imdb),
    "paws_wiki": ((), prep.process_paws),
    "definite_pronoun_resolution": ((), prep.process_definite_pronoun_resolution),
    "glue_mrpc": ((), prep.process_mrpc),
    "glue_qqp": ((), prep.process_qqp),
    "copa": ((), prep.process_copa),
    "winogrande": ((), prep.process_winogrande),
    "yelp_polarity_reviews": ((), prep.process_yelp),
    "cosmos_qa": ((prep.keep_cosmos_qa,), prep.process_cosmos_qa),
    "wmt14_enfr": ((), _T("English", "French", "fr")),
    "wmt16_translate_deen": ((), _T("English", "German", "de")),
    "wmt16_translate_tren": ((), _T("English", "Turkish", "tr")),
    "wmt16_translate_csen": ((), _T("English", "Czech", "cs")),
    "wmt16_translate_fien": ((), _T("English", "Finnish", "fi")),
    "wmt16_translate_roen": ((), _T("English", "Romanian", "ro")),
    "wmt16_translate_ruen": ((), _T("English", "Russian", "ru")),
    "common_gen": ((), text_prep.process_common_gen),
    "dart": ((), text_prep.process_dart),
    "e2e_nlg": ((), text_prep.process_e2e_nlg),
    "web_nlg_en": ((), text_prep.process_web_nlg),
    "wiki_lingua_english_en": ((), text_prep.process_wiki_lingua),
    "cb": ((), prep.process_cb),
    "cola": ((), prep.process_cola),
    "sst2": ((), prep.process_sst2),
    "mnli_matched": ((), prep.process_mnli),
    "mnli_mismatched": ((), prep.process_mnli),
    "qnli": ((), prep.process_qnli),
    "wnli": ((), prep.process_wnli),
    "snli": ((prep.keep_snli,), prep.process_mnli),
    "trec": ((), prep.process_trec),
    "stsb": ((), prep.process_stsb),
    "piqa": ((), prep.process_piqa),
    "openbookqa": ((), prep.process_openbookqa),
    "hellaswag": ((prep.keep_hellaswag,), prep.process_hellaswag),
    "lambada": ((), text_prep.process_lambada),
    "unified_qa_science_inst": (
        (text_prep.keep_unified_qa_science,),
        text_prep.process_unified_qa_science,
    ),
}


# The hub columns each preprocessor reads (checked against the hub's features by `check_source`).
COLUMNS: dict[str, tuple[str, ...]] = {
    "process_boolq": ("title", "passage", "question", "answer"),
    "process_rte": ("premise", "hypothesis", "label"),
    "process_cb": ("premise", "hypothesis", "label"),
    "process_anli": ("premise", "hypothesis", "label"),
    "process_mnli": ("premise", "hypothesis", "label"),
    "process_qnli": ("question", "sentence", "label"),
    "process_wnli": ("sentence1", "sentence2", "label"),
    "process_mrpc": ("sentence1", "sentence2", "label"),
    "process_paws": ("sentence1", "sentence2", "label"),
    "process_qqp": ("question1", "question2", "label"),
    "process_wic": ("sentence1", "sentence2", "word", "label"),
    "process_stsb": ("sentence1", "sentence2", "label"),
    "process_cola": ("sentence", "label"),
    "process_sst2": ("sentence", "label"),
    "process_imdb": ("text", "label"),
    "process_yelp": ("text", "label"),
    "process_sentiment140": ("text", "sentiment"),
    "process_ag_news": ("text", "title", "label"),
    "process_trec": ("text", "coarse_label"),
    "process_multirc": ("paragraph", "question", "answer", "label"),
    "process_wsc": ("text", "span1_text", "span2_index", "span2_text", "label"),
    "process_record": ("passage", "query", "entities", "answers"),
    "process_copa": ("premise", "question", "choice1", "choice2", "label"),
    "process_piqa": ("goal", "sol1", "sol2", "label"),
    "process_cosmos_qa": (
        "context",
        "question",
        "answer0",
        "answer1",
        "answer2",
        "answer3",
        "label",
    ),
    "process_winogrande": ("sentence", "option1", "option2", "answer"),
    "process_arc": ("question", "choices", "answerKey"),
    "process_openbookqa": ("question_stem", "fact1", "choices", "answerKey"),
    "process_hellaswag": ("ctx", "endings", "activity_label", "label"),
    "process_definite_pronoun_resolution": ("sentence", "pronoun", "candidates", "label"),
    "process_squad_v1": ("title", "context", "question", "answers"),
    "process_squad_v2": ("title", "context", "question", "answers"),
    "process_natural_questions": ("question", "answer"),
    "process_trivia_qa": ("question", "answer"),
    "process_drop": ("passage", "question", "answers_spans"),
    "process_math_dataset": ("question", "answer"),
    "process_lambada": ("text",),
    "process_aeslc": ("email_body", "subject_line"),
    "process_cnn_dailymail": ("article", "highlights"),
    "process_document_summary": ("document", "summary"),
    "process_samsum": ("dialogue", "summary"),
    "process_wiki_lingua": ("source", "target"),
    "process_common_gen": ("concepts", "target"),
    "process_e2e_nlg": ("meaning_representation", "target"),
    "process_web_nlg": ("input", "target"),
    "process_dart": ("tripleset", "target"),
    "process_coqa": ("story", "questions", "answers"),
    "process_unified_qa_science": ("input", "output"),
    # ParaCrawl rows on the hub: translation {en, <xx>} (TFDS has `en` and `<xx>` columns).
    "process_para_crawl_enes": ("translation",),
    "process_true_case": ("translation",),
    "process_fix_punct": ("translation",),
    "process_word_segment": ("translation",),
}


@dataclass(frozen=True)
class HubSource:
    """Where a task's rows are on the Hugging Face hub."""

    id: str | None
    config: str | None
    split: str
    revision: str | None = None  # e.g. the hub's parquet conversion of a loading-script dataset

    def describe(self) -> str:
        config = f"/{self.config}" if self.config else ""
        revision = f"@{self.revision}" if self.revision else ""
        return f"hub:{self.id}{config}{revision}:{self.split}"


@dataclass(frozen=True)
class MuffinTask:
    """One Flan 2021 task: FLAN's template key and split, its hub source and flankit status."""

    name: str
    template_key: str
    template_fields: tuple[str, ...]
    n_templates: int
    published_name: str
    tfds_name: str
    flan_split: str
    flan_preprocessors: tuple[str, ...]
    has_options: bool
    num_cases: Mapping[str, int]
    hub: HubSource
    hub_status: str
    evidence: str
    notes: str
    status: str
    reason: str

    def mixing_size(self, cap: int = MUFFIN_CAP, kind: str = "zero_shot") -> int:
        """FLAN's mixing rate: min(cap, the task's case count)."""
        return min(cap, int(self.num_cases.get(kind, 0)))

    @property
    def steps(self) -> tuple[tuple[Callable, ...], Callable] | None:
        return STEPS.get(self.name)

    @property
    def columns(self) -> tuple[str, ...]:
        """The hub columns the task's preprocessor reads (translation tasks: `translation`)."""
        steps = self.steps
        if steps is None:
            return ()
        name = steps[1].__name__
        if name.startswith("process_translation_"):
            return ("translation",)
        return COLUMNS.get(name, ())

    @property
    def preprocessor(self) -> str:
        steps = self.steps
        if steps is None:
            return ""
        return " + ".join(f.__name__ for f in (*steps[0], steps[1]))


def _resource(name: str) -> Path:
    return Path(str(resources.files("flankit.data.flan2022") / "resources" / name))


def _entry(raw: Mapping[str, Any], path: str, index: int) -> MuffinTask:
    try:
        hf, own = raw["hf"], raw["flankit"]
        task = MuffinTask(
            name=raw["task"],
            template_key=raw["template_key"],
            template_fields=tuple(raw["template_fields"]),
            n_templates=int(raw["n_templates"]),
            published_name=raw["published_task_name"],
            tfds_name=raw["tfds_name"],
            flan_split=raw["flan_v2_train_split"],
            flan_preprocessors=tuple(raw["flan_preprocessors"]),
            has_options=bool(raw["options_formatted"]),
            num_cases=dict(raw["num_cases"]),
            hub=HubSource(hf.get("id"), hf.get("config"), hf["split"], hf.get("revision")),
            hub_status=hf["status"],
            evidence=hf.get("evidence", ""),
            notes=hf.get("notes", ""),
            status=own["status"],
            reason=own["reason"],
        )
    except (KeyError, TypeError) as exc:
        raise FlankitError(
            f"catalog entry {index} is malformed: missing {exc}", file=path, line=index
        ) from exc
    if task.status not in STATUSES:
        raise FlankitError(
            f"unknown status {task.status!r} (one of {', '.join(STATUSES)})",
            file=path,
            task=task.name,
            field="flankit.status",
        )
    if task.status != "unavailable" and task.steps is None:
        raise FlankitError(
            f"status {task.status} but no preprocessor is ported",
            file=path,
            task=task.name,
            field="flankit.status",
        )
    return task


def load_catalog(path: str | Path | None = None) -> dict[str, MuffinTask]:
    """The Muffin tasks (71 in the shipped catalog), keyed by FLAN task name, in FLAN's order."""
    path = str(path) if path is not None else str(_resource("muffin_tasks.json"))
    data = read_json(path)
    entries = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise FlankitError("a Muffin catalog needs a `tasks` list", file=path, field="tasks")
    catalog = {}
    for index, raw in enumerate(entries):
        task = _entry(raw, path, index)
        catalog[task.name] = task
    return catalog


def select(catalog: Mapping[str, MuffinTask], patterns: Iterable[str] | None, exclude=()):
    """The catalog's tasks whose names match any of `patterns` (all without) and no `exclude`."""
    patterns = list(patterns or [])
    return [
        t
        for name, t in catalog.items()
        if (not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns))
        and not any(fnmatch.fnmatchcase(name, p) for p in exclude)
    ]


# ---------------------------------------------------------------- preprocess and render


@dataclass
class TaskRows:
    """A task's prepared template fields, where each came from, and what was left out."""

    task: MuffinTask
    source: str
    fields: list[dict[str, Any]] = field(default_factory=list)
    where: list[int] = field(default_factory=list)  # source row number of each prepared row
    filtered: int = 0
    seen: int = 0  # good rows read; more than len(fields) when a sample was taken


def required_fields(task: MuffinTask, templates: flan_render.FlanTemplates) -> set[str]:
    """The fields a task's rows must have for all four formats (options_ is made from options)."""
    key = task.template_key
    names: set[str] = set()
    for pairs in (templates.patterns[key], templates.patterns_no_options[key]):
        for inputs, targets in pairs:
            names |= pattern_fields(inputs) | pattern_fields(targets)
    for table in (templates.fewshot[key], templates.fewshot_no_options[key]):
        for pat in table:
            names |= pattern_fields(pat.inputs_with_target_prefix + pat.targets_with_separator)
    if "options_" in names:
        names = (names - {"options_"}) | {"options"}
    return names


def _error(
    task: MuffinTask, source: str, row: int, field: str | None, message: str
) -> FlankitError:
    """The error of the source's row numbered `row` from 0; messages count rows from 1, as a
    JSONL file's lines are counted (the third row is `file:3`)."""
    return FlankitError(
        f"collection {COLLECTION}: {message}",
        file=source,
        line=row + 1,
        task=task.name,
        field=field,
    )


def prepare(
    task: MuffinTask,
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str,
    templates: flan_render.FlanTemplates,
    bad: BadRows,
    limit: int | None = None,
    sample: int | None = None,
    numbers: Iterable[int] | None = None,
) -> TaskRows:
    """FLAN's filters and preprocessor over the task's rows; bad rows raise or are counted.

    `limit` keeps the first rows; `sample` keeps a seeded uniform sample of that many prepared
    rows (reservoir sampling, in source order); `numbers` are the rows' numbers in the source
    (default 0, 1, ...), for error messages."""
    steps = task.steps
    if steps is None:
        raise FlankitError(
            f"collection {COLLECTION}: task is unavailable: {task.reason}", task=task.name
        )
    keeps, process = steps
    needed = required_fields(task, templates)
    out = TaskRows(task, source)
    kept: list[tuple[int, dict[str, Any]]] = []
    rng = random.Random(f"muffin|{task.name}")
    seen = 0
    for number, row in zip(numbers if numbers is not None else count(), rows):
        if limit is not None and len(kept) >= limit:
            break
        fields = _prepared(task, keeps, process, needed, row, number, source, bad, out)
        if fields is None:
            continue
        seen += 1
        if sample is None or len(kept) < sample:
            kept.append((number, fields))
        elif (slot := rng.randrange(seen)) < sample:
            kept[slot] = (number, fields)
    kept.sort(key=lambda item: item[0])
    out.where = [n for n, _ in kept]
    out.fields = [f for _, f in kept]
    out.seen = seen
    return out


def _prepared(task, keeps, process, needed, row, number, source, bad, out) -> dict | None:
    """One row's template fields, or None when a FLAN filter drops it or it is bad."""
    try:
        step = next((k for k in keeps if not k(row)), None)
        fields = process(row) if step is None else {}
    except prep.RowError as exc:
        bad.handle(_error(task, source, number, exc.field, str(exc)))
        return None
    except KeyError as exc:  # a nested value the row lacks (answers["text"], ...)
        bad.handle(_error(task, source, number, str(exc.args[0]), "the row lacks this value"))
        return None
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        message = f"the row does not have the hub schema: {type(exc).__name__}: {exc}"
        bad.handle(_error(task, source, number, None, message))
        return None
    if step is not None:
        out.filtered += 1
        bad.skip_row(task.name, step.__name__, f"{source}:{number}")
        return None
    missing = sorted(needed - set(fields))
    if missing:
        message = f"template field {missing[0]!r} is missing (FLAN template {task.template_key})"
        bad.handle(_error(task, source, number, missing[0], message))
        return None
    return fields


def _subset(rows: Any, task: MuffinTask, sample: int | None):
    """A seeded random subset of a random-access dataset (a `datasets.Dataset`), as (rows,
    their numbers); a stream is returned whole, for `prepare` to sample."""
    size = len(rows) if hasattr(rows, "__len__") and hasattr(rows, "select") else None
    if sample is None or size is None or size <= sample:
        return rows, None
    picks = sorted(random.Random(f"muffin|{task.name}").sample(range(size), sample))
    return rows.select(picks), picks


def task_rows(
    task: MuffinTask,
    folder: str | Path | None,
    *,
    templates: flan_render.FlanTemplates,
    bad: BadRows,
    limit: int | None = None,
    sample: int | None = None,
    required: bool = False,
) -> TaskRows:
    """Prepared rows of one task from its local copy under `folder`, else from the hub (an
    error instead when `required` says the local copy must be there): the first `limit` rows,
    or a seeded sample of at most `sample`, or all."""
    path = local_copy(folder, task.name)
    if path is not None:
        rows: Any = read_local(path, task.name)
        source = str(path)
    elif required:
        raise FlankitError(
            f"collection {COLLECTION}: no local copy of {task.name} under {folder}",
            file=str(folder),
            task=task.name,
            hint=f"save {task.hub.describe()} there as {task.name}/ (save_to_disk), "
            f"{task.name}.parquet or {task.name}.jsonl",
        )
    else:
        rows = read_hub(task, limit=limit)
        source = task.hub.describe()
    rows, numbers = _subset(rows, task, sample)
    return prepare(
        task,
        rows,
        source=source,
        templates=templates,
        bad=bad,
        limit=limit,
        sample=sample,
        numbers=numbers,
    )


def render_task(
    prepared: TaskRows,
    templates: flan_render.FlanTemplates,
    template_type: str,
    *,
    seed: int = 0,
    bad: BadRows | None = None,
    count_tokens: Callable[[str], int] | None = None,
    drop_remainder: bool = False,
) -> list[dict[str, Any]]:
    """The task's rows in one FLAN format, in the published submix schema (inputs, targets,
    task_source, task_name, template_type) plus the row, pattern, form and exemplars used."""
    task = prepared.task
    spec = flan_render.RenderSpec(
        task=task.name,
        key=task.template_key,
        has_options=task.has_options,
        seed=seed,
        drop_remainder=drop_remainder,
    )
    if count_tokens is not None:
        spec.count_tokens = count_tokens
    bad = bad if bad is not None else BadRows()

    def on_error(pos: int, exc: Exception) -> None:
        name = exc.args[0] if isinstance(exc, KeyError) else "options"
        message = f"template field {name!r} is missing" if isinstance(exc, KeyError) else str(exc)
        bad.handle(_error(task, prepared.source, prepared.where[pos], str(name), message))

    made = flan_render.render(prepared.fields, templates, spec, template_type, on_error)
    return [
        {
            "inputs": r.inputs,
            "targets": r.targets,
            "task_source": TASK_SOURCE,
            "task_name": task.published_name,
            "template_type": r.template_type,
            "row": prepared.where[r.row],
            "template": r.template,
            "form": r.form,
            "exemplars": [prepared.where[p] for p in r.exemplars],
            "option_style": None if r.options is None else dataclasses.astuple(r.options),
        }
        for r in made
    ]
