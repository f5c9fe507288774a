"""FLAN's template patterns as data, filled the way FLAN fills them, and its few-shot prompts.

This module owns the pattern logic every Flan 2022 collection shares (the few-shot pattern type,
filling, loading the packaged `flan_templates.json`, the token budget and the two few-shot
assemblies); `flan_render` (Muffin, T0-SF) and `niv2`/`cot`/`dialog` draw their rows their own way
and assemble prompts here.

FLAN fills a pattern by replacing every `{name}` (a run of word characters in braces) with the
example's field; nothing else in the pattern is special, and braces inside field values are
text. Few-shot prompts follow FLAN's two non-NIV2 variants:

- `mix` (`..._template_mix_five_shot`): five exemplars, each rendered with its own template from
  the patterns marked `in_template_mix`, joined by one separator drawn once per task from
  "\\n", "\\n\\n", "\\n\\n\\n"; the query ends with the second pattern's `final_suffix`.
- `x_shot` (`..._template_0to10_x_shot`): 25 candidate exemplars of which only those rendered
  with the query's own template are kept (about 2.5 on average); targets are stripped.

Both drop exemplars from the end until the prompt fits `FEW_SHOT_MAX_LEN` tokens (counted
with a fast estimate, about 4 characters a token, where FLAN counts T5 tokens); FLAN drops an
example left without exemplars, flankit renders it without them (`shots=0`). Exemplars are other
rows of the task, never the row itself (FLAN's sampler does not exclude it).

Example:
    >>> fill("Q: {question}\\nA: {answer}", {"question": "2+2? {x}", "answer": "4"})
    'Q: 2+2? {x}\\nA: 4'
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from flankit.data.sources import read_json
from flankit.data.tasks import Rendered, approx_tokens
from flankit.data.templates import Template
from flankit.errors import FlankitError

FEW_SHOT_MAX_LEN = 1920  # FLAN's few-shot prompt budget in tokens
MIX_SHOTS = 5
X_SHOT_CANDIDATES = 25
MIX_SEPARATORS = ("\n", "\n\n", "\n\n\n")
TEMPLATE_TYPES = ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt")
FORMAT_TO_TEMPLATE_TYPE = {"zsopt": "zs_opt", "zsnoopt": "zs_noopt", "fsopt": "fs_opt"}
FORMAT_TO_TEMPLATE_TYPE["fsnoopt"] = "fs_noopt"
_FIELD = re.compile(r"\{(\w*)\}")

Pair = tuple[str, str]


class MissingField(KeyError):
    """A pattern names a field the row does not have (`args[0]` is its name)."""


def resource_path() -> Path:
    """The packaged copy of FLAN's template constants."""
    return Path(str(resources.files("flankit.data.flan2022") / "resources/flan_templates.json"))


@lru_cache(maxsize=4)
def flan_templates(path: str | None = None) -> dict[str, Any]:
    """FLAN's template constants (`PATTERNS`, `FEWSHOT_PATTERNS`, ...); default: the packaged copy."""
    return read_json(path or resource_path())


@lru_cache(maxsize=512)
def zero_shot_pairs(key: str, *, options: bool = True, path: str | None = None) -> tuple[Pair, ...]:
    """The zero-shot (inputs, targets) patterns FLAN has under `key`."""
    table = "PATTERNS" if options else "PATTERNS_NO_OPTIONS"
    try:
        return tuple((p[0], p[1]) for p in flan_templates(path)[table][key])
    except KeyError:
        raise FlankitError(
            f"no FLAN template {key!r} in {table}", file=str(path or resource_path())
        ) from None


@dataclass(frozen=True)
class FewShotPattern:
    """One of FLAN's few-shot patterns (`FEWSHOT_PATTERNS[key][i]`)."""

    inputs: str
    targets: str
    inputs_prefix: str = ""
    targets_prefix: str = ""
    x_y_delimiter: str = "\n\n"
    example_separator: str = "\n\n\n"
    final_suffix: str = ""
    input_pattern: str = "{{inputs}}{final_suffix}"
    in_template_mix: bool = True

    @property
    def inputs_with_target_prefix(self) -> str:
        """The inputs pattern with its prefixes and delimiter, as FLAN joins exemplars."""
        return self.inputs_prefix + self.inputs + self.x_y_delimiter + self.targets_prefix

    @property
    def targets_with_separator(self) -> str:
        return self.targets + self.example_separator


