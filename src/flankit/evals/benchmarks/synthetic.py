"""The embedded synthetic families as an evaluation: held-in and held-out, zero- and few-shot,
direct and chain of thought, with answer options shown where a family has them (as Flan's
`zsopt`/`fsopt` formats do). Uses each family's `eval` split, which never repeats a training row.
The gold answer is what the rendered target says: the option text or its letter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flankit.evals import extract
from flankit.evals.benchmarks import Benchmark, Item, Score, Setup

PROMPT_VERSION = "synthetic-v2"


@dataclass(frozen=True)
class Options:
    limit: int = field(default=20, metadata={"help": "examples per synthetic family"})


def cot_answer(target: str) -> str | None:
    """The final answer a CoT target states ("... the answer is X." or "Answer: X")."""
    found = extract.extract_after_answer_is(target)
    if found is None and "Answer:" in target:
        found = target.rsplit("Answer:", 1)[1].strip().split("\n")[0]
    return found


def score(item: Item, output: str) -> Score:
    """Exact match (normalized) of the first line, or of a CoT output's final answer."""
    pred = cot_answer(output) if item.mode == "cot" else output.strip().split("\n")[0]
    ok = pred is not None and extract.normalize_text(pred) == extract.normalize_text(str(item.gold))
    return pred, ok, 0.0


@dataclass(frozen=True)
class FamilyEval:
    """How one family task becomes items: the benchmark, the render seed, the answer budgets."""

    benchmark: str
    subtask: str  # "held_in/<family>" or "held_out/<family>"
    render_seed: int
    max_new_tokens: tuple[int, int]  # (direct, cot)
    chance: float


def family_items(task, n: int, how: FamilyEval, modes, shots=("zs", "fs")) -> list[Item]:
    """Items for the first `n` examples of a family task: each shot format x mode (CoT only where
    the task has rationales), the rendered input as prompt, the rendered (final) answer as gold."""
    from flankit.data.tasks import Variant, render_example

    fam = how.subtask.rsplit("/", 1)[1]
    items = []
    for i in range(n):
        for shot in shots:
            for mode in modes:
                if mode == "cot" and not task.supports_cot:
                    continue
                fmt = shot if shot.endswith("opt") else f"{shot}opt"  # "zsnoopt": no options
                variant = Variant(fmt, cot=mode == "cot")
                r = render_example(task, i, variant, seed=how.render_seed, max_shots=3)
                items.append(
                    Item(
                        how.benchmark,
                        f"{how.subtask}/{shot}",
                        f"{fam}-{shot}-{i}",
                        mode,
                        r.inputs,
                        cot_answer(r.targets) if mode == "cot" else r.targets,
                        "synthetic",
                        max_new_tokens=how.max_new_tokens[mode == "cot"],
                        chance=how.chance,
                    )
                )
    return items


def load(
    modes: list[str],
    *,
    limit: int | None = 20,
    shots: tuple[str, ...] = ("zs", "fs"),
    families: list[str] | None = None,
    seed: int = 0,
) -> list[Item]:
    from flankit.data import synthetic

    items = []
    for fam in families or [f.name for f in synthetic.FAMILIES]:
        split = "held_out" if synthetic.FAMILY_BY_NAME[fam].held_out else "held_in"
        task = synthetic.synthetic_task(fam, limit or 20, split="eval", seed=seed)
        n_options = len(task.examples[0].fields.get("options") or [])
        how = FamilyEval(
            "synthetic",
            f"{split}/{fam}",
            seed + 99,
            (24, 96),
            1.0 / n_options if n_options else 0.0,
        )
        items += family_items(task, len(task), how, modes, shots)
    return items


def _load(options: Options, setup: Setup) -> list[Item]:
    return load(list(setup.modes), limit=options.limit)


BENCHMARK = Benchmark("synthetic", _load, score, PROMPT_VERSION, Options)
