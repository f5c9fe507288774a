"""FLAN's prompt formats for Muffin and T0-SF: zs_opt, zs_noopt, fs_opt, fs_noopt, in plain Python.

This module draws the rows' templates, options and exemplars; filling, the few-shot pattern type,
the token budget and the prompt assembly are `flankit.data.flan2022.patterns`'. The rules
follow google-research/FLAN (flan/v2): a pattern's `{name}` fields are replaced by the
row's values (only `{word}` is a field; other braces are text); templates are assigned round-robin
by row position (row i gets pattern i mod n); `options_` is FLAN's deterministic block
(``OPTIONS:\\n- a\\n- b``) except in zs_opt, where tasks with options get the Flan 2022 randomised
block: one start string, one item-name list and one item-end string drawn per row, rendered as
``start + item_1 + option_1 + end + item_2 + ...``; when the item names are distinct (letters,
numbers, roman numerals) and the answer is one of the options, the target becomes its stripped
item name (``(B).``). Draws are seeded by (seed, task, row), so a row always renders alike.

Few-shot has FLAN's two forms. `five_shot` (template mix): five exemplars, each rendered with its
own round-robin pattern among those `in_template_mix`, joined as ``inputs_prefix + inputs +
x_y_delimiter + targets_prefix + targets + separator`` with one separator per task (``\\n``,
``\\n\\n`` or ``\\n\\n\\n``). `x_shot`: 25 candidate exemplars, of which only those sharing the
query's pattern are kept (2.5 on average with 10 patterns), each ending with its pattern's own
`example_separator`; the target is stripped. In both, exemplars are kept while their token count
fits in 1920 minus the query's, and a row left with none is dropped (counted in `dropped`).
fs_opt picks one of the two forms per row (FLAN mixes them about evenly); fs_noopt is `x_shot`
over the no-options patterns. Exemplars never include the query row itself.

Example:
    >>> fill_fields("{premise}\\n\\n{options_}", {"premise": "It rains.", "options_": "OPTIONS:\\n- yes"})
    'It rains.\\n\\nOPTIONS:\\n- yes'
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flankit.data.flan2022.patterns import (
    FEW_SHOT_MAX_LEN,
    MIX_SEPARATORS,
    MIX_SHOTS,
    TEMPLATE_TYPES,
    X_SHOT_CANDIDATES,
    FewShotPattern,
    MissingField,
    assemble_mix,
    assemble_x_shot,
    fill_fields,
    flan_templates,
    resource_path,
)
from flankit.data.tasks import approx_tokens
from flankit.errors import FlankitError

Rows = Sequence[Mapping[str, Any]]
Patterns = Sequence[FewShotPattern]
OnError = Callable[[int, Exception], None]  # (row position, what went wrong) of a row left out


def options_block(options: Sequence[str]) -> str:
    """FLAN's deterministic options block (`format_options`)."""
    return "OPTIONS:\n- " + "\n- ".join(options)


@dataclass(frozen=True)
class OptionDraw:
    """Which start string, item-name list and item-end string one row's options use."""

    start: int
    items: int
    end: int


@dataclass(frozen=True)
class FlanTemplates:
    """FLAN's template constants: zero-shot pairs, few-shot patterns, option vocabularies."""

    patterns: dict[str, list[tuple[str, str]]]
    patterns_no_options: dict[str, list[tuple[str, str]]]
    fewshot: dict[str, list[FewShotPattern]]
    fewshot_no_options: dict[str, list[FewShotPattern]]
    opt_start: tuple[str, ...]
    opt_items: tuple[tuple[str, ...], ...]
    opt_end: tuple[tuple[str, ...], ...]
    source: str = ""

    def _tables(self) -> dict[str, tuple[str, dict]]:
        """Each template type's pattern set, with its name among FLAN's constants."""
        return {
            "zs_opt": ("PATTERNS", self.patterns),
            "zs_noopt": ("PATTERNS_NO_OPTIONS", self.patterns_no_options),
            "fs_opt": ("FEWSHOT_PATTERNS", self.fewshot),
            "fs_noopt": ("FEWSHOT_PATTERNS_NO_OPTIONS", self.fewshot_no_options),
        }

    def for_type(self, template_type: str, key: str) -> list:
        """The patterns under `key` that `template_type` renders with."""
        return self._tables()[template_type][1][key]

    def require(self, key: str, *, task: str) -> None:
        """An error naming the task when `key` is missing from any of the four pattern sets."""
        for name, table in self._tables().values():
            if key not in table:
                raise FlankitError(
                    f"no template {key!r} in {name}", file=self.source, task=task, field=key
                )


def _fewshot_table(raw: dict, path: str, name: str) -> dict[str, list[FewShotPattern]]:
    try:
        return {k: [FewShotPattern(**p) for p in v] for k, v in raw[name].items()}
    except (KeyError, TypeError) as exc:
        raise FlankitError(f"malformed {name}: {exc}", file=path, field=name) from exc


