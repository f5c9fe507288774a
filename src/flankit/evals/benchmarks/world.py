"""The miniature world's instruction families as an evaluation: held-in families on people
whose facts were never asked in finetuning, and held-out families on everyone; zero- and
few-shot with the answer options listed, zero-shot also without them, direct and chain of
thought. Scored like the synthetic suite (exact match; the final
answer of a CoT output). Each item's `chance` is what a random well-formed answer scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flankit.evals import extract
from flankit.evals.benchmarks import Benchmark, Item, Score, Setup, synthetic

PROMPT_VERSION = "world-v1"


@dataclass(frozen=True)
class Options:
    limit: int | None = field(
        default=None, metadata={"help": "people per family of the world benchmarks (default: all)"}
    )


def load(
    modes: list[str],
    *,
    limit: int | None = None,
    shots: tuple[str, ...] = ("zs", "fs"),
    families: list[str] | None = None,
    seed: int = 0,
) -> list[Item]:
    """Items for every family (or `families`); `limit` caps the people per family."""
    from flankit.data import world_tasks

    items = []
    for fam in families or [f.name for f in world_tasks.FAMILIES]:
        meta = world_tasks.FAMILY_BY_NAME[fam]
        split = "held_out" if meta.held_out else "held_in"
        task = world_tasks.world_task(fam, split="eval", seed=seed)
        n = len(task) if limit is None else min(limit, len(task))
        n_options = len(task.examples[0].fields.get("options") or [])
        chance = 1.0 / n_options if n_options else meta.chance
        how = synthetic.FamilyEval("world", f"{split}/{fam}", seed + 7, (12, 64), chance)
        items += synthetic.family_items(task, n, how, modes, shots)
        if n_options and "zs" in shots:  # zero-shot also without the options: other chance
            free = replace(how, chance=meta.chance)
            items += synthetic.family_items(task, n, free, modes, ("zsnoopt",))
    return items


def load_cloze(*, limit: int | None = None) -> list[Item]:
    """A knowledge probe in the pretraining format: each fact's first phrasing with its value
    replaced by a sentinel (`Ada lives in <extra_id_0>.`); correct when the first word of the
    output is the value. It measures what a model knows, whatever its instructions ability."""
    from flankit.data import world_tasks
    from flankit.data.world import FACT_SENTENCES, build_world

    w = build_world(world_tasks.WORLD_SEED, world_tasks.WORLD_PEOPLE)
    people = w.people if limit is None else w.people[:limit]
    items = []
    for attr, forms in FACT_SENTENCES.items():
        held = "held_out" if attr in HELD_OUT_ATTRIBUTES else "held_in"
        for i, p in enumerate(people):
            prompt = forms[0].format(**{**p, attr: "<extra_id_0>"})
            items.append(
                Item("world_cloze", f"cloze_{held}/{attr}/zs", f"cloze-{attr}-{i}", "direct",
                     prompt, str(p[attr]), "first_word", max_new_tokens=6)
            )  # fmt: skip
    return items


# The attributes only held-out families ask about.
HELD_OUT_ATTRIBUTES = ("pet", "color", "instrument")


def cloze_score(item: Item, output: str) -> Score:
    """A fill-in-the-blank answer: the output's first word, compared normalized."""
    words = output.replace("<extra_id_0>", " ").split()
    pred = words[0] if words else ""
    ok = extract.normalize_text(pred) == extract.normalize_text(str(item.gold))
    return pred, ok, 0.0


def _load(options: Options, setup: Setup) -> list[Item]:
    return load(list(setup.modes), limit=options.limit)


def _load_cloze(options: Options, setup: Setup) -> list[Item]:
    return load_cloze(limit=options.limit)  # one format, whatever modes the run asks


BENCHMARK = Benchmark(
    "world",
    _load,
    synthetic.score,
    PROMPT_VERSION,
    Options,
)
# The cloze probe shares the world benchmark's options (`world_limit`).
CLOZE = Benchmark(
    "world_cloze",
    _load_cloze,
    cloze_score,
    PROMPT_VERSION,
    Options,
    options_key="world",
)
