"""T0-SF: the 193 `bigscience/P3` subsets Flan 2022 trains on, wrapped in FLAN's T0 templates.

P3's rows already hold the promptsource-rendered prompt (`inputs_pretokenized`,
`targets_pretokenized`, and `answer_choices` for multiple choice). FLAN cleans them (newlines in
the prompt become spaces, newlines in the target and options are removed, all stripped), finds
the target among the options for multiple-choice subsets, and wraps the prompt in one of ten thin
templates of the subset's task type; only `t0_multiple_choice_separated_options` shows the
options, as FLAN's deterministic block ``OPTIONS:\\n- a\\n- b``.

P3 is published as TFRecord files (`data/<subset>/train.tfrecord-*` in the hub repo) behind a
loading script that current `datasets` no longer runs, so both routes read the TFRecords with
`flankit.data.flan2022.tfrecord`: a local folder in that layout, or the hub files fetched with
`huggingface_hub` into its cache.

Templates are assigned round-robin by row position (row i gets template i mod 10), as FLAN's
batched template application does; FLAN also drops each subset's last incomplete batch of ten,
which flankit keeps (`render_subset(..., drop_remainder=True)` reproduces FLAN's count).

Example:
    >>> fields = t0_fields({"inputs_pretokenized": "Is it?\\nYes or no.",
    ...                     "targets_pretokenized": "yes\\n", "answer_choices": ["yes", "no"]},
    ...                    "t0_multiple_choice_separated_options")
    >>> fields["question"], fields["answer"], fields["options_"]
    ('Is it? Yes or no.', 'yes', 'OPTIONS:\\n- yes\\n- no')
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from flankit.data.flan2022 import flan_render, tfrecord
from flankit.data.sources import read_json
from flankit.errors import FlankitError

HUB_REPO = "bigscience/P3"
COLLECTION = "T0-SF"
TASK_SOURCE = "P3"
T0_CAP = 20_000  # FLAN's per-task mixing cap for the T0 submix
TASK_TYPES = ("t0_question_answer", "t0_multiple_choice", "t0_multiple_choice_separated_options")
TEMPLATE_TYPES = ("zs_opt", "zs_noopt")


@dataclass(frozen=True)
class T0Subset:
    """One P3 subset of T0-SF: its FLAN task type and size."""

    subset: str
    task_type: str
    train_examples: int
    target_len_max: int

    @property
    def multiple_choice(self) -> bool:
        return self.task_type != "t0_question_answer"

    def mixing_size(self, cap: int = T0_CAP) -> int:
        """FLAN's mixing rate for the subset: min(cap, train examples)."""
        return min(cap, self.train_examples)


def _resource(name: str) -> Path:
    return Path(str(resources.files("flankit.data.flan2022") / name))