@lru_cache(maxsize=4)
def load_templates(path: str | None = None) -> FlanTemplates:
    """FLAN's templates from a `flan_templates.json` (default: the packaged copy)."""
    if path is None:
        path = str(resource_path())
    raw = flan_templates(path)
    try:
        pairs = {k: [tuple(p) for p in v] for k, v in raw["PATTERNS"].items()}
        no_opt = {k: [tuple(p) for p in v] for k, v in raw["PATTERNS_NO_OPTIONS"].items()}
        vocab = (
            tuple(raw["OPT_START_STRING_CANDIDATES"]),
            tuple(tuple(x) for x in raw["OPT_ITEM_NAME_CANDIDATES"]),
            tuple(tuple(x) for x in raw["OPT_ITEM_END_STR_CANDIDATES"]),
        )
    except (KeyError, TypeError) as exc:
        raise FlankitError(f"malformed FLAN templates: missing {exc}", file=path) from exc
    return FlanTemplates(
        patterns=pairs,
        patterns_no_options=no_opt,
        fewshot=_fewshot_table(raw, path, "FEWSHOT_PATTERNS"),
        fewshot_no_options=_fewshot_table(raw, path, "FEWSHOT_PATTERNS_NO_OPTIONS"),
        opt_start=vocab[0],
        opt_items=vocab[1],
        opt_end=vocab[2],
        source=path,
    )


def draw_options(templates: FlanTemplates, rng: random.Random) -> OptionDraw:
    """One row's option style, drawn as FLAN draws it (three independent uniform choices)."""
    return OptionDraw(
        start=rng.randrange(len(templates.opt_start)),
        items=rng.randrange(len(templates.opt_items)),
        end=rng.randrange(len(templates.opt_end)),
    )


def random_options(
    templates: FlanTemplates, draw: OptionDraw, options: Sequence[str], answer: str
) -> tuple[str, str]:
    """(options_, answer) in the drawn Flan 2022 style; the answer becomes the item name when
    the item names are distinct and the answer is one of the options."""
    if len(options) > len(templates.opt_items[draw.items]):
        raise ValueError(f"{len(options)} options; FLAN's option styles allow at most 26")
    names = templates.opt_items[draw.items][: len(options)]
    ends = templates.opt_end[draw.end]
    body = "".join(names[i] + opt + ends[i] for i, opt in enumerate(options))
    text = templates.opt_start[draw.start] + body
    stripped = [n.strip() for n in names]
    if len(set(stripped)) == len(stripped):
        for i, opt in enumerate(options):
            if opt.strip() == answer.strip():
                return text, stripped[i]
    return text, answer


# ---------------------------------------------------------------- rendering one task


@dataclass(frozen=True)
class FlanRow:
    """One rendered row: the published submix columns plus the choices that produced it."""

    inputs: str
    targets: str
    template_type: str
    row: int  # position of the source row in the task
    template: int  # pattern index (in the mix list for five_shot)
    form: str = "zero_shot"  # zero_shot | five_shot | x_shot
    exemplars: tuple[int, ...] = ()  # positions of the exemplar rows, in prompt order
    options: OptionDraw | None = None


@dataclass
class RenderSpec:
    """How to render one task: its template key, whether it has options, seed and budget."""

    task: str
    key: str
    has_options: bool
    seed: int = 0
    max_len: int = FEW_SHOT_MAX_LEN
    count_tokens: Callable[[str], int] = approx_tokens  # FLAN counts T5 tokens
    drop_remainder: bool = False


def _rng(spec: RenderSpec, *parts: object) -> random.Random:
    return random.Random("|".join(str(p) for p in (spec.seed, spec.task, *parts)))