@lru_cache(maxsize=512)
def few_shot_patterns(
    key: str, *, options: bool = True, path: str | None = None
) -> tuple[FewShotPattern, ...]:
    table = "FEWSHOT_PATTERNS" if options else "FEWSHOT_PATTERNS_NO_OPTIONS"
    try:
        raws = flan_templates(path)[table][key]
    except KeyError:
        raise FlankitError(
            f"no FLAN few-shot template {key!r} in {table}", file=str(path or resource_path())
        ) from None
    return tuple(FewShotPattern(**raw) for raw in raws)


def fill_fields(pattern: str, fields: Mapping[str, Any]) -> str:
    """`pattern` with each `{name}` replaced by `fields[name]` (FLAN's formatter; non-strings
    via str); a missing field raises `MissingField`."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in fields:
            raise MissingField(name)
        value = fields[name]
        return value if isinstance(value, str) else str(value)

    return _FIELD.sub(value, pattern)


def fill(
    pattern: str,
    fields: Mapping[str, Any],
    *,
    task: str | None = None,
    where: str | None = None,
) -> str:
    """`fill_fields`, with a missing field reported as a FlankitError naming the task."""
    try:
        return fill_fields(pattern, fields)
    except MissingField as exc:
        name = exc.args[0]
        raise FlankitError(
            f"the template needs field {{{name}}}, which the row lacks",
            file=where,
            task=task,
            field=name,
        ) from None


def pattern_fields(pattern: str) -> set[str]:
    """The field names a FLAN pattern uses."""
    return set(_FIELD.findall(pattern))


def as_templates(
    prefix: str, pairs: Sequence[Pair], kind: str, renames: Mapping[str, str] | None = None
) -> tuple[Template, ...]:
    """flankit Templates naming the same fields as FLAN's pairs (for validation and listing)."""
    out = []
    for i, (inputs, targets) in enumerate(pairs):
        for old, new in (renames or {}).items():
            inputs, targets = inputs.replace(old, new), targets.replace(old, new)
        out.append(
            Template(f"{prefix}_{i}", _escape_braces(inputs), _escape_braces(targets), kind=kind)
        )
    return tuple(out)


def _escape_braces(text: str) -> str:
    # Keep FLAN's `{field}`s as fields; any other brace is text.
    marked = _FIELD.sub(lambda m: "\0" + m.group(1) + "\1", text)
    return marked.replace("{", "{{").replace("}", "}}").replace("\0", "{").replace("\1", "}")


def submix_row(inputs: str, targets: str, source: str, task: str, template_type: str) -> dict:
    """One row in the schema of the published Flan 2022 submixes."""
    return {
        "inputs": inputs,
        "targets": targets,
        "task_source": source,
        "task_name": task,
        "template_type": template_type,
    }


# --- few-shot prompts (non-NIV2) ---------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """One exemplar: its fields and the template index it is rendered with."""

    fields: Mapping[str, Any]
    template: int


def fit(
    query_inputs: str,
    shots: Sequence[Pair],
    count_tokens: Callable[[str], int] = approx_tokens,
    max_len: int = FEW_SHOT_MAX_LEN,
) -> int:
    """How many of the leading exemplars fit the budget the query leaves (FLAN counts T5
    tokens; the default counts about 4 characters a token)."""
    budget = max_len - count_tokens(query_inputs)
    for n, (inputs, targets) in enumerate(shots):
        budget -= count_tokens(inputs) + count_tokens(targets)
        if budget < 0:
            return n
    return len(shots)


