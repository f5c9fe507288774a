"""BIG-Bench Hard: 27 subtasks, 3-shot, from the official `cot-prompts` files.

CoT: the prompt file's text (after its canary line and `-----`), verbatim, then "\\n\\nQ: {input}\\nA:
Let's think step by step." Direct: the same three exemplars with the rationale removed
("A: {answer}"). Scoring: the phrase after "So the answer is", compared ignoring case and
punctuation. Average: macro over the 27 subtasks, as the paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from flankit.data.sources import BadRows, read_json, utf8_error
from flankit.errors import FlankitError
from flankit.evals import extract
from flankit.evals.benchmarks import Benchmark, Item, Score, Setup, no_examples, read_text

PROMPT_VERSION = "bbh-suzgun-v1"
OPTION_LINE = re.compile(r"^(?:\([A-Z]\)|- )", re.MULTILINE)


@dataclass(frozen=True)
class Options:
    subtasks: list[str] | None = field(
        default=None, metadata={"help": "comma list of BBH subtasks (default: all 27)"}
    )


def prompt_text(path: Path) -> str:
    """The prompt file without its canary line and separator."""
    text = read_text(path, task=f"bbh/{path.stem}")
    lines = text.split("\n")
    if (
        lines
        and lines[0].startswith("BENCHMARK DATA")
        and len(lines) > 1
        and lines[1].strip() == "-----"
    ):
        lines = lines[2:]
    return "\n".join(lines).strip()


def direct_text(cot_text: str) -> str:
    """The same exemplars, each answer without its rationale."""
    parts = cot_text.split("\n\nQ: ")
    out = [parts[0]]
    for ex in parts[1:]:
        q, _, a = ex.partition("\nA: ")
        m = re.search(r"So the answer is (.+?)\.?\s*$", a.strip(), re.DOTALL)
        if not m:
            raise FlankitError("exemplar without 'So the answer is'", task="bbh")
        out.append(f"{q}\nA: {m.group(1).strip()}")
    return "\n\nQ: ".join(out)


def chance(question: str, answers: set[str]) -> float:
    """Random-guess accuracy: 1/options where the question lists options, else one over the
    size of the subtask's answer set (`answers`: every target of the subtask, e.g. True and
    False for boolean_expressions, the 17 counts of object_counting)."""
    tail = question.split("Options:", 1)[1] if "Options:" in question else ""
    n = len(OPTION_LINE.findall(tail))
    if n:
        return 1.0 / n
    return 1.0 / len(answers) if answers else 0.0


def examples(path: Path, task: str, bad: BadRows) -> list[tuple[int, dict]]:
    """(index, example) for the usable examples of one BBH subtask file."""
    data = read_json(path, task=task)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise FlankitError("no 'examples' list", file=str(path), task=task, field="examples")
    out = []
    for i, ex in enumerate(data["examples"]):
        where = f"{path}:#{i}"
        if not isinstance(ex, dict):
            bad.handle(FlankitError("example is not an object", file=where, task=task))
            continue
        error = utf8_error({k: ex.get(k) for k in ("input", "target")}, file=where, task=task)
        for name in ("input", "target"):
            value = ex.get(name)
            if error is None and (not isinstance(value, str) or not value.strip()):
                error = FlankitError("missing or empty", file=where, task=task, field=name)
        if error:
            bad.handle(error)
            continue
        out.append((i, ex))
    if not out:
        raise no_examples(task, str(path), bad)
    return out


def load(
    root: Path,
    modes: list[str],
    *,
    limit: int | None = None,
    subtasks: list[str] | None = None,
    bad: BadRows | None = None,
) -> list[Item]:
    root = Path(root)
    bad = bad if bad is not None else BadRows()
    files = sorted((root / "bbh").glob("*.json"))
    if not files:
        raise FlankitError("no BBH subtask files", file=str(root / "bbh"))
    items = []
    for path in files:
        name = path.stem
        if subtasks and name not in subtasks:
            continue
        prompt_path = root / "cot-prompts" / f"{name}.txt"
        if not prompt_path.exists():
            raise FlankitError(
                "BBH prompt file not found", file=str(prompt_path), task=f"bbh/{name}"
            )
        cot = prompt_text(prompt_path)
        direct = direct_text(cot) if "direct" in modes else ""
        usable = examples(path, f"bbh/{name}", bad)
        # The answer set is the whole subtask's, also when --limit takes a few questions.
        answers = {str(ex["target"]) for _, ex in usable}
        for i, ex in usable[:limit]:
            for mode in modes:
                if mode == "cot":
                    prompt = f"{cot}\n\nQ: {ex['input']}\nA: Let's think step by step."
                    max_new = 384
                else:
                    prompt = f"{direct}\n\nQ: {ex['input']}\nA:"
                    max_new = 32
                items.append(
                    Item(
                        "bbh",
                        name,
                        f"{name}-{i}",
                        mode,
                        prompt,
                        ex["target"],
                        "bbh",
                        max_new_tokens=max_new,
                        stop=("\n\nQ:", "\nQ:"),
                        chance=chance(ex["input"], answers),
                    )
                )
    return items


def score(item: Item, output: str) -> Score:
    """The phrase after "So the answer is" (CoT) or the first line (direct), matched loosely."""
    pred = (
        extract.bbh_answer(output) if item.mode == "cot" else output.strip().split("\n")[0].strip()
    )
    return pred, extract.bbh_match(pred, str(item.gold)), 0.0


def _load(options: Options, setup: Setup) -> list[Item]:
    return load(
        setup.root / "bbh",
        list(setup.modes),
        limit=setup.limit,
        subtasks=options.subtasks,
        bad=setup.bad,
    )


BENCHMARK = Benchmark(
    "bbh",
    _load,
    score,
    PROMPT_VERSION,
    Options,
    paper_columns=(("direct", "BBH direct"), ("cot", "BBH CoT")),
)