def load_catalog(path: str | Path | None = None) -> dict[str, T0Subset]:
    """The T0-SF subsets (193 in the shipped `t0sf_tasks.json`), keyed by subset id."""
    path = Path(path) if path is not None else _resource("t0sf_tasks.json")
    data = read_json(path)
    entries = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise FlankitError("a T0-SF catalog needs a `tasks` list", file=str(path), field="tasks")
    catalog: dict[str, T0Subset] = {}
    for index, entry in enumerate(entries):
        try:
            subset = T0Subset(
                subset=entry["p3_subset"],
                task_type=entry["task_type"],
                train_examples=int(entry["train_examples"]),
                target_len_max=int(entry["target_len_max"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FlankitError(
                f"catalog entry {index} is malformed: {exc}", file=str(path)
            ) from exc
        if subset.task_type not in TASK_TYPES:
            raise FlankitError(
                f"unknown task type {subset.task_type!r}",
                file=str(path),
                task=subset.subset,
                field="task_type",
            )
        catalog[subset.subset] = subset
    return catalog


def load_t0_templates(
    path: str | Path | None = None,
) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """FLAN's T0 zero-shot wrappers from a `flan_templates.json` (default: the one shipped in
    resources/): {template_type: {task_type: pairs}}."""
    path = Path(path) if path is not None else _resource("resources/flan_templates.json")
    data = read_json(path)
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for template_type, key in (("zs_opt", "PATTERNS"), ("zs_noopt", "PATTERNS_NO_OPTIONS")):
        try:
            out[template_type] = {t: [tuple(pair) for pair in data[key][t]] for t in TASK_TYPES}
        except KeyError as exc:
            raise FlankitError(f"no T0 template {exc} in {key}", file=str(path)) from exc
    return out


# --- where a subset's files are ---------------------------------------------------------------


def subset_files(folder: str | Path, subset: str) -> list[Path]:
    """The train TFRecord shards of `subset` under a P3 copy (`<folder>/data/<subset>/` as on the
    hub, or `<folder>/<subset>/`). A missing subset is an error naming it and the folder."""
    root = Path(folder)
    for directory in (root / "data" / subset, root / subset):
        shards = sorted(directory.glob("train.tfrecord-*"))
        if shards:
            return shards
    raise FlankitError(
        f"P3 subset {subset!r} has no train.tfrecord-* files under {root}/data/{subset}/",
        file=str(root),
        task=subset,
        hint="download it with fetch_subset() or point the source at a full P3 copy",
    )


def fetch_subset(subset: str, *, cache_dir: str | None = None, revision: str | None = None) -> Path:
    """Download one subset's train shards from the hub (needs network); returns the folder to
    pass to `subset_files` / `read_subset`."""
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(
            HUB_REPO,
            repo_type="dataset",
            allow_patterns=[f"data/{subset}/train.tfrecord-*", f"data/{subset}/info.train.json"],
            cache_dir=cache_dir,
            revision=revision,
        )
    )


def read_subset(
    folder: str | Path, subset: str, *, verify: bool = True
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for each P3 row of `subset`; text features decoded, ids dropped."""
    for shard in subset_files(folder, subset):
        for index, features in enumerate(tfrecord.read_examples(shard, verify=verify)):
            row: dict[str, Any] = {}
            where = f"{shard}:record {index}"
            for name in ("inputs_pretokenized", "targets_pretokenized", "answer_choices"):
                if name not in features:
                    continue
                try:
                    values = [v.decode("utf-8") for v in features[name]]
                except (UnicodeDecodeError, AttributeError) as exc:
                    raise FlankitError(
                        f"not UTF-8 text: {exc}",
                        file=str(shard),
                        line=index,
                        task=subset,
                        field=name,
                    ) from exc
                row[name] = values if name == "answer_choices" else "".join(values)
            yield where, row


# --- FLAN's T0 preprocessing and wrapping ------------------------------------------------------


def options_block(options: list[str]) -> str:
    """FLAN's deterministic options block (`format_options`)."""
    return "OPTIONS:\n- " + "\n- ".join(options)


def t0_fields(row: Mapping[str, Any], task_type: str) -> dict[str, Any]:
    """The template fields FLAN's T0 preprocessor makes of one P3 row. Raises `KeyError` naming
    the missing field, or `ValueError` when the target is not one of the answer choices."""
    question = row["inputs_pretokenized"].replace("\n", " ").strip()
    answer = row["targets_pretokenized"].replace("\n", "").strip()
    fields: dict[str, Any] = {"question": question, "answer": answer}
    if task_type != "t0_question_answer":
        options = [choice.replace("\n", "").strip() for choice in row["answer_choices"]]
        if answer not in options:
            raise ValueError(f"target {answer!r} is not one of the answer_choices {options!r}")
        fields["options"] = options
        if task_type == "t0_multiple_choice_separated_options":
            fields["options_"] = options_block(options)
    return fields


def wrap(fields: Mapping[str, Any], pair: tuple[str, str]) -> tuple[str, str]:
    """(inputs, targets) of one FLAN template pair filled with a row's fields."""
    return pair[0].format(**fields), pair[1].format(**fields)


def render_subset(
    subset: T0Subset,
    rows: Iterator[tuple[str, Mapping[str, Any]]],
    templates: Mapping[str, Mapping[str, list[tuple[str, str]]]],
    *,
    template_type: str = "zs_opt",
    bad: Any = None,
    drop_remainder: bool = False,
) -> Iterator[dict[str, str]]:
    """Rows in the published submix schema (inputs, targets, task_source, task_name,
    template_type). `bad` is a `flankit.data.sources.BadRows`; without one, a bad row raises."""
    if template_type not in templates:
        raise FlankitError(
            f"unknown template type {template_type!r} (one of {sorted(templates)})",
            task=subset.subset,
        )
    pairs = templates[template_type][subset.task_type]
    pending: list[dict[str, str]] = []
    position = 0
    for where, row in rows:
        try:
            fields = t0_fields(row, subset.task_type)
        except (KeyError, ValueError, AttributeError, TypeError) as exc:
            name = exc.args[0] if isinstance(exc, KeyError) else "targets_pretokenized"
            error = FlankitError(
                f"collection {COLLECTION}: {'missing field' if isinstance(exc, KeyError) else exc}",
                file=where,
                task=subset.subset,
                field=str(name),
            )
            if bad is None:
                raise error from exc
            bad.handle(error)
            continue
        inputs, targets = wrap(fields, pairs[position % len(pairs)])
        position += 1
        out = {
            "inputs": inputs,
            "targets": targets,
            "task_source": TASK_SOURCE,
            "task_name": subset.subset,
            "template_type": template_type,
        }
        if not drop_remainder:
            yield out
            continue
        pending.append(out)
        if len(pending) == len(pairs):
            yield from pending
            pending.clear()


# --- the four Flan 2022 formats ----------------------------------------------------------------


@dataclass
class SubsetRows:
    """One subset's template fields in row order, and where each came from."""

    subset: T0Subset
    source: str
    fields: list[dict[str, Any]]
    where: list[str]


def sampled(
    rows: Iterator[tuple[str, Mapping[str, Any]]], sample: int, seed: str
) -> list[tuple[str, Mapping[str, Any]]]:
    """A seeded uniform sample of at most `sample` rows of a stream of any length (reservoir
    sampling), in source order."""
    rng = random.Random(seed)
    kept: list[tuple[int, tuple[str, Mapping[str, Any]]]] = []
    for number, item in enumerate(rows):
        if len(kept) < sample:
            kept.append((number, item))
        else:
            slot = rng.randrange(number + 1)
            if slot < sample:
                kept[slot] = (number, item)
    return [item for _, item in sorted(kept, key=lambda pair: pair[0])]


def subset_rows(
    subset: T0Subset,
    rows: Iterator[tuple[str, Mapping[str, Any]]],
    *,
    source: str,
    bad: Any,
    limit: int | None = None,
    sample: int | None = None,
) -> SubsetRows:
    """FLAN's T0 fields of a subset's rows: the first `limit`, or a seeded sample of at most
    `sample`, or all; a bad row raises or is counted by `bad` (a `BadRows`)."""
    if limit is not None:
        rows = itertools.islice(rows, limit)
    elif sample is not None:
        rows = iter(sampled(rows, sample, f"t0sf|{subset.subset}"))
    out = SubsetRows(subset, source, [], [])
    for where, row in rows:
        try:
            fields = t0_fields(row, subset.task_type)
        except (KeyError, ValueError, AttributeError, TypeError) as exc:
            name = exc.args[0] if isinstance(exc, KeyError) else "targets_pretokenized"
            message = "missing field" if isinstance(exc, KeyError) else str(exc)
            bad.handle(
                FlankitError(
                    f"collection {COLLECTION}: {message}",
                    file=where,
                    task=subset.subset,
                    field=str(name),
                )
            )
            continue
        out.fields.append(fields)
        out.where.append(where)
    return out


def render_formats(
    prepared: SubsetRows, templates: Any, template_type: str, *, seed: int = 0, bad: Any = None
) -> list[flan_render.FlanRow]:
    """The subset's rows in one FLAN template type (zs_opt, zs_noopt, fs_opt, fs_noopt) with
    FLAN's T0 patterns; options are shown, and randomised in zs_opt, only where the task type's
    patterns show them (`t0_multiple_choice_separated_options`). This is FLAN's ZS-Opt mixture:
    it takes only the randomised variant of every task whose preprocessors format options, and
    FLAN adds that step to exactly these T0 subsets."""
    subset = prepared.subset
    spec = flan_render.RenderSpec(
        task=subset.subset,
        key=subset.task_type,
        has_options=subset.task_type == "t0_multiple_choice_separated_options",
        seed=seed,
    )

    def on_error(pos: int, exc: Exception) -> None:
        name = exc.args[0] if isinstance(exc, KeyError) else "answer_choices"
        error = FlankitError(
            f"collection {COLLECTION}: {exc}",
            file=prepared.where[pos],
            task=subset.subset,
            field=str(name),
        )
        if bad is None:
            raise error
        bad.handle(error)

    return flan_render.render(prepared.fields, templates, spec, template_type, on_error)