def assemble_mix(
    patterns: Sequence[FewShotPattern],
    query: Pair,
    shots: Sequence[Pair],
    separator: str,
    fields: Mapping[str, Any],
    count_tokens: Callable[[str], int] = approx_tokens,
    max_len: int = FEW_SHOT_MAX_LEN,
) -> tuple[str, str, int]:
    """A `mix` prompt from its filled query and exemplars: (inputs, targets, shots kept).
    The prompt sits in the second pattern's `input_pattern`, whose other fields are the row's."""
    n = fit(query[0], shots, count_tokens, max_len)
    joined = "".join(i + t + separator for i, t in shots[:n]) + query[0]
    tail = patterns[1 % len(patterns)]
    outer = tail.input_pattern.replace("{final_suffix}", tail.final_suffix)
    outer = outer.replace("{{", "{").replace("}}", "}")
    return fill_fields(outer, {**fields, "inputs": joined.rstrip(" ")}), query[1], n


def assemble_x_shot(
    query: Pair,
    shots: Sequence[Pair],
    count_tokens: Callable[[str], int] = approx_tokens,
    max_len: int = FEW_SHOT_MAX_LEN,
) -> tuple[str, str, int]:
    """An `x_shot` prompt from its filled query and same-pattern exemplars (targets ending in
    their separator): (inputs, stripped targets, shots kept)."""
    n = fit(query[0], shots, count_tokens, max_len)
    inputs = "".join(i + t for i, t in shots[:n]) + query[0]
    return inputs.rstrip(" "), query[1].strip(), n


def _fill_shot(
    patterns: Sequence[FewShotPattern], shot: Shot, *, separator: bool, task: str | None
) -> Pair:
    """(inputs, targets) of one exemplar or query in its pattern; with `separator` the targets
    end in the pattern's example separator."""
    p = patterns[shot.template % len(patterns)]
    targets = p.targets_with_separator if separator else p.targets
    return (
        fill(p.inputs_with_target_prefix, shot.fields, task=task),
        fill(targets, shot.fields, task=task),
    )


