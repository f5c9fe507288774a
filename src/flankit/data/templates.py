"""Instruction templates as data: named-field format strings validated against a task's fields.

A template has an optional `prefix` (rendered once, before any few-shot exemplars: a task
definition, say), `inputs` (rendered per example) and `targets`. Kinds:
- `direct`: the answer alone;
- `cot`: a chain-of-thought rationale, then the answer;
- `inverted`: input inversion, answer and rationale in, question out.

Example:
    >>> t = Template.parse({"id": "qa", "inputs": "Q: {question}\\n{options_}", "targets": "{answer}"})
    >>> t.fields == {"question", "answer"}
    True
    >>> t.render({"question": "2+2?", "answer": "4"}, options_text="")
    ('Q: 2+2?', '4')
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from flankit.errors import FlankitError

# Fields every renderer provides itself; tasks need not supply them.
SPECIAL_FIELDS = frozenset({"options_"})
KINDS = ("direct", "cot", "inverted")


def template_fields(fmt: str, *, where: str | None = None, task: str | None = None) -> set[str]:
    """Field names used by a format string; only plain identifiers are allowed."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise FlankitError(f"bad template {fmt!r}: {exc}", file=where, task=task) from exc
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise FlankitError(
                f"template field {{{name}}} must be a plain name (no attributes, indexes or specs)",
                file=where,
                task=task,
                field=name,
            )
        names.add(name)
    return names


def literal(text: str) -> str:
    """Text from a task file used as template text: its braces are text, not fields."""
    return text.replace("{", "{{").replace("}", "}}")


def _strip_options(fmt: str) -> str:
    for pattern in ("\n\n{options_}", "\n{options_}", " {options_}", "{options_}"):
        fmt = fmt.replace(pattern, "")
    return fmt


