"""The Flan CoT collection: `<name>_train.tsv` files of question, answer and chain of thought."""

from __future__ import annotations

from pathlib import Path

from flankit.data.collections.spec import CollectionSpec, folder_for
from flankit.data.sources import BadRows, read_cot_tsv
from flankit.data.tasks import Task
from flankit.data.templates import Template

COT_DIRECT = (
    Template("cot_d0", "{question}", "{answer}"),
    Template("cot_d1", "Question: {question}\nAnswer:", "{answer}"),
    Template("cot_d2", "Answer the following question.\n{question}", "{answer}"),
    Template("cot_d3", "{question}\nGive only the final answer.", "{answer}"),
    Template("cot_d4", "Q: {question}\nA:", "{answer}"),
)
COT_COT = (
    Template(
        "cot_c0",
        "{question} Let's think first. Chain of thought:",
        "{rationale}\nTherefore, the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c1",
        "{question}\nLet's think step by step.",
        "{rationale}\nSo the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c2",
        "Question: {question}\nAnswer with step-by-step reasoning:",
        "{rationale}\nThe answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c3",
        "{question} Think carefully first, then make a decision:",
        "{rationale} So, the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c4",
        "Q: {question}\nA: Let's think step by step.",
        "{rationale} The answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c5",
        "Use reasoning to lead to the answer of the following question:\n{question}\n Reasoning process:",
        "{rationale}\nThe final answer: {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c6",
        "{question} Stream of consciousness first, then make a decision:",
        "{rationale}\nThus, the answer is {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c7",
        "Question: {question}\nLet's think step by step:",
        "{rationale} Final answer: {answer}.",
        kind="cot",
    ),
    Template(
        "cot_c8",
        "Answer this question, explaining your reasoning.\n{question}",
        "{rationale}\nAnswer: {answer}",
        kind="cot",
    ),
    Template(
        "cot_c9",
        "{question}\nWork it out step by step before answering.",
        "Step by step: {rationale}\nSo the final answer is {answer}.",
        kind="cot",
    ),
)
COT_INVERTED = (
    Template(
        "cot_i0",
        "Given the following reasoning and answer, what was the question? {rationale}\n The answer: {answer}",
        "The question {question}",
        kind="inverted",
    ),
    Template(
        "cot_i1",
        "Reverse engineer the question: {answer}\nReasoning: {rationale}",
        "The question: {question}",
        kind="inverted",
    ),
    Template(
        "cot_i2",
        "Come up with a question and reasoning that would justify this answer: {answer}",
        "The question is: {question}\nStep-by-step reasoning process: {rationale}",
        kind="inverted",
    ),
    Template(
        "cot_i3",
        "What question would produce this chain of thought and answer?\n{rationale}\nAnswer: {answer}",
        "Question: {question}",
        kind="inverted",
    ),
    Template(
        "cot_i4",
        "Imagine a question and stream-of-consciousness explanation for which this is the answer: {answer}",
        "Question: {question}\nStream of consciousness: {rationale}",
        kind="inverted",
    ),
)


def load(spec: CollectionSpec, root: Path, bad: BadRows) -> list[Task]:
    folder = folder_for(spec, root, "flan_cot")
    tasks = []
    for tsv in sorted(folder.glob("*_train.tsv")):
        name = "cot_" + tsv.name[: -len("_train.tsv")]
        examples = list(read_cot_tsv(tsv, task=name, bad=bad))
        tasks.append(
            Task(
                name,
                "cot",
                examples,
                COT_DIRECT + COT_COT + COT_INVERTED,
                meta={"source": str(tsv)},
            )
        )
    return tasks


def names(spec: CollectionSpec, root: Path) -> list[str]:
    folder = folder_for(spec, root, "flan_cot")
    return ["cot_" + tsv.name[: -len("_train.tsv")] for tsv in sorted(folder.glob("*_train.tsv"))]
