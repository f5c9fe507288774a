"""Tasks: source rows as named fields, rendered through instruction templates.

A task knows its examples, its templates, and two optional fields: `options` (a list of answer
options) and `rationale` (a chain of thought). `render_example` turns one example into an
(inputs, targets) pair for a format: zero-shot or few-shot (`zs`/`fs`), with or without options
(`opt`/`noopt`), direct or chain-of-thought, or input-inverted. Every choice is drawn from a
random generator seeded by (seed, task, example index, epoch), so the same call always renders the
same text, in any process.

Example:
    >>> from flankit.data.templates import Template
    >>> task = Task(
    ...     name="add",
    ...     collection="demo",
    ...     examples=[Example({"question": f"{i}+1?", "answer": str(i + 1)}) for i in range(5)],
    ...     templates=(Template("t0", "{question}", "{answer}"),),
    ... )
    >>> render_example(task, 2, Variant("zsopt"), seed=0).inputs
    '2+1?'
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flankit.data.templates import FEWSHOT_PATTERNS, OPTION_STYLES, OptionStyle, Template
from flankit.errors import FlankitError

FORMATS = ("zsopt", "zsnoopt", "fsopt", "fsnoopt")


class Example:
    """One source row's named fields, plus where it came from (file:line) for error messages."""

    __slots__ = ("fields", "where")

    def __init__(self, fields: dict[str, Any], where: str = "") -> None:
        self.fields = fields
        self.where = where

    def __repr__(self) -> str:
        return f"Example({self.fields!r}, where={self.where!r})"


@dataclass
class Task:
    """A named task: its examples, templates and (optional) fixed few-shot exemplars."""

    name: str
    collection: str
    examples: Sequence[Example]
    templates: tuple[Template, ...]
    exemplars: Sequence[Example] = ()  # fixed exemplars (NIV2 positive examples); else same task
    max_exemplars: int | None = None  # NIV2 uses at most 2
    meta: dict[str, Any] = field(default_factory=dict)
    # A task that renders itself (FLAN's prompts, shot counts and 1,920-token budget):
    # renderer(task, index, variant, seed=, epoch=); max_shots and fewshot_budget do not apply.
    renderer: Callable[..., Rendered] | None = None

    def __post_init__(self) -> None:
        if not self.templates:
            raise FlankitError("a task needs at least one template", task=self.name)
        if self.examples:
            available = set(self.examples[0].fields)
            for tpl in self.templates:
                tpl.validate(available, task=self.name, where=self.meta.get("source"))
        self.by_kind: dict[str, tuple[Template, ...]] = {
            kind: tuple(t for t in self.templates if t.kind == kind)
            for kind in ("direct", "cot", "inverted")
        }
        self.has_options = bool(self.examples) and "options" in self.examples[0].fields
        self.has_rationale = bool(self.examples) and "rationale" in self.examples[0].fields

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def supports_cot(self) -> bool:
        return self.has_rationale and bool(self.by_kind["cot"])

    @property
    def supports_inversion(self) -> bool:
        return bool(self.by_kind["inverted"])


@dataclass(frozen=True)
class Variant:
    """What to render: a format, and whether to use chain of thought or input inversion."""

    format: str = "zsopt"
    cot: bool = False
    inverted: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise FlankitError(
                f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}"
            )


@dataclass(frozen=True)
class Rendered:
    """One rendered training example with the choices that produced it."""

    task: str
    collection: str
    index: int
    inputs: str
    targets: str
    template: str
    format: str
    cot: bool
    inverted: bool
    shots: int

    def to_row(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "targets": self.targets,
            "task": self.task,
            "collection": self.collection,
            "index": self.index,
            "template": self.template,
            "format": self.format,
            "cot": self.cot,
            "inverted": self.inverted,
            "shots": self.shots,
        }


def approx_tokens(text: str) -> int:
    """A fast stand-in for a subword token count: about 4 characters per token."""
    return len(text) // 4 + 1


def example_rng(seed: int, task: str, index: int, epoch: int = 0) -> random.Random:
    """The generator behind every choice for one example (string seeds hash stably)."""
    return random.Random(f"{seed}|{task}|{index}|{epoch}")


