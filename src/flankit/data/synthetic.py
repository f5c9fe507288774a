"""An embedded suite of procedurally generated English task families; no download needed.

Each family draws examples from a seeded generator: named fields, an `answer`, and, where natural,
`options` and a step-by-step `rationale`. Several instruction phrasings per family become its
direct templates; families with rationales also get chain-of-thought templates. A fixed set of
families is held out from training, so finetuning can be measured on unseen tasks.

Example:
    >>> task = synthetic_task("add", n=3)
    >>> task.name, len(task), sorted(task.examples[0].fields)
    ('syn_add', 3, ['a', 'answer', 'b'])
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from flankit.data.tasks import Example, Task
from flankit.data.templates import Template
from flankit.errors import FlankitError

WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "garden",
    "window",
    "silver",
    "planet",
    "forest",
    "candle",
    "bridge",
    "mirror",
    "pencil",
    "rocket",
    "tiger",
    "violin",
    "orange",
    "basket",
    "lemon",
    "castle",
    "dragon",
    "feather",
    "island",
    "jacket",
    "kettle",
    "ladder",
    "marble",
    "needle",
    "ocean",
    "pepper",
    "quilt",
    "rabbit",
    "saddle",
    "tunnel",
    "velvet",
    "wagon",
    "yellow",
    "zebra",
    "anchor",
    "button",
    "carpet",
    "desert",
    "engine",
    "flower",
    "guitar",
    "hammer",
    "igloo",
    "jungle",
    "kitten",
    "lantern",
    "meadow",
]
NAMES = [
    "Ana",
    "Ben",
    "Carla",
    "Dev",
    "Emma",
    "Farid",
    "Gina",
    "Hugo",
    "Ines",
    "Jon",
    "Kira",
    "Liam",
    "Maya",
    "Noor",
    "Omar",
    "Pia",
]
ITEMS = ["apples", "books", "coins", "pencils", "stamps", "marbles", "cards", "shells"]
COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ANIMALS = ["cats", "dogs", "birds", "fish", "horses", "cows"]
ANTONYMS = {
    "hot": "cold",
    "big": "small",
    "fast": "slow",
    "happy": "sad",
    "light": "dark",
    "open": "closed",
    "early": "late",
    "full": "empty",
    "high": "low",
    "strong": "weak",
    "young": "old",
    "hard": "soft",
    "rich": "poor",
    "loud": "quiet",
    "wet": "dry",
}
POSITIVE = ["wonderful", "great", "lovely", "excellent", "delightful", "superb", "pleasant"]
NEGATIVE = ["terrible", "awful", "horrible", "dreadful", "boring", "poor", "unpleasant"]
VOWELS = set("aeiou")


def _nums(rng: random.Random, k: int, lo: int = 1, hi: int = 99) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(k)]


def _join(xs) -> str:
    return ", ".join(str(x) for x in xs)


def _add(r):
    a, b = _nums(r, 2)
    return {"a": a, "b": b, "answer": str(a + b)}


def _subtract(r):
    a, b = sorted(_nums(r, 2), reverse=True)
    return {"a": a, "b": b, "answer": str(a - b)}


def _multiply(r):
    a, b = _nums(r, 2, 2, 12)
    return {"a": a, "b": b, "answer": str(a * b)}


def _modulo(r):
    a, b = r.randint(10, 99), r.randint(2, 9)
    return {"a": a, "b": b, "answer": str(a % b)}


def _compare(r):
    a, b = r.sample(range(1, 1000), 2)
    return {"a": a, "b": b, "answer": str(max(a, b)), "options": [str(a), str(b)]}


def _even_odd(r):
    n = r.randint(1, 999)
    return {"n": n, "answer": "even" if n % 2 == 0 else "odd", "options": ["even", "odd"]}


def _max_list(r):
    xs = _nums(r, r.randint(3, 6))
    return {"items": _join(xs), "answer": str(max(xs))}


def _min_list(r):
    xs = _nums(r, r.randint(3, 6))
    return {"items": _join(xs), "answer": str(min(xs))}


def _sum_list(r):
    xs = _nums(r, r.randint(3, 5), 1, 30)
    steps, total = [], xs[0]
    for x in xs[1:]:
        steps.append(f"{total} + {x} = {total + x}.")
        total += x
    return {"items": _join(xs), "answer": str(total), "rationale": " ".join(steps)}


def _sort_numbers(r):
    xs = r.sample(range(1, 100), r.randint(3, 6))
    return {"items": _join(xs), "answer": _join(sorted(xs))}


def _sort_words(r):
    ws = r.sample(WORDS, r.randint(3, 5))
    return {"words": " ".join(ws), "answer": " ".join(sorted(ws))}


def _reverse_word(r):
    w = r.choice(WORDS)
    return {"word": w, "answer": w[::-1]}


def _uppercase(r):
    text = " ".join(r.sample(WORDS, 2))
    return {"text": text, "answer": text.upper()}


def _word_length(r):
    w = r.choice(WORDS)
    return {"word": w, "answer": str(len(w))}


def _count_letter(r):
    w = r.choice(WORDS)
    letter = r.choice(w) if r.random() < 0.8 else r.choice(string.ascii_lowercase)
    hits = [c for c in w if c == letter]
    spelled = ", ".join(w)
    rationale = f"The letters of {w} are {spelled}. The letter {letter} appears {len(hits)} times."
    return {"word": w, "letter": letter, "answer": str(len(hits)), "rationale": rationale}


def _vowel_count(r):
    w = r.choice(WORDS)
    vs = [c for c in w if c in VOWELS]
    rationale = f"The vowels in {w} are {', '.join(vs) or 'none'}. That is {len(vs)} vowels."
    return {"word": w, "answer": str(len(vs)), "rationale": rationale}


def _count_words(r):
    ws = r.sample(WORDS, r.randint(2, 8))
    return {"sentence": " ".join(ws), "answer": str(len(ws))}


def _acronym(r):
    ws = r.sample(WORDS, r.randint(2, 5))
    return {"words": " ".join(ws), "answer": "".join(w[0] for w in ws).upper()}


def _last_word(r):
    ws = r.sample(WORDS, r.randint(2, 6))
    return {"sentence": " ".join(ws), "answer": ws[-1]}


def _next_letter(r):
    i = r.randrange(25)
    return {"letter": string.ascii_lowercase[i], "answer": string.ascii_lowercase[i + 1]}


def _prev_letter(r):
    i = r.randrange(1, 26)
    return {"letter": string.ascii_lowercase[i], "answer": string.ascii_lowercase[i - 1]}


def _sequence(r):
    start, step = r.randint(1, 20), r.randint(2, 9)
    xs = [start + step * i for i in range(4)]
    nxt = xs[-1] + step
    rationale = f"Each number is {step} more than the one before. {xs[-1]} + {step} = {nxt}."
    return {"items": _join(xs), "answer": str(nxt), "rationale": rationale}


def _two_step(r):
    a, b, c = r.randint(1, 20), r.randint(1, 20), r.randint(2, 5)
    s = a + b
    rationale = f"First, {a} + {b} = {s}. Then, {s} x {c} = {s * c}."
    return {"a": a, "b": b, "c": c, "answer": str(s * c), "rationale": rationale}


def _word_problem(r):
    name, item = r.choice(NAMES), r.choice(ITEMS)
    a, b = r.randint(5, 40), r.randint(1, 20)
    c = r.randint(1, a + b)
    rationale = f"{name} starts with {a} {item}. After buying {b}, {name} has {a} + {b} = {a + b}. After giving away {c}, {name} has {a + b} - {c} = {a + b - c}."
    return {
        "name": name,
        "item": item,
        "a": a,
        "b": b,
        "c": c,
        "answer": str(a + b - c),
        "rationale": rationale,
    }


def _boolean(r):
    x, y = r.choice([True, False]), r.choice([True, False])
    op = r.choice(["and", "or"])
    neg = r.random() < 0.5
    yv = (not y) if neg else y
    value = (x and yv) if op == "and" else (x or yv)
    expr = f"{x} {op} {'not ' if neg else ''}{y}"
    steps = (f"not {y} is {yv}. " if neg else "") + f"{x} {op} {yv} is {value}."
    return {"expr": expr, "answer": str(value), "options": ["True", "False"], "rationale": steps}


def _syllogism(r):
    a, b = r.sample(ANIMALS, 2)
    name = r.choice(NAMES)
    positive = r.random() < 0.5
    if positive:
        facts = f"All {a} are friendly. {name} is one of the {a}."
        rationale = f"{name} is one of the {a}, and all {a} are friendly, so {name} is friendly."
        answer = "yes"
    else:
        facts = f"All {a} are friendly. {name} is one of the {b}."
        rationale = (
            f"{name} is one of the {b}, not the {a}, so we cannot conclude that {name} is friendly."
        )
        answer = "no"
    return {
        "facts": facts,
        "name": name,
        "answer": answer,
        "options": ["yes", "no"],
        "rationale": rationale,
    }


def _table(r, k=4):
    people = r.sample(NAMES, k)
    ages = r.sample(range(18, 80), k)
    table = "Name | Age\n" + "\n".join(f"{p} | {a}" for p, a in zip(people, ages))
    return people, ages, table


def _table_lookup(r):
    people, ages, table = _table(r)
    i = r.randrange(len(people))
    rationale = f"The row for {people[i]} says {ages[i]}."
    return {"table": table, "name": people[i], "answer": str(ages[i]), "rationale": rationale}


def _table_oldest(r):
    people, ages, table = _table(r)
    i = ages.index(max(ages))
    rationale = (
        f"The ages are {_join(ages)}. The largest is {ages[i]}, which belongs to {people[i]}."
    )
    return {"table": table, "answer": people[i], "rationale": rationale}


def _weekday(r):
    d, k = r.randrange(7), r.randint(1, 12)
    target = DAYS[(d + k) % 7]
    rationale = f"Counting {k} days forward from {DAYS[d]} gives {target}."
    return {"day": DAYS[d], "k": k, "answer": target, "options": list(DAYS), "rationale": rationale}


def _duplicates(r):
    xs = r.sample(range(1, 30), r.randint(4, 6))
    dup = r.random() < 0.5
    if dup:
        xs[r.randrange(1, len(xs))] = xs[0]
        r.shuffle(xs)
    return {"items": _join(xs), "answer": "yes" if dup else "no", "options": ["yes", "no"]}


def _is_sorted(r):
    xs = r.sample(range(1, 100), r.randint(3, 6))
    if r.random() < 0.5:
        xs.sort()
    ok = xs == sorted(xs)
    return {"items": _join(xs), "answer": "yes" if ok else "no", "options": ["yes", "no"]}


def _remove_vowels(r):
    w = r.choice(WORDS)
    return {"word": w, "answer": "".join(c for c in w if c not in VOWELS)}


def _replace_letter(r):
    w = r.choice(WORDS)
    a, b = r.choice(w), r.choice(string.ascii_lowercase)
    return {"word": w, "x": a, "y": b, "answer": w.replace(a, b)}


def _repeat_word(r):
    w, n = r.choice(WORDS), r.randint(2, 4)
    return {"word": w, "n": n, "answer": " ".join([w] * n)}


def _antonym(r):
    w = r.choice(sorted(ANTONYMS))
    others = r.sample([v for v in ANTONYMS.values() if v != ANTONYMS[w]], 2)
    options = [ANTONYMS[w], *others]
    r.shuffle(options)
    return {"word": w, "answer": ANTONYMS[w], "options": options}


def _plural(r):
    w = r.choice(WORDS)
    return {"word": w, "answer": w + ("es" if w.endswith(("s", "x", "h")) else "s")}


def _meters(r):
    m = r.randint(1, 50)
    return {"m": m, "answer": str(m * 100)}


def _round_ten(r):
    n = r.randint(11, 999)
    while n % 10 == 5:
        n = r.randint(11, 999)
    return {"n": n, "answer": str(int(round(n / 10.0)) * 10)}


def _swap(r):
    a, b, c = r.sample(NAMES, 3)
    ca, cb, cc = r.sample(COLORS, 3)
    held = {a: ca, b: cb, c: cc}
    swaps = [r.sample([a, b, c], 2) for _ in range(2)]
    steps = []
    for x, y in swaps:
        held[x], held[y] = held[y], held[x]
        steps.append(f"After {x} and {y} swap, {x} has {held[x]} and {y} has {held[y]}.")
    who = r.choice([a, b, c])
    start = f"{a} has a {ca} ball, {b} has a {cb} ball and {c} has a {cc} ball."
    story = start + " " + " ".join(f"Then {x} and {y} swap balls." for x, y in swaps)
    return {
        "story": story,
        "name": who,
        "answer": held[who],
        "options": [ca, cb, cc],
        "rationale": " ".join(steps),
    }


def _sentiment(r):
    pos = r.random() < 0.5
    adj = r.choice(POSITIVE if pos else NEGATIVE)
    thing = r.choice(["movie", "meal", "trip", "book", "concert"])
    return {
        "review": f"The {thing} was {adj}.",
        "answer": "positive" if pos else "negative",
        "options": ["positive", "negative"],
    }


@dataclass(frozen=True)
class Family:
    """One generated task family: a generator and its instruction phrasings."""

    name: str
    make: Callable[[random.Random], dict]
    prompts: tuple[str, ...]
    held_out: bool = False


F = Family
FAMILIES: tuple[Family, ...] = (
    F(
        "add",
        _add,
        (
            "What is {a} plus {b}?",
            "Add {a} and {b}.",
            "Compute {a} + {b}.",
            "Find the sum of {a} and {b}.",
        ),
    ),
    F(
        "subtract",
        _subtract,
        ("What is {a} minus {b}?", "Subtract {b} from {a}.", "Compute {a} - {b}."),
    ),
    F(
        "multiply",
        _multiply,
        ("What is {a} times {b}?", "Multiply {a} by {b}.", "Compute {a} x {b}."),
    ),
    F(
        "modulo",
        _modulo,
        ("What is the remainder when {a} is divided by {b}?", "Compute {a} mod {b}."),
        held_out=True,
    ),
    F(
        "compare_numbers",
        _compare,
        (
            "Which number is larger, {a} or {b}?",
            "Pick the bigger number: {a} or {b}.",
            "Of {a} and {b}, which is greater?",
        ),
    ),
    F(
        "even_odd",
        _even_odd,
        ("Is {n} even or odd?", "Tell whether the number {n} is even or odd.", "{n}: even or odd?"),
    ),
    F(
        "max_of_list",
        _max_list,
        (
            "What is the largest number in this list: {items}?",
            "Find the maximum of {items}.",
            "Which is the biggest of these numbers: {items}?",
        ),
    ),
    F(
        "min_of_list",
        _min_list,
        (
            "What is the smallest number in this list: {items}?",
            "Find the minimum of {items}.",
            "Which is the smallest of these numbers: {items}?",
        ),
        held_out=True,
    ),
    F(
        "sum_of_list",
        _sum_list,
        (
            "What is the sum of {items}?",
            "Add up these numbers: {items}.",
            "Compute the total of {items}.",
        ),
    ),
    F(
        "sort_numbers",
        _sort_numbers,
        (
            "Sort these numbers from smallest to largest: {items}",
            "Put in ascending order: {items}",
            "Arrange {items} in increasing order.",
        ),
    ),
    F(
        "sort_words",
        _sort_words,
        (
            "Sort these words alphabetically: {words}",
            "Put these words in dictionary order: {words}",
            "Alphabetize: {words}",
        ),
    ),
    F(
        "reverse_word",
        _reverse_word,
        (
            "Write the word '{word}' backwards.",
            "Reverse the letters of {word}.",
            "What is {word} spelled in reverse?",
        ),
    ),
    F(
        "uppercase",
        _uppercase,
        (
            "Write '{text}' in capital letters.",
            "Convert to upper case: {text}",
            "Make this all caps: {text}",
        ),
    ),
    F(
        "word_length",
        _word_length,
        (
            "How many letters are in the word '{word}'?",
            "Count the letters in {word}.",
            "What is the length of the word {word}?",
        ),
    ),
    F(
        "count_letter",
        _count_letter,
        (
            "How many times does the letter '{letter}' appear in '{word}'?",
            "Count the letter {letter} in the word {word}.",
            "In '{word}', how many {letter}'s are there?",
        ),
    ),
    F(
        "vowel_count",
        _vowel_count,
        ("How many vowels are in the word '{word}'?", "Count the vowels in {word}."),
        held_out=True,
    ),
    F(
        "count_words",
        _count_words,
        (
            "How many words are in this sentence: {sentence}",
            "Count the words: {sentence}",
            "Number of words in '{sentence}'?",
        ),
    ),
    F(
        "acronym",
        _acronym,
        (
            "Take the first letter of each word and write them in capitals: {words}",
            "Make an acronym from: {words}",
            "What acronym do these words form? {words}",
        ),
    ),
    F(
        "last_word",
        _last_word,
        (
            "What is the last word of: {sentence}",
            "Which word comes last in '{sentence}'?",
            "Give the final word: {sentence}",
        ),
    ),
    F(
        "next_letter",
        _next_letter,
        (
            "Which letter comes after '{letter}' in the alphabet?",
            "What is the next letter after {letter}?",
            "Alphabet: {letter}, then?",
        ),
    ),
    F(
        "prev_letter",
        _prev_letter,
        ("Which letter comes before '{letter}' in the alphabet?", "What letter precedes {letter}?"),
        held_out=True,
    ),
    F(
        "next_in_sequence",
        _sequence,
        (
            "What number comes next: {items}, ...?",
            "Continue the sequence: {items}",
            "Find the next term of {items}.",
        ),
    ),
    F(
        "two_step_arithmetic",
        _two_step,
        (
            "Add {a} and {b}, then multiply by {c}. What is the result?",
            "Compute ({a} + {b}) x {c}.",
            "What is {c} times the sum of {a} and {b}?",
        ),
    ),
    F(
        "word_problem",
        _word_problem,
        (
            "{name} has {a} {item}. {name} buys {b} more and then gives away {c}. How many {item} does {name} have now?",
            "Start with {a} {item}, add {b}, remove {c}. How many {item} are left? ({name}'s question)",
        ),
    ),
    F(
        "boolean_logic",
        _boolean,
        (
            "Evaluate: {expr}",
            "What is the value of the expression {expr}?",
            "Is '{expr}' True or False?",
        ),
    ),
    F(
        "syllogism",
        _syllogism,
        (
            "{facts} Can we conclude that {name} is friendly?",
            "Premises: {facts}\nDoes it follow that {name} is friendly?",
            "{facts} Is {name} friendly, yes or no?",
        ),
    ),
    F(
        "table_lookup",
        _table_lookup,
        (
            "{table}\n\nHow old is {name}?",
            "Use the table to answer.\n{table}\nWhat is {name}'s age?",
            "Table:\n{table}\nQuestion: what age is listed for {name}?",
        ),
    ),
    F(
        "table_oldest",
        _table_oldest,
        (
            "{table}\n\nWho is the oldest person?",
            "Look at the table and name the oldest person.\n{table}",
            "Table:\n{table}\nWhich person has the highest age?",
        ),
    ),
    F(
        "weekday_after",
        _weekday,
        (
            "If today is {day}, what day will it be in {k} days?",
            "Today is {day}. Which day of the week is {k} days from now?",
        ),
        held_out=True,
    ),
    F(
        "has_duplicate",
        _duplicates,
        (
            "Does this list contain a repeated number: {items}?",
            "Is any number repeated in {items}?",
            "Check for duplicates: {items}. Yes or no?",
        ),
    ),
    F(
        "is_sorted",
        _is_sorted,
        (
            "Is this list sorted from smallest to largest: {items}?",
            "Are the numbers {items} in increasing order?",
        ),
        held_out=True,
    ),
    F(
        "remove_vowels",
        _remove_vowels,
        ("Remove all vowels from '{word}'.", "Write {word} without its vowels."),
        held_out=True,
    ),
    F(
        "replace_letter",
        _replace_letter,
        (
            "Replace every '{x}' with '{y}' in '{word}'.",
            "In the word {word}, change each {x} to {y}.",
            "Substitute {y} for {x} in {word}.",
        ),
    ),
    F(
        "repeat_word",
        _repeat_word,
        (
            "Repeat the word '{word}' {n} times.",
            "Write {word} {n} times, separated by spaces.",
            "Say '{word}' {n} times.",
        ),
    ),
    F(
        "antonym",
        _antonym,
        ("What is the opposite of '{word}'?", "Give an antonym of {word}."),
        held_out=True,
    ),
    F(
        "plural",
        _plural,
        (
            "What is the plural of '{word}'?",
            "Write the plural form of {word}.",
            "One {word}, two ...?",
        ),
    ),
    F(
        "meters_to_cm",
        _meters,
        (
            "How many centimeters are in {m} meters?",
            "Convert {m} m to centimeters.",
            "{m} meters equals how many cm?",
        ),
    ),
    F(
        "round_to_ten",
        _round_ten,
        ("Round {n} to the nearest ten.", "What is {n} rounded to the nearest 10?"),
        held_out=True,
    ),
    F(
        "ball_swap",
        _swap,
        (
            "{story} What color ball does {name} have now?",
            "{story}\nAt the end, which color is {name}'s ball?",
            "Track the balls. {story} Which ball does {name} hold?",
        ),
    ),
    F(
        "sentiment",
        _sentiment,
        (
            "Is this review positive or negative? {review}",
            "Review: {review}\nSentiment?",
            "What is the sentiment of: {review}",
        ),
    ),
)
FAMILY_BY_NAME = {f.name: f for f in FAMILIES}
HELD_OUT = tuple(f.name for f in FAMILIES if f.held_out)
HELD_IN = tuple(f.name for f in FAMILIES if not f.held_out)

COT_SUFFIXES = (
    ("{p} Let's think step by step.", "{rationale} So the answer is {answer}."),
    (
        "{p}\nThink it through first, then answer.",
        "{rationale}\nTherefore, the answer is {answer}.",
    ),
    ("Answer with your reasoning. {p}", "Reasoning: {rationale}\nAnswer: {answer}"),
)


def family_templates(fam: Family, has_rationale: bool) -> tuple[Template, ...]:
    """Direct templates from each phrasing; CoT templates too where the family has rationales."""
    out = [Template(f"{fam.name}_{i}", p, "{answer}") for i, p in enumerate(fam.prompts)]
    if has_rationale:
        for i, p in enumerate(fam.prompts):
            inputs, targets = COT_SUFFIXES[i % len(COT_SUFFIXES)]
            out.append(
                Template(f"{fam.name}_cot{i}", inputs.replace("{p}", p), targets, kind="cot")
            )
    return tuple(out)


def generate(family: str, n: int, *, seed: int = 0, split: str = "train") -> list[Example]:
    """`n` deterministic examples of a family; `eval` rows never repeat a `train` row's fields."""
    fam = FAMILY_BY_NAME.get(family)
    if fam is None:
        raise FlankitError(f"unknown synthetic family {family!r}; see `flankit data ls synthetic`")
    rng = random.Random(f"synthetic|{family}|{seed}|{split}")
    taken: set = set()
    if split == "eval":
        taken = {_key(e.fields) for e in generate(family, n, seed=seed, split="train")}
    rows: list[Example] = []
    attempts = 0
    while len(rows) < n and attempts < n * 20:
        attempts += 1
        fields = fam.make(rng)
        fields = {k: (v if isinstance(v, list) else str(v)) for k, v in fields.items()}
        if split == "eval" and _key(fields) in taken:
            continue
        rows.append(Example(fields, f"synthetic:{family}:{split}#{len(rows)}"))
    return rows


def _key(fields: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in fields.items() if k != "rationale"))


def synthetic_task(family: str, n: int = 500, *, seed: int = 0, split: str = "train") -> Task:
    """The Task for one family, named `syn_<family>`."""
    rows = generate(family, n, seed=seed, split=split)
    fam = FAMILY_BY_NAME[family]
    return Task(
        name=f"syn_{family}",
        collection="synthetic",
        examples=rows,
        templates=family_templates(fam, "rationale" in rows[0].fields),
        meta={"source": "synthetic", "held_out": fam.held_out},
    )
