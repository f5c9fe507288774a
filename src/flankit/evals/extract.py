"""Answer extraction from model outputs: small named functions, one rule each.

Example:
    >>> extract_letter("Let's think. The answer is (B). ", "ABCD")
    'B'
    >>> extract_after_answer_is("So the answer is No.  ")
    'No'
    >>> extract_number("Die Antwort ist 2.125.", "de")
    '2125'
"""

from __future__ import annotations

import re
import string
import unicodedata

ANSWER_IS = re.compile(r"answer is[:\s]*(.+?)(?:\.\s*$|\.\s|\n|$)", re.IGNORECASE | re.DOTALL)
LETTER_PAREN = re.compile(r"\(([A-Z])\)")
ANSWER_COLON = re.compile(r"answer\s*:\s*\(?([A-Z])\b", re.IGNORECASE)


def extract_after_answer_is(text: str) -> str | None:
    """The text after the last "the answer is" (any case), without a trailing period."""
    matches = list(ANSWER_IS.finditer(text))
    if not matches:
        return None
    answer = matches[-1].group(1).strip()
    return answer.rstrip(".。 ").strip() or None


def extract_letter(
    text: str, letters: str = "ABCD", options: list[str] | None = None
) -> str | None:
    """An option letter: after "answer is", else the last "(X)", else a bare leading letter, else
    the option whose text the output names."""
    after = extract_after_answer_is(text)
    for candidate in ([after] if after else []) + [text]:
        found = [m for m in LETTER_PAREN.findall(candidate) if m in letters]
        if found:
            return found[0] if candidate is after else found[-1]
    stripped = text.strip()
    head = (after or stripped).strip().lstrip("(").rstrip(").:")
    if len(head) == 1 and head.upper() in letters:
        return head.upper()
    m = re.match(r"^\(?([A-Z])[).:\s]", stripped + " ") or ANSWER_COLON.search(stripped)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    if options:
        target = normalize_text(after or stripped)
        for letter, opt in zip(letters, options):
            if target and target == normalize_text(opt):
                return letter
        # The output names exactly one option's text somewhere.
        named = [
            letter
            for letter, opt in zip(letters, options)
            if normalize_text(opt) and f" {normalize_text(opt)} " in f" {target} "
        ]
        if len(named) == 1:
            return named[0]
    return None


def normalize_text(text: str) -> str:
    """Lower case, no punctuation or surrounding spaces: for comparing short answers."""
    text = unicodedata.normalize("NFKC", text).lower().strip()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def bbh_answer(text: str) -> str:
    """BBH: the phrase after "So the answer is", else the first line; options like (B) kept."""
    after = extract_after_answer_is(text)
    answer = after if after is not None else text.strip().split("\n")[0]
    return answer.strip().rstrip(".").strip()


def bbh_match(prediction: str, gold: str) -> bool:
    """Case- and punctuation-insensitive match; "(B)" also matches "(B) some option text"."""
    if normalize_text(prediction) == normalize_text(gold):
        return True
    m = LETTER_PAREN.match(gold)
    if m and gold.strip() == f"({m.group(1)})":
        return extract_letter(prediction, "ABCDEFGHIJKLMNOPQR") == m.group(1)
    return False


# The final-answer sentence of each MGSM language's exemplars (shared/data/mgsm/SOURCE.md).
MGSM_ANSWER = {
    "bn": r"উত্তর হল\s*([-\d.,]+)",
    "de": r"Die Antwort (?:ist|lautet)\s*([-\d.,]+)",
    "en": r"The answer is\s*([-\d.,]+)",
    "es": r"La respuesta es\s*([-\d.,]+)",
    "fr": r"La réponse est\s*([-\d.,]+)",
    "ja": r"答えは\s*([-\d.,]+)",
    "ru": r"Ответ\s*[—-]\s*([-\d.,]+)",
    "sw": r"Jibu ni\s*([-\d.,]+)",
    "te": r"సమాధానం\s*([-\d.,]+)",
    "th": r"คำตอบคือ\s*([-\d.,]+)",
    "zh": r"答案是\s*([-\d.,]+)",
}
NUMBER = re.compile(r"-?\d[\d,.]*")


def _clean_number(raw: str) -> str | None:
    raw = raw.strip().rstrip(".,")
    if not raw or not any(c.isdigit() for c in raw):
        return None
    # "2,125" and "2.125" (German grouping) are thousands separators when groups have 3 digits.
    if re.fullmatch(r"-?\d{1,3}([,.]\d{3})+", raw):
        raw = raw.replace(",", "").replace(".", "")
    raw = raw.replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return str(int(value)) if value == int(value) else str(value)


def extract_number(text: str, lang: str = "en") -> str | None:
    """MGSM: the number in the language's answer sentence, else the last number in the output."""
    pattern = MGSM_ANSWER.get(lang)
    if pattern:
        found = re.findall(pattern, text)
        if found:
            value = _clean_number(found[-1])
            if value is not None:
                return value
    numbers = NUMBER.findall(text)
    return _clean_number(numbers[-1]) if numbers else None


def squad_normalize(text: str) -> str:
    """SQuAD-style: lower case, drop punctuation (Unicode too) and English articles, squash spaces."""
    text = text.lower()
    text = "".join(
        ch
        for ch in text
        if ch not in string.punctuation and not unicodedata.category(ch).startswith("P")
    )
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_em_f1(prediction: str, golds: list[str]) -> tuple[float, float]:
    """Exact match and token F1, each the max over gold answers."""
    pred = squad_normalize(prediction)
    em = f1 = 0.0
    for gold in golds:
        g = squad_normalize(gold)
        em = max(em, float(pred == g))
        p_tok, g_tok = pred.split(), g.split()
        common = sum(min(p_tok.count(t), g_tok.count(t)) for t in set(p_tok))
        if common:
            precision, recall = common / len(p_tok), common / len(g_tok)
            f1 = max(f1, 2 * precision * recall / (precision + recall))
        elif not p_tok and not g_tok:
            f1 = max(f1, 1.0)
    return em, f1


def majority_vote(answers: list[str | None]) -> str | None:
    """Self-consistency: the most frequent extracted answer; ties go to the one seen first."""
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)
