"""The embedded synthetic families as an evaluation: held-in and held-out, zero- and few-shot,
direct and chain of thought, with answer options shown where a family has them (as Flan's
`zsopt`/`fsopt` formats do). Uses each family's `eval` split, which never repeats a training row.
The gold answer is what the rendered target says: the option text or its letter.
"""

from __future__ import annotations

from flankit.data import synthetic
from flankit.data.tasks import Variant, render_example
from flankit.evals import extract
from flankit.evals.benchmarks import Item

PROMPT_VERSION = "synthetic-v2"


def cot_answer(target: str) -> str | None:
    """The final answer a CoT target states ("... the answer is X." or "Answer: X")."""
    found = extract.extract_after_answer_is(target)
    if found is None and "Answer:" in target:
        found = target.rsplit("Answer:", 1)[1].strip().split("\n")[0]
    return found


def load(
    modes: list[str],
    *,
    limit: int | None = 20,
    shots: tuple[str, ...] = ("zs", "fs"),
    families: list[str] | None = None,
    seed: int = 0,
) -> list[Item]:
    items = []
    for fam in families or [f.name for f in synthetic.FAMILIES]:
        split = "held_out" if synthetic.FAMILY_BY_NAME[fam].held_out else "held_in"
        task = synthetic.synthetic_task(fam, limit or 20, split="eval", seed=seed)
        n_options = len(task.examples[0].fields.get("options") or [])
        for i in range(len(task)):
            for shot in shots:
                for mode in modes:
                    if mode == "cot" and not task.supports_cot:
                        continue
                    r = render_example(
                        task,
                        i,
                        Variant(f"{shot}opt", cot=mode == "cot"),
                        seed=seed + 99,
                        max_shots=3,
                    )
                    gold = cot_answer(r.targets) if mode == "cot" else r.targets
                    items.append(
                        Item(
                            "synthetic",
                            f"{split}/{fam}/{shot}",
                            f"{fam}-{shot}-{i}",
                            mode,
                            r.inputs,
                            gold,
                            "synthetic",
                            max_new_tokens=96 if mode == "cot" else 24,
                            chance=1.0 / n_options if n_options else 0.0,
                        )
                    )
    return items
