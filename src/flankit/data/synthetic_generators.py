"""Generators for the synthetic task families: each draws one example's fields from a seeded RNG.

Every generator returns named fields, an `answer`, and where natural `options` and a
step-by-step `rationale`. `synthetic.py` pairs them with instruction phrasings.
"""

from __future__ import annotations

import random
import string

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
