"""The embedded synthetic families as an evaluation: held-in and held-out, zero- and few-shot,
direct and chain of thought. Uses each family's `eval` split, which never repeats a training row.
"""

from __future__ import annotations

from flankit.data import synthetic
from flankit.data.tasks import Variant, render_example
from flankit.evals.benchmarks import Item

PROMPT_VERSION = "synthetic-v1"


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
        for i in range(len(task)):
            answer = task.examples[i].fields["answer"]
            for shot in shots:
                for mode in modes:
                    if mode == "cot" and not task.supports_cot:
                        continue
                    r = render_example(
                        task,
                        i,
                        Variant(f"{shot}noopt", cot=mode == "cot"),
                        seed=seed + 99,
                        max_shots=3,
                    )
                    items.append(
                        Item(
                            "synthetic",
                            f"{split}/{fam}/{shot}",
                            f"{fam}-{shot}-{i}",
                            mode,
                            r.inputs,
                            answer,
                            "synthetic",
                            max_new_tokens=96 if mode == "cot" else 24,
                        )
                    )
    return items
