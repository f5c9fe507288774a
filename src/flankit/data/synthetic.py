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
from collections.abc import Callable
from dataclasses import dataclass

from flankit.data.synthetic_generators import (
    _acronym,
    _add,
    _antonym,
    _boolean,
    _compare,
    _count_letter,
    _count_words,
    _duplicates,
    _even_odd,
    _is_sorted,
    _last_word,
    _max_list,
    _meters,
    _min_list,
    _modulo,
    _multiply,
    _next_letter,
    _plural,
    _prev_letter,
    _remove_vowels,
    _repeat_word,
    _replace_letter,
    _reverse_word,
    _round_ten,
    _sentiment,
    _sequence,
    _sort_numbers,
    _sort_words,
    _subtract,
    _sum_list,
    _swap,
    _syllogism,
    _table_lookup,
    _table_oldest,
    _two_step,
    _uppercase,
    _vowel_count,
    _weekday,
    _word_length,
    _word_problem,
)
from flankit.data.tasks import Example, Task
from flankit.data.templates import Template
from flankit.errors import FlankitError


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