def _values(ex: Example, style: OptionStyle | None) -> tuple[dict, str]:
    values = ex.fields
    options = values.get("options") if style is not None else None
    if not options:
        return values, ""
    text, answer = style.render(list(options), str(values["answer"]))
    return {**values, "answer": answer}, text


def _render_one(tpl: Template, ex: Example, style: OptionStyle | None, task: str):
    values, options_text = _values(ex, style)
    try:
        prefix, inputs = tpl.render_parts(values, options_text)
        targets = tpl.targets.format_map(values)
    except KeyError as exc:
        raise FlankitError(
            f"template {tpl.id} needs a field the example lacks",
            file=ex.where or None,
            task=task,
            field=str(exc.args[0]),
        ) from None
    return prefix, inputs, targets


def prerendered(
    task: Task, index: int, variant: Any = None, *, seed: int = 0, epoch: int = 0
) -> Rendered:
    """The renderer of a task whose examples already hold rendered `inputs`/`targets` (and
    `format`, `template`, `shots`), made by its collection the way its source does (FLAN's Muffin)."""
    fields = task.examples[index].fields
    return Rendered(
        task=task.name,
        collection=task.collection,
        index=index,
        inputs=fields["inputs"],
        targets=fields["targets"],
        template=str(fields.get("template", "")),
        format=str(fields.get("format", "zsopt")),
        cot=False,
        inverted=False,
        shots=int(fields.get("shots", 0)),
    )


def render_example(
    task: Task,
    index: int,
    variant: Variant,
    *,
    seed: int = 0,
    epoch: int = 0,
    max_shots: int = 5,
    fewshot_budget: int = 1920,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> Rendered:
    """Render example `index` of `task` in `variant`; deterministic in (seed, task, index, epoch).

    Few-shot exemplars come from the task's fixed exemplars if it has them, else from its other
    examples (never the example itself); they are dropped from the end until the prompt fits in
    `fewshot_budget` tokens. An example left with no exemplar is rendered zero-shot (`shots=0`).
    """
    if task.renderer is not None:
        return task.renderer(task, index, variant, seed=seed, epoch=epoch)
    rng = example_rng(seed, task.name, index, epoch)
    kind = "inverted" if variant.inverted else ("cot" if variant.cot else "direct")
    pool = task.by_kind[kind]
    if not pool:
        raise FlankitError(f"task has no {kind} templates", task=task.name)
    tpl = pool[rng.randrange(len(pool))]
    with_options = not variant.format.endswith("noopt")
    # One option style per prompt, so exemplars and query list their options alike.
    style = OPTION_STYLES[rng.randrange(len(OPTION_STYLES))] if with_options else None
    ex = task.examples[index]
    prefix, query, targets = _render_one(tpl, ex, style, task.name)

    shots: list[tuple[str, str]] = []
    if variant.format.startswith("fs"):
        fixed = bool(task.exemplars)
        n_pool = len(task.exemplars) if fixed else len(task) - 1
        limit = min(max_shots, task.max_exemplars or max_shots, n_pool)
        if limit > 0:
            k = rng.randint(1, limit)
            picks = rng.sample(range(n_pool), k)
            source = task.exemplars if fixed else task.examples
            budget = fewshot_budget - count_tokens(prefix + query)
            for j in picks:
                shot_ex = source[j if fixed or j < index else j + 1]
                _, s_in, s_tgt = _render_one(tpl, shot_ex, style, task.name)
                cost = count_tokens(s_in) + count_tokens(s_tgt)
                if cost > budget:
                    break
                budget -= cost
                shots.append((s_in, s_tgt))
    if shots:
        pattern = FEWSHOT_PATTERNS[rng.randrange(len(FEWSHOT_PATTERNS))]
        inputs = pattern.render(prefix, shots, query)
    else:
        inputs = prefix + query
    return Rendered(
        task=task.name,
        collection=task.collection,
        index=index,
        inputs=inputs.strip(),
        targets=targets.strip(),
        template=tpl.id,
        format=variant.format,
        cot=variant.cot,
        inverted=variant.inverted,
        shots=len(shots),
    )


def prepare_examples(tasks: Sequence[Task]) -> None:
    """Let tasks whose examples are read lazily (a `prepare()` method: the published submixes'
    parquet texts) read them now, once, before worker processes fork and each would read them."""
    for task in tasks:
        prepare = getattr(task.examples, "prepare", None)
        if prepare is not None:
            prepare()
