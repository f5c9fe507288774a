"""MMLU, 5-shot, the Flan paper's formats.

Direct: "Q: ...\\n(A) .. (B) .. (C) .. (D) ..\\nA: (X)" with the first 5 `dev` rows as exemplars,
scored by generation and letter extraction, or by the log-likelihood of " (A)".." (D)".
CoT: the Flan paper's `mmlu-cot.json` prompt of the subject, verbatim, then the question and
"A: Let's think step by step." Split: `validation` (the paper's; here the pre-release copy with
1,542 questions, see shared/data/mmlu/SOURCE.md) or `test`. Averages: macro over subjects (the
paper's) and micro over questions.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from flankit.data.sources import BadRows, open_text, read_json, utf8_error
from flankit.errors import FlankitError
from flankit.evals import extract
from flankit.evals.benchmarks import Benchmark, Item, Score, Setup, no_examples

PROMPT_VERSION = "mmlu-flan-v2"
LETTERS = "ABCD"
SPLIT_DIRS = {"validation": ("val_prerelease", "val"), "test": ("test", "test")}
COLUMNS = ("question", "A", "B", "C", "D", "answer")


@dataclass(frozen=True)
class Options:
    split: Literal["validation", "test"] = field(
        default="validation", metadata={"help": "MMLU split"}
    )
    scoring: Literal["generate", "loglikelihood"] = field(
        default="generate",
        metadata={
            "help": "direct MMLU: generate and extract a letter, or pick the likeliest option"
        },
    )
    subjects: list[str] | None = field(
        default=None, metadata={"help": "comma list of MMLU subjects (default: all 57)"}
    )


def _row_error(row: list[str], path: str, line: int, task: str) -> FlankitError | None:
    if len(row) != 6:
        return FlankitError(
            f"expected 6 columns: question, A, B, C, D, answer letter; got {len(row)}",
            file=path,
            line=line,
            task=task,
        )
    error = utf8_error(dict(zip(COLUMNS, row)), file=path, line=line, task=task)
    if error:
        return error
    for name, value in zip(COLUMNS, row):
        if not value.strip():
            return FlankitError("empty value", file=path, line=line, task=task, field=name)
    if row[5] not in LETTERS:
        return FlankitError(
            f"answer {row[5]!r} is not one of A, B, C, D",
            file=path,
            line=line,
            task=task,
            field="answer",
        )
    return None


def _rows(path: Path, subject: str, bad: BadRows) -> list[list[str]]:
    """The well-formed rows of one MMLU CSV; a bad row is refused, or skipped and counted."""
    task = f"mmlu/{subject}"
    if not path.exists():
        raise FlankitError("MMLU file not found", file=str(path), task=task)
    rows = []
    with open_text(str(path), task) as f:
        reader = csv.reader(f)
        for r in reader:
            if not r:
                continue
            error = _row_error(r, str(path), reader.line_num, task)
            if error:
                bad.handle(error)
                continue
            rows.append(r)
    if not rows:
        raise no_examples(task, str(path), bad)
    return rows


def question_block(row: list[str]) -> str:
    opts = " ".join(f"({letter}) {text}" for letter, text in zip(LETTERS, row[1:5]))
    return f"Q: {row[0].strip()}\n{opts}"


def subjects(root: Path) -> list[str]:
    return sorted(p.name[: -len("_dev.csv")] for p in (root / "dev").glob("*_dev.csv"))


def direct_prompt(subject: str, shots: list[list[str]], row: list[str]) -> str:
    header = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    body = "".join(f"{question_block(s)}\nA: ({s[5]})\n\n" for s in shots)
    return header + body + question_block(row) + "\nA:"


def cot_prompt(cot_text: str, row: list[str]) -> str:
    return cot_text.rstrip() + "\n\n" + question_block(row) + "\nA: Let's think step by step."


def load(
    root: Path,
    modes: list[str],
    *,
    split: str = "validation",
    limit: int | None = None,
    subject_filter: list[str] | None = None,
    scoring: str = "generate",
    bad: BadRows | None = None,
) -> list[Item]:
    root = Path(root)
    bad = bad if bad is not None else BadRows()
    if split not in SPLIT_DIRS:
        raise FlankitError(f"MMLU split {split!r} is not one of {', '.join(SPLIT_DIRS)}")
    folder, suffix = SPLIT_DIRS[split]
    cot = {}
    if "cot" in modes:
        cot_path = root / "flan_cot_prompts" / "mmlu-cot.json"
        if not cot_path.exists():
            raise FlankitError("MMLU CoT prompts not found", file=str(cot_path))
        cot = read_json(cot_path, task="mmlu")
        if not isinstance(cot, dict):
            raise FlankitError("expected an object of prompts by subject", file=str(cot_path))
    items = []
    for subject in subjects(root):
        if subject_filter and subject not in subject_filter:
            continue
        shots = _rows(root / "dev" / f"{subject}_dev.csv", subject, bad)[:5]
        rows = _rows(root / folder / f"{subject}_{suffix}.csv", subject, bad)[:limit]
        if "cot" in modes:
            if subject not in cot:
                raise FlankitError(
                    "no CoT prompt for this subject", file=str(cot_path), task=f"mmlu/{subject}"
                )
            error = utf8_error({subject: cot[subject]}, file=str(cot_path), task="mmlu")
            if error:
                raise error
        for i, row in enumerate(rows):
            for mode in modes:
                direct = mode == "direct"
                items.append(
                    Item(
                        "mmlu",
                        subject,
                        f"{subject}-{i}",
                        mode,
                        direct_prompt(subject, shots, row)
                        if direct
                        else cot_prompt(cot[subject], row),
                        row[5],
                        "letter",
                        options=tuple(row[1:5]),
                        max_new_tokens=8 if direct else 256,
                        stop=("\n\nQ:", "\nQ:"),
                        chance=0.25,
                        continuations=tuple(f" ({c})" for c in LETTERS)
                        if direct and scoring == "loglikelihood"
                        else (),
                    )
                )
    return items


def score(item: Item, output: str) -> Score:
    """The letter the output picks (by letter or by option text)."""
    pred = extract.extract_letter(output, "ABCD", list(item.options))
    return pred, pred == item.gold, 0.0


def _load(options: Options, setup: Setup) -> list[Item]:
    return load(
        setup.root / "mmlu",
        list(setup.modes),
        split=options.split,
        limit=setup.limit,
        subject_filter=options.subjects,
        scoring=options.scoring,
        bad=setup.bad,
    )


BENCHMARK = Benchmark(
    "mmlu",
    _load,
    score,
    PROMPT_VERSION,
    Options,
    paper_columns=(("direct", "MMLU direct"), ("cot", "MMLU CoT")),
)
