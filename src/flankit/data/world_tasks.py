"""Instruction task families over the miniature world (`flankit.data.world`).

Held-in families ask for some of the world's facts (city, job, food, sport, best friend, age,
and four multi-step ones with rationales: the best friend's city, food and sport, the age in k
years). Held-out families ask for facts that only the
pretraining text holds, through instructions and answer vocabularies no held-in family uses:
other attributes (pet, colour, instrument), a composition no held-in family trains (the best
friend's job) and a comparison answered by a name (who is older). A model can answer a held-out
family only by bringing pretraining knowledge to an instruction it has never seen.

Every example also carries four answer options (the two names for "who is older"): a task
renders with and without them, as Flan's mixture does, and the benchmark asks with them, as the
paper's multiple-choice held-out sets do, and zero-shot also without them.

People are split too: held-in families train on three quarters of the people and are evaluated
on the rest (facts seen in pretraining only); held-out families are evaluated on everyone.

Example:
    >>> task = world_task("city", split="train")
    >>> task.name, len(task) > 0, task.meta["held_out"]
    ('world_city', True, False)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from flankit.data.synthetic import family_templates
from flankit.data.tasks import Example, Task
from flankit.data.world import VALUES, World, build_world
from flankit.errors import FlankitError

WORLD_SEED = 0
WORLD_PEOPLE = 16


@dataclass(frozen=True)
class WorldFamily:
    """One family: how to ask about a person, and its instruction phrasings."""

    name: str
    make: Callable[[World, dict, random.Random], dict]
    prompts: tuple[str, ...]
    held_out: bool = False
    chance: float = 0.0  # accuracy of guessing a well-formed answer at random


N_OPTIONS = 4


def _options(answer: str, pool: list[str], rng: random.Random) -> list[str]:
    """The answer and N_OPTIONS - 1 other values of its kind, in random order: a prompt rendered
    with options lists them (the paper's "with answer options" format), one without does not."""
    others = rng.sample([v for v in pool if v != answer], N_OPTIONS - 1)
    out = [answer, *others]
    rng.shuffle(out)
    return out


def _pool(world: World, attr: str) -> list[str]:
    if attr == "friend":
        return [p["name"] for p in world.people]
    if attr == "age":
        return [str(a) for a in range(18, 80)]
    return list(VALUES[attr])


def _attribute(attr: str) -> Callable[[World, dict, random.Random], dict]:
    def make(world: World, p: dict, rng: random.Random) -> dict:
        answer = str(p[attr])
        options = _options(answer, _pool(world, attr), rng)
        return {"name": p["name"], "answer": answer, "options": options}

    return make


def _friend_attr(attr: str, verb: str) -> Callable[[World, dict, random.Random], dict]:
    def make(world: World, p: dict, rng: random.Random) -> dict:
        f = world.person(p["friend"])
        rationale = f"{p['name']}'s best friend is {f['name']}. {f['name']} {verb} {f[attr]}."
        options = _options(f[attr], _pool(world, attr), rng)
        return {"name": p["name"], "answer": f[attr], "options": options, "rationale": rationale}

    return make


def _age_later(world: World, p: dict, rng: random.Random) -> dict:
    k = rng.randint(1, 9)
    a = p["age"]
    rationale = f"{p['name']} is {a} years old. {a} plus {k} is {a + k}."
    answer = str(a + k)
    options = _options(answer, [str(x) for x in range(19, 89)], rng)
    return {"name": p["name"], "k": str(k), "answer": answer, "options": options,
            "rationale": rationale}  # fmt: skip


def _older(world: World, p: dict, rng: random.Random) -> dict:
    others = [q for q in world.people if q["age"] != p["age"]]
    q = rng.choice(others)
    older = p if p["age"] > q["age"] else q
    pair = [p["name"], q["name"]]
    rng.shuffle(pair)  # the answer is not always the first name
    rationale = (
        f"{p['name']} is {p['age']} years old. {q['name']} is {q['age']} years old. "
        f"So {older['name']} is older."
    )
    return {
        "name": pair[0],
        "other": pair[1],
        "answer": older["name"],
        "options": pair,
        "rationale": rationale,
    }


def _chance(attr: str) -> float:
    return 1.0 / len(VALUES[attr])


W = WorldFamily
# Held-in families ask in several frames each ("Which ...", "Name the ...", "... which city?"),
# the same frames across attributes, so what finetuning teaches is to answer with the fact the
# question names rather than to recognise a few phrasings.
FAMILIES: tuple[WorldFamily, ...] = (
    W("city", _attribute("city"),
      ("Where does {name} live?", "In which city does {name} live?",
       "Name the city where {name} lives.", "{name} lives in which city?",
       "Which city is home to {name}?"), chance=_chance("city")),
    W("job", _attribute("job"),
      ("What is {name}'s job?", "What does {name} do for a living?",
       "Which job does {name} have?", "Name the job {name} does.", "What is {name}'s trade?"),
      chance=_chance("job")),
    W("food", _attribute("food"),
      ("What does {name} like to eat?", "What is {name}'s favourite food?",
       "Which food does {name} usually have for dinner?", "Name the food {name} likes most."),
      chance=_chance("food")),
    W("sport", _attribute("sport"),
      ("Which sport does {name} play?", "What sport is {name} good at?",
       "Name the sport {name} does on weekends.", "{name} plays which sport?"),
      chance=_chance("sport")),
    W("friend", _attribute("friend"),
      ("Who is {name}'s best friend?", "Name the best friend of {name}.",
       "Which person does {name} often visit?"),
      chance=1.0 / (WORLD_PEOPLE - 1)),
    W("age", _attribute("age"),
      ("How old is {name}?", "What is {name}'s age?", "Name the age of {name}.")),
    W("friend_city", _friend_attr("city", "lives in"),
      ("In which city does {name}'s best friend live?",
       "Where does the best friend of {name} live?"), chance=_chance("city")),
    W("friend_food", _friend_attr("food", "likes to eat"),
      ("What does {name}'s best friend like to eat?",
       "Name the favourite food of {name}'s best friend."), chance=_chance("food")),
    W("friend_sport", _friend_attr("sport", "plays"),
      ("Which sport does {name}'s best friend play?",
       "What sport is the best friend of {name} good at?"), chance=_chance("sport")),
    W("age_later", _age_later,
      ("How old will {name} be in {k} years?", "What age will {name} reach {k} years from now?")),
    # Held out: attributes, a composition and an answer format that no held-in family trains.
    W("pet", _attribute("pet"),
      ("Which animal does {name} keep as a pet?", "Tell me what kind of pet {name} has."),
      held_out=True, chance=_chance("pet")),
    W("color", _attribute("color"),
      ("Which colour does {name} like best?", "What is the favourite colour of {name}?"),
      held_out=True, chance=_chance("color")),
    W("instrument", _attribute("instrument"),
      ("Which musical instrument does {name} play?", "Name the instrument that {name} plays."),
      held_out=True, chance=_chance("instrument")),
    W("friend_job", _friend_attr("job", "works as a"),
      ("What is the job of {name}'s best friend?",
       "What does the best friend of {name} work as?"), held_out=True, chance=_chance("job")),
    W("older", _older,
      ("Who is older, {name} or {other}?", "Which of {name} and {other} is older?"),
      held_out=True, chance=0.5),
)  # fmt: skip
FAMILY_BY_NAME = {f.name: f for f in FAMILIES}
HELD_IN = tuple(f.name for f in FAMILIES if not f.held_out)
HELD_OUT = tuple(f.name for f in FAMILIES if f.held_out)


def people_for(world: World, family: WorldFamily, split: str) -> list[dict]:
    """Held-in families: train on 3 of every 4 people, evaluate on the 4th; held-out: everyone."""
    if split not in ("train", "eval"):
        raise FlankitError(f"world split {split!r} is not 'train' or 'eval'", field="split")
    if family.held_out:
        return list(world.people)
    return [p for i, p in enumerate(world.people) if (i % 4 == 3) == (split == "eval")]


def generate(family: str, n: int | None = None, *, split: str = "train", seed: int = 0) -> list:
    """Examples of one family: `n` (default one per person of the split), cycling the people."""
    fam = FAMILY_BY_NAME.get(family)
    if fam is None:
        raise FlankitError(
            f"unknown world family {family!r}", hint=f"families: {', '.join(FAMILY_BY_NAME)}"
        )
    world = build_world(WORLD_SEED, WORLD_PEOPLE)
    people = people_for(world, fam, split)
    rng = random.Random(f"world-task|{family}|{split}|{seed}")
    count = len(people) if n is None else n
    rows = []
    for i in range(count):
        fields = fam.make(world, people[i % len(people)], rng)
        rows.append(Example(fields, f"world:{family}:{split}#{i}"))
    return rows


def world_task(family: str, n: int | None = None, *, split: str = "train", seed: int = 0) -> Task:
    """The Task for one family, named `world_<family>`."""
    rows = generate(family, n, split=split, seed=seed)
    fam = FAMILY_BY_NAME[family]
    return Task(
        name=f"world_{family}",
        collection="world",
        examples=rows,
        templates=family_templates(fam, "rationale" in rows[0].fields),
        meta={"source": "world", "held_out": fam.held_out, "chance": fam.chance},
    )
