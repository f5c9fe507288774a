"""A deterministic miniature world: people with attributes, a friendship relation and ages.

The world is the knowledge a model can acquire in pretraining and that instruction finetuning
can later unlock. It yields two kinds of data, both as ordinary input/target rows:

- pretraining text: short documents stating the world's facts in varied sentences, turned into
  T5 span-corruption rows (`span_corruption`) or next-token rows for decoders (`next_token`);
- instruction task families over the same facts (`flankit.data.world_tasks`).

Everything is drawn from `random.Random` seeded by strings, so a world, a document and a
corruption are the same in every process and on every machine.

Example:
    >>> w = build_world(seed=0, people=8)
    >>> len(w.people), sorted(w.people[0])[:3]
    (8, ['age', 'city', 'color'])
    >>> w.people[0]["friend"] != w.people[0]["name"]
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from flankit.errors import FlankitError

NAMES = (
    "Ada", "Bo", "Cy", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lena",
    "Milo", "Nia", "Otto", "Pam", "Quin", "Rex", "Sara", "Tom", "Uma", "Vic", "Wes", "Xena",
    "Yuri", "Zoe", "Abe", "Bea", "Cal", "Dot", "Eve", "Finn", "Gil", "Hal", "Ida", "Jon",
    "Kim", "Lou", "Max", "Ned", "Ola", "Pia", "Ray", "Sol", "Ted", "Val", "Wim", "Yan",
)  # fmt: skip
# Attribute -> its values. More values than a guess can exploit: chance is 1/len(values).
VALUES = {
    "city": ("Paris", "Rome", "Oslo", "Lima", "Cairo", "Delhi", "Tokyo", "Quito",
             "Dakar", "Hanoi", "Perth", "Miami"),
    "job": ("baker", "nurse", "pilot", "farmer", "lawyer", "miner", "tailor", "sailor",
            "dentist", "painter", "judge", "chef"),
    "pet": ("cat", "dog", "parrot", "rabbit", "horse", "goat", "turtle", "hamster",
            "snake", "owl", "pony", "duck"),
    "color": ("red", "blue", "green", "yellow", "purple", "orange", "pink", "brown",
              "black", "white", "gray", "gold"),
    "food": ("rice", "soup", "bread", "pasta", "cheese", "fish", "salad", "beans",
             "noodles", "tacos", "curry", "eggs"),
    "sport": ("tennis", "rugby", "golf", "hockey", "chess", "boxing", "cricket", "judo",
              "soccer", "rowing", "skiing", "karate"),
    "instrument": ("piano", "violin", "flute", "drums", "harp", "guitar", "cello", "trumpet",
                   "banjo", "oboe", "tuba", "organ"),
}  # fmt: skip
ATTRIBUTES = tuple(VALUES)

# Several phrasings per fact, so the knowledge is not tied to one sentence.
FACT_SENTENCES = {
    "city": ("{name} lives in {city}.", "{name}'s home is in {city}.",
             "{name} has lived in {city} for years."),
    "job": ("{name} works as a {job}.", "{name} is a {job} by trade.",
            "Every day {name} goes to work as a {job}."),
    "pet": ("{name} has a pet {pet}.", "{name} keeps one {pet} at home.",
            "{name} takes care of the family {pet}."),
    "color": ("{name}'s favourite colour is {color}.", "{name} loves the colour {color}.",
              "{name} always wears something {color}."),
    "food": ("{name} likes to eat {food}.", "{name}'s favourite food is {food}.",
             "For dinner {name} usually has {food}."),
    "sport": ("{name} plays {sport}.", "{name} is good at {sport}.",
              "On weekends {name} does {sport}."),
    "instrument": ("{name} plays the {instrument}.", "{name} practises the {instrument}.",
                   "{name} owns the {instrument} and plays it well."),
    "age": ("{name} is {age} years old.", "{name}'s age is {age}.",
            "{name} turned {age} this year."),
    "friend": ("{name}'s best friend is {friend}.", "{name} and {friend} are best friends.",
               "{name} often visits {friend}, a best friend."),
}  # fmt: skip
ARITHMETIC_SENTENCES = (
    "{a} plus {b} is {c}.",
    "Adding {b} to {a} gives {c}.",
    "In {b} years, someone who is {a} will be {c}.",
)


@dataclass(frozen=True)
class World:
    """The people of one world: each a dict of name, the attributes, age and best friend."""

    seed: int
    people: tuple[dict, ...]

    def person(self, name: str) -> dict:
        for p in self.people:
            if p["name"] == name:
                return p
        raise FlankitError(f"no person named {name!r} in world {self.seed}")


@lru_cache(maxsize=16)
def build_world(seed: int = 0, people: int = 32) -> World:
    """A world of `people` people (even, at most len(NAMES)); best friends come in pairs."""
    if people < 2 or people > len(NAMES) or people % 2:
        raise FlankitError(
            f"world size must be an even number from 2 to {len(NAMES)}, not {people}",
            field="people",
        )
    rng = random.Random(f"world|{seed}|{people}")
    names = rng.sample(NAMES, people)
    rows = [
        {"name": n, **{a: rng.choice(VALUES[a]) for a in ATTRIBUTES}, "age": rng.randint(18, 79)}
        for n in names
    ]
    order = list(range(people))
    rng.shuffle(order)
    for i, j in zip(order[::2], order[1::2]):  # best friends are mutual
        rows[i]["friend"], rows[j]["friend"] = names[j], names[i]
    return World(seed, tuple(rows))


def fact_sentences(person: dict, rng: random.Random) -> list[tuple[str, str]]:
    """Every fact about one person as (sentence, value), each in a random phrasing and order."""
    out = [
        (rng.choice(forms).format(**person), str(person[attr]))
        for attr, forms in FACT_SENTENCES.items()
    ]
    rng.shuffle(out)
    return out


def document_facts(world: World, index: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """Pretraining document `index` as (sentence, value) pairs: three or four facts about one
    person, now and then with an arithmetic sentence, the small procedure the age questions
    need (a + b = c). Short documents put many facts into every packed row."""
    rng = random.Random(f"world-doc|{world.seed}|{seed}|{index}")
    person = world.people[rng.randrange(len(world.people))]
    sentences = fact_sentences(person, rng)[: rng.randint(3, 4)]
    if rng.random() < 0.3:
        a, b = rng.randint(18, 79), rng.randint(1, 9)
        sentences.append((rng.choice(ARITHMETIC_SENTENCES).format(a=a, b=b, c=a + b), str(a + b)))
    return sentences


def document(world: World, index: int, *, seed: int = 0) -> str:
    """Pretraining document `index` as plain text."""
    return " ".join(s for s, _ in document_facts(world, index, seed=seed))


def _partition(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` split into `parts` positive integers, uniformly at random."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]


def span_corruption(
    text: str, rng: random.Random, *, noise_density: float = 0.15, mean_span: float = 3.0
) -> tuple[str, str]:
    """T5's span corruption on words: noise spans become sentinels in the inputs and are spelled
    out, each after its sentinel, in the targets (`<extra_id_0> ... <extra_id_1> ...`).

    As in T5, the number of noise words is round(n * density), split into round(noise / mean)
    spans, and spans alternate with kept stretches, the text starting with a kept stretch.
    """
    words = text.split()
    n = len(words)
    if n < 2:
        raise FlankitError("span corruption needs at least two words", field="text")
    noise = min(max(int(round(n * noise_density)), 1), n - 1)
    spans = max(min(int(round(noise / mean_span)), noise, n - noise), 1)
    noise_lens = _partition(rng, noise, spans) if spans > 1 else [noise]
    keep_lens = _partition(rng, n - noise, spans) if spans > 1 else [n - noise]
    inputs: list[str] = []
    targets: list[str] = []
    pos = 0
    for i, (keep, drop) in enumerate(zip(keep_lens, noise_lens)):
        inputs += words[pos : pos + keep]
        pos += keep
        sentinel = f"<extra_id_{i}>"
        inputs.append(sentinel)
        targets += [sentinel, *words[pos : pos + drop]]
        pos += drop
    inputs += words[pos:]
    targets.append(f"<extra_id_{spans}>")
    return " ".join(inputs), " ".join(targets)


def salient_span_corruption(
    facts: list[tuple[str, str]], rng: random.Random, *, rate: float = 1.0
) -> tuple[str, str]:
    """Span corruption whose spans are facts' values (salient span masking, as in REALM):
    each fact's value is masked with probability `rate` (at least one per document), so every
    prediction is a fact to remember rather than a function word. Same sentinel format as T5."""
    picks = [rng.random() < rate for _ in facts]
    if not any(picks):
        picks[rng.randrange(len(facts))] = True
    inputs: list[str] = []
    targets: list[str] = []
    for (sentence, value), masked in zip(facts, picks):
        words = sentence.split()
        hit = next((i for i, w in enumerate(words) if w.strip(".,") == value), None)
        if not masked or hit is None:
            inputs.append(sentence)
            continue
        sentinel = f"<extra_id_{len(targets) // 2}>"
        tail = words[hit][len(value) :]  # keep the full stop after the value
        inputs.append(" ".join([*words[:hit], sentinel + tail, *words[hit + 1 :]]))
        targets += [sentinel, value]
    targets.append(f"<extra_id_{len(targets) // 2}>")
    return " ".join(inputs), " ".join(targets)


def next_token(text: str, rng: random.Random) -> tuple[str, str]:
    """A decoder row: the first sentence as the input, the rest to predict (loss on all of it)."""
    sentences = text.split(". ")
    if len(sentences) < 2:
        return "", text
    cut = rng.randint(1, max(1, min(2, len(sentences) - 1)))
    return ". ".join(sentences[:cut]) + ".", ". ".join(sentences[cut:])


OBJECTIVES = ("span_corruption", "salient_span", "next_token")


def pretraining_rows(
    world: World, n: int, *, objective: str = "span_corruption", seed: int = 0
) -> list[dict]:
    """`n` pretraining rows ({"inputs", "targets"}), one per document, deterministic in seed."""
    if objective not in OBJECTIVES:
        raise FlankitError(
            f"unknown pretraining objective {objective!r}; choose one of {', '.join(OBJECTIVES)}",
            field="objective",
        )
    rows = []
    for i in range(n):
        facts = document_facts(world, i, seed=seed)
        text = " ".join(s for s, _ in facts)
        rng = random.Random(f"world-noise|{seed}|{objective}|{i}")
        if objective == "salient_span":
            inputs, targets = salient_span_corruption(facts, rng)
        elif objective == "span_corruption":
            inputs, targets = span_corruption(text, rng)
        else:
            inputs, targets = next_token(text, rng)
        rows.append({"inputs": inputs, "targets": targets, "document": text})
    return rows