def mix_prompt(
    patterns: Sequence[FewShotPattern],
    query: Shot,
    shots: Sequence[Shot],
    separator: str,
    *,
    task: str | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> tuple[str, str, int]:
    """FLAN's `template_mix` few-shot prompt: (inputs, targets, shots kept). Template indexes
    refer to the patterns marked `in_template_mix`."""
    mix = [p for p in patterns if p.in_template_mix]
    if not mix:
        raise FlankitError("no few-shot pattern is marked in_template_mix", task=task)
    q = _fill_shot(mix, query, separator=False, task=task)
    pairs = [_fill_shot(mix, s, separator=False, task=task) for s in shots]
    return assemble_mix(patterns, q, pairs, separator, query.fields, count_tokens)


def x_shot_prompt(
    patterns: Sequence[FewShotPattern],
    query: Shot,
    shots: Sequence[Shot],
    *,
    task: str | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> tuple[str, str, int]:
    """FLAN's `template_0to10_x_shot` prompt: exemplars rendered with another template than the
    query's are dropped; (inputs, targets, shots kept)."""
    q = _fill_shot(patterns, query, separator=True, task=task)
    n = len(patterns)
    same = [s for s in shots if s.template % n == query.template % n]
    pairs = [_fill_shot(patterns, s, separator=True, task=task) for s in same]
    return assemble_x_shot(q, pairs, count_tokens)


def draw_shots(
    rng: random.Random, n_rows: int, index: int, k: int, n_templates: int
) -> list[tuple[int, int]]:
    """(row, template) of `k` exemplars drawn from the other rows of a task, without repeats."""
    others = n_rows - 1
    if others <= 0:
        return []
    picks = rng.sample(range(others), min(k, others))
    return [(j if j < index else j + 1, rng.randrange(n_templates)) for j in picks]


def task_separator(task: str) -> str:
    """The example separator of a task's `mix` prompts: drawn once per task, as FLAN does at
    registration, but from a seed of the task name so it is the same in every run."""
    return random.Random(f"flan-mix-separator|{task}").choice(MIX_SEPARATORS)


def render_row(
    rows: Sequence[Mapping[str, Any]],
    index: int,
    key: str,
    template_type: str,
    template: int,
    rng: random.Random,
    *,
    task: str,
    path: str | None = None,
) -> tuple[str, str, str, int]:
    """(inputs, targets, template id, shots) of row `index` under FLAN pattern `key`.

    Zero-shot fills pattern `template` of `PATTERNS` (or `PATTERNS_NO_OPTIONS`); few-shot is
    FLAN's `mix` or `x_shot` prompt, one or the other with equal odds for `fs_opt` (FLAN's
    few-shot mixture holds both), `x_shot` alone for `fs_noopt`.
    """
    options = template_type.endswith("_opt")
    fields = rows[index]
    if template_type.startswith("zs"):
        pairs = zero_shot_pairs(key, options=options, path=path)
        inputs, targets = pairs[template % len(pairs)]
        tid = f"{key}_{template % len(pairs)}"
        return fill(inputs, fields, task=task), fill(targets, fields, task=task), tid, 0
    patterns = few_shot_patterns(key, options=options, path=path)
    if options and rng.random() < 0.5:
        n_mix = sum(p.in_template_mix for p in patterns)
        picks = draw_shots(rng, len(rows), index, MIX_SHOTS, n_mix)
        query = Shot(fields, template % n_mix)
        shots = [Shot(rows[j], t) for j, t in picks]
        inputs, targets, n = mix_prompt(patterns, query, shots, task_separator(task), task=task)
        return inputs, targets, f"{key}_mix_{query.template}", n
    picks = draw_shots(rng, len(rows), index, X_SHOT_CANDIDATES, len(patterns))
    query = Shot(fields, template % len(patterns))
    shots = [Shot(rows[j], t) for j, t in picks]
    inputs, targets, n = x_shot_prompt(patterns, query, shots, task=task)
    return inputs, targets, f"{key}_x_shot_{query.template}", n


class FieldsView(Sequence):
    """A task's example fields under FLAN's names (`{flan_name: field}`), read on access, so the
    rows rendered are the task's current examples (after preprocess steps and decontamination)."""

    def __init__(self, examples: Sequence[Any], names: Mapping[str, str] | None = None) -> None:
        self.examples = examples
        self.names = dict(names or {})

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i):  # type: ignore[override]
        fields = self.examples[i].fields
        out = dict(fields)
        for flan, ours in self.names.items():
            if ours in fields:
                out[flan] = fields[ours]
        return out


def key_and_task(source: Any, inverted: bool) -> tuple[str, str]:
    """FLAN's template key and task name of a CoT or Dialog source, forward or inverted."""
    return (source.inverted_key, source.inverted_task) if inverted else (source.key, source.task)


def render_example(
    render: Callable,
    source: Any,
    task: Any,
    index: int,
    variant: Any,
    rows: Sequence,
    rng: random.Random,
    *,
    inverted: bool,
    cot: bool,
) -> Rendered:
    """A CoT or Dialog mixture task's example `index` (flankit's `Rendered`), by the
    collection's `render` over `rows` (a `FieldsView` of the task's examples); `cot` says
    whether the rendering shows a rationale."""
    template_type = FORMAT_TO_TEMPLATE_TYPE[variant.format]
    inputs, targets, tid, shots = render(
        source, rows, index, template_type, rng.randrange(1 << 30), rng, inverted=inverted
    )
    return Rendered(
        task.name,
        task.collection,
        index,
        inputs,
        targets,
        tid,
        variant.format,
        cot,
        inverted,
        shots,
    )


def zs_fs_submix_rows(
    render: Callable,
    source: Any,
    rows: Sequence,
    template_type: str = "zs_opt",
    *,
    inverted: bool = False,
    seed: int = 0,
    collection: str,
    task_source: str,
) -> Iterator[dict[str, str]]:
    """Every row of a CoT or Dialog source in the published submix schema (these collections
    have zs_opt and fs_opt rows only); templates round-robin by row position. `render` is the
    collection's (`cot.render`, `dialog.render`)."""
    if template_type not in ("zs_opt", "fs_opt"):
        raise FlankitError(
            f"{collection} has no {template_type!r} rows in Flan 2022 (zs_opt and fs_opt only)",
            task=source.task,
        )
    _, task = key_and_task(source, inverted)
    rng = random.Random(f"{seed}|{task}|{template_type}")
    for i in range(len(rows)):
        inputs, targets, _, _ = render(source, rows, i, template_type, i, rng, inverted=inverted)
        yield submix_row(inputs, targets, task_source, task, template_type)
