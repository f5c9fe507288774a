"""The nine chain-of-thought tasks of Flan 2022 with FLAN's CoT templates and input inversions.

Each source is a `<name>_train.tsv` of FLAN's `cot_data/`: no header, three tab-separated
columns (question, answer, chain of thought), literal `\\n` escapes in the question and the
chain of thought (FLAN turns them into newlines and leaves the answer as it is; nothing is
stripped). Seven files ship with FLAN; `esnli_train.tsv` and `qed_train.tsv` are named by its
task configs but absent from its repository, so those two tasks are read when their files are
given, in the same format, and listed as missing otherwise.

FLAN names a task `<type>_<name>` (`cot_gsm8k`; `stream_aqua` and `stream_qed` for the two
with lower-quality, stream-of-consciousness rationales) and its input inversion
`<type>_<name>_ii`, rendered with the `<type>_input_inversion_<name>` patterns: the answer and
the rationale in, the question (and rationale) out. Both have zero-shot patterns and few-shot
patterns; CoT has no no-options variant.

Example:
    >>> row = parse_line("What is 1+1?\\t2\\tOne plus one is two.", where="x.tsv:1", task="cot_demo")
    >>> row["chain_of_thought"]
    'One plus one is two.'
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from flankit.data.flan2022.patterns import key_and_task, render_row, zs_fs_submix_rows
from flankit.data.sources import BadRows, open_text
from flankit.errors import FlankitError

TASK_SOURCE = "CoT"
COT_CAP = 100_000  # FLAN's per-task mixing cap for CoT and CoT-II
INVERSION_RATE = 0.3  # CoT-II is mixed at 0.3 : 1 against CoT


@dataclass(frozen=True)
class CotDataset:
    """One FLAN CoT source: its file stem, rationale type and FLAN's row count."""

    name: str
    kind: str  # "cot" (curated rationales) or "stream" (stream of consciousness)
    rows: int
    shipped: bool = True  # in FLAN's repository (esnli and qed are not)

    @property
    def task(self) -> str:
        return f"{self.kind}_{self.name}"

    @property
    def inverted_task(self) -> str:
        return f"{self.kind}_{self.name}_ii"

    @property
    def key(self) -> str:
        return self.task

    @property
    def inverted_key(self) -> str:
        return f"{self.kind}_input_inversion_{self.name}"

    @property
    def file(self) -> str:
        return f"{self.name}_train.tsv"


DATASETS = (
    CotDataset("gsm8k", "cot", 7473),
    CotDataset("strategyqa", "cot", 2061),
    CotDataset("creak", "cot", 6915),
    CotDataset("qasc", "cot", 1084),
    CotDataset("esnli", "cot", 36174, shipped=False),
    CotDataset("ecqa", "cot", 7112),
    CotDataset("sensemaking", "cot", 6070),
    CotDataset("aqua", "stream", 2728),
    CotDataset("qed", "stream", 5154, shipped=False),
)
BY_TASK = {d.task: d for d in DATASETS}


def parse_line(line: str, *, where: str, task: str) -> dict[str, str]:
    """FLAN's `simple_cot_tsv` on one line: question, answer, chain_of_thought."""
    cols = line.split("\t")
    if len(cols) != 3:
        raise FlankitError(
            f"expected 3 tab-separated columns (question, answer, chain of thought), got {len(cols)}",
            file=where,
            task=task,
        )
    for name, value in zip(("question", "answer", "chain_of_thought"), cols):
        if not value.strip():
            raise FlankitError("empty value", file=where, task=task, field=name)
    return {
        "question": cols[0].replace("\\n", "\n"),
        "answer": cols[1],
        "chain_of_thought": cols[2].replace("\\n", "\n"),
    }


def read_tsv(path: str | Path, *, task: str, bad: BadRows | None = None) -> list[dict[str, str]]:
    """Every row of one CoT TSV; a bad line raises, or with `bad` is counted and skipped."""
    rows = []
    with open_text(str(path), task) as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            try:
                rows.append(parse_line(line, where=f"{path}:{lineno}", task=task))
            except FlankitError as error:
                if bad is None:
                    raise
                bad.handle(error)
    return rows


def render(
    dataset: CotDataset,
    rows: Sequence[dict[str, str]],
    index: int,
    template_type: str,
    template: int,
    rng: random.Random,
    *,
    inverted: bool = False,
    path: str | None = None,
) -> tuple[str, str, str, int]:
    """(inputs, targets, template id, shots) of one row, forward or input-inverted."""
    key, task = key_and_task(dataset, inverted)
    return render_row(rows, index, key, template_type, template, rng, task=task, path=path)


# render_rows(dataset, rows, template_type="zs_opt", *, inverted=False, seed=0): every row in the
# published submix schema; templates round-robin by row position.
render_rows = partial(zs_fs_submix_rows, render, collection="CoT", task_source=TASK_SOURCE)