@dataclass(frozen=True)
class Template:
    """One instruction template: prefix + inputs -> targets, with an id unique within its task."""

    id: str
    inputs: str
    targets: str
    prefix: str = ""
    kind: str = "direct"

    @classmethod
    def parse(cls, raw: dict[str, Any], *, where: str | None = None, task: str | None = None):
        """Build a template from a mapping (YAML), checking its keys and format strings."""
        if not isinstance(raw, dict):
            raise FlankitError("a template must be a mapping", file=where, task=task)
        unknown = set(raw) - {"id", "inputs", "targets", "prefix", "kind"}
        if unknown:
            raise FlankitError(f"unknown template key(s) {sorted(unknown)}", file=where, task=task)
        for key in ("id", "inputs", "targets"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise FlankitError(f"template needs a non-empty {key!r}", file=where, task=task)
        kind = raw.get("kind", "direct")
        if kind not in KINDS:
            raise FlankitError(
                f"template kind {kind!r} is not one of {KINDS}", file=where, task=task
            )
        tpl = cls(str(raw["id"]), raw["inputs"], raw["targets"], raw.get("prefix", ""), kind)
        tpl.fields_checked(where=where, task=task)
        return tpl

    def fields_checked(self, *, where: str | None = None, task: str | None = None) -> set[str]:
        names: set[str] = set()
        for part in (self.prefix, self.inputs, self.targets):
            names |= template_fields(part, where=where, task=task)
        return names - SPECIAL_FIELDS

    @property
    def fields(self) -> set[str]:
        return self.fields_checked()

    def validate(self, available: set[str], *, task: str, where: str | None = None) -> None:
        """Fail when the template names a field the task does not provide."""
        missing = self.fields - set(available)
        if missing:
            name = sorted(missing)[0]
            raise FlankitError(
                f"template {self.id} names unknown field {{{name}}}; the task provides "
                f"{', '.join(sorted(available))}",
                file=where,
                task=task,
                field=name,
            )

    def render(self, values: dict[str, Any], options_text: str) -> tuple[str, str]:
        """Render (prefix + inputs, targets) for one example."""
        prefix, inputs = self.render_parts(values, options_text)
        return prefix + inputs, self.targets.format_map(values)

    def render_parts(self, values: dict[str, Any], options_text: str) -> tuple[str, str]:
        """Render (prefix, inputs) separately, so few-shot prompts can put the prefix once."""
        if options_text:
            inputs = self.inputs if "{options_}" in self.inputs else self.inputs + "\n\n{options_}"
            vals = {**values, "options_": options_text}
        else:
            inputs, vals = _strip_options(self.inputs), values
        prefix = _strip_options(self.prefix).format_map(vals) if self.prefix else ""
        return prefix, inputs.format_map(vals)


def parse_templates(raws: list[dict], *, where: str | None, task: str) -> tuple[Template, ...]:
    """Parse a list of template mappings; ids must be unique."""
    out = tuple(Template.parse(r, where=where, task=task) for r in raws)
    seen: set[str] = set()
    for t in out:
        if t.id in seen:
            raise FlankitError(f"duplicate template id {t.id!r}", file=where, task=task)
        seen.add(t.id)
    return out


@dataclass(frozen=True)
class OptionStyle:
    """How answer options are listed; lettered styles make the target the letter."""

    header: str
    marker: str  # "-" bullets, "A" letters, "a" lower letters, "1" numbers
    open: str = ""
    close: str = ""
    answer_is_marker: bool = False

    def render(self, options: list[str], answer: str) -> tuple[str, str]:
        lines = []
        answer_marker = None
        for i, opt in enumerate(options):
            if self.marker == "-":
                mark = "-"
            elif self.marker == "A":
                mark = f"{self.open}{chr(65 + i)}{self.close}"
            elif self.marker == "a":
                mark = f"{self.open}{chr(97 + i)}{self.close}"
            else:
                mark = f"{self.open}{i + 1}{self.close}"
            lines.append(f"{mark} {opt}")
            if opt == answer:
                answer_marker = mark
        text = self.header + "\n" + "\n".join(lines) if self.header else "\n".join(lines)
        if self.answer_is_marker and answer_marker is not None:
            return text, answer_marker
        return text, answer


# The first style is Flan's deterministic format; the rest vary it as Flan's randomised options do.
OPTION_STYLES = (
    OptionStyle("OPTIONS:", "-"),
    OptionStyle("Options:", "A", "(", ")", answer_is_marker=True),
    OptionStyle("Choose from:", "-"),
    OptionStyle("Possible answers:", "a", "", ")", answer_is_marker=True),
    OptionStyle("Select from the following.", "-"),
    OptionStyle("Available choices:", "1", "(", ")", answer_is_marker=True),
    OptionStyle("Pick your answer from:", "-"),
    OptionStyle("", "A", "(", ")", answer_is_marker=True),
)


@dataclass(frozen=True)
class FewShotPattern:
    """Exemplar delimiters: prefix + input + x_y + target prefix + target + separator."""

    input_prefix: str = ""
    target_prefix: str = ""
    x_y: str = "\n\n"
    separator: str = "\n\n\n"

    def render(self, prefix: str, shots: list[tuple[str, str]], query: str) -> str:
        parts = [prefix]
        for inp, tgt in shots:
            parts.append(
                f"{self.input_prefix}{inp}{self.x_y}{self.target_prefix}{tgt}{self.separator}"
            )
        parts.append(f"{self.input_prefix}{query}{self.x_y}{self.target_prefix}".rstrip(" "))
        return "".join(parts).rstrip()


FEWSHOT_PATTERNS = (
    FewShotPattern(),
    FewShotPattern("Q: ", "A: ", "\n", "\n\n"),
    FewShotPattern("Question: ", "Answer: ", "\n", "\n\n"),
    FewShotPattern("Problem: ", "Solution: ", "\n", "\n\n\n"),
    FewShotPattern("Input: ", "Output: ", "\n", "\n\n"),
    FewShotPattern("", "", "\n", "\n\n"),
    FewShotPattern("", "", "\n\n", "\n----\n"),
    FewShotPattern("", "Answer: ", "\n", "\n\n\n"),
)