def with_options(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fields plus FLAN's deterministic `options_` block, where the row has options."""
    out = dict(fields)
    if "options" in out:
        out["options_"] = options_block(out["options"])
    return out


def zero_shot(
    rows: Rows, templates: FlanTemplates, spec: RenderSpec, template_type: str, on_error: OnError
) -> list[FlanRow]:
    """zs_opt (randomised options where the task has them) or zs_noopt, round-robin."""
    pairs = templates.for_type(template_type, spec.key)
    out = []
    for pos, fields in enumerate(rows):
        values = with_options(fields)
        draw = None
        if template_type == "zs_opt" and spec.has_options:
            draw = draw_options(templates, _rng(spec, "options", pos))
            try:
                values["options_"], values["answer"] = random_options(
                    templates, draw, values["options"], str(values["answer"])
                )
            except (KeyError, ValueError) as exc:
                on_error(pos, exc)
                continue
        inputs_pattern, targets_pattern = pairs[pos % len(pairs)]
        try:
            inputs = fill_fields(inputs_pattern, values)
            targets = fill_fields(targets_pattern, values)
        except MissingField as exc:
            on_error(pos, exc)
            continue
        out.append(FlanRow(inputs, targets, template_type, pos, pos % len(pairs), options=draw))
    return _drop_remainder(out, len(pairs)) if spec.drop_remainder else out


def _drop_remainder(rows: list[FlanRow], n: int) -> list[FlanRow]:
    return rows[: len(rows) - len(rows) % n]


def _base(
    rows: Rows, patterns: Patterns, on_error: OnError, *, separator_in_target: bool
) -> dict[int, tuple[str, str, int]]:
    """(inputs, targets, pattern index) of each row in its round-robin few-shot pattern."""
    out = {}
    for pos, fields in enumerate(rows):
        idx = pos % len(patterns)
        pat = patterns[idx]
        values = with_options(fields)
        target = pat.targets_with_separator if separator_in_target else pat.targets
        try:
            out[pos] = (
                fill_fields(pat.inputs_with_target_prefix, values),
                fill_fields(target, values),
                idx,
            )
        except MissingField as exc:
            on_error(pos, exc)
    return out


def _candidates(spec: RenderSpec, form: str, pos: int, pool: Sequence[int], k: int) -> list[int]:
    """`k` distinct rows of the (sorted) pool other than `pos`, drawn for this row."""
    here = bisect.bisect_left(pool, pos)
    own = here < len(pool) and pool[here] == pos
    n = len(pool) - own
    picks = _rng(spec, form, pos).sample(range(n), min(k, n))
    return [pool[j + 1] if own and j >= here else pool[j] for j in picks]


def mix_separator(spec: RenderSpec) -> str:
    """The one exemplar separator of a task's five_shot prompts (FLAN draws it per task)."""
    return MIX_SEPARATORS[_rng(spec, "separator").randrange(len(MIX_SEPARATORS))]


def _drawn(
    spec: RenderSpec,
    form: str,
    base: dict[int, tuple[str, str, int]],
    positions: Sequence[int],
    k: int,
) -> Iterator[tuple[int, tuple[str, str], int, list[int]]]:
    """(position, filled query, pattern index, `k` candidate exemplars) of each row at
    `positions` that filled without error."""
    pool = sorted(base)
    for pos in positions:
        if pos in base:
            inputs, targets, idx = base[pos]
            yield pos, (inputs, targets), idx, _candidates(spec, form, pos, pool, k)


def five_shot(
    rows: Rows, patterns: Patterns, spec: RenderSpec, positions: Sequence[int], on_error: OnError
) -> list[FlanRow]:
    """FLAN's template-mix few-shot prompts for the rows at `positions`."""
    mix = [p for p in patterns if p.in_template_mix]
    base = _base(rows, mix, on_error, separator_in_target=False)
    sep = mix_separator(spec)
    out = []
    for pos, query, idx, picks in _drawn(spec, "five_shot", base, positions, MIX_SHOTS):
        shots = [base[p][:2] for p in picks]
        inputs, target, n = assemble_mix(
            patterns, query, shots, sep, rows[pos], spec.count_tokens, spec.max_len
        )
        if n:
            out.append(FlanRow(inputs, target, "", pos, idx, "five_shot", tuple(picks[:n])))
    return out


def x_shot(
    rows: Rows, patterns: Patterns, spec: RenderSpec, positions: Sequence[int], on_error: OnError
) -> list[FlanRow]:
    """FLAN's same-pattern few-shot prompts for the rows at `positions`."""
    base = _base(rows, patterns, on_error, separator_in_target=True)
    out = []
    for pos, query, idx, picks in _drawn(spec, "x_shot", base, positions, X_SHOT_CANDIDATES):
        same = [p for p in picks if base[p][2] == idx]
        shots = [base[p][:2] for p in same]
        inputs, target, n = assemble_x_shot(query, shots, spec.count_tokens, spec.max_len)
        if n:
            out.append(FlanRow(inputs, target, "", pos, idx, "x_shot", tuple(same[:n])))
    return out


def few_shot(
    rows: Rows, templates: FlanTemplates, spec: RenderSpec, template_type: str, on_error: OnError
) -> list[FlanRow]:
    """fs_opt (five_shot or x_shot per row, drawn evenly) or fs_noopt (x_shot)."""
    patterns = templates.for_type(template_type, spec.key)
    if template_type == "fs_noopt":
        made = x_shot(rows, patterns, spec, range(len(rows)), on_error)
    else:
        coin = [_rng(spec, "fs_form", pos).random() < 0.5 for pos in range(len(rows))]
        errors: set[int] = set()

        def once(pos: int, exc: Exception) -> None:  # both forms see a bad row: count it once
            if pos not in errors:
                errors.add(pos)
                on_error(pos, exc)

        five = [p for p in range(len(rows)) if coin[p]]
        xs = [p for p in range(len(rows)) if not coin[p]]
        made = five_shot(rows, patterns, spec, five, once) + x_shot(rows, patterns, spec, xs, once)
        made.sort(key=lambda r: r.row)
    return [
        FlanRow(r.inputs, r.targets, template_type, r.row, r.template, r.form, r.exemplars)
        for r in made
    ]


def render(
    rows: Rows, templates: FlanTemplates, spec: RenderSpec, template_type: str, on_error: OnError
) -> list[FlanRow]:
    """One task's rows rendered in one FLAN template type."""
    if template_type not in TEMPLATE_TYPES:
        raise FlankitError(
            f"unknown template type {template_type!r} (one of {', '.join(TEMPLATE_TYPES)})",
            task=spec.task,
        )
    if template_type.startswith("zs"):
        return zero_shot(rows, templates, spec, template_type, on_error)
    return few_shot(rows, templates, spec, template_type, on_error)
