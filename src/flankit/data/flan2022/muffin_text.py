"""FLAN's Muffin preprocessors for generation tasks: QA, summarisation, translation,
struct-to-text, numbered lists and the ParaCrawl-derived tasks (helpers in `muffin_prep`).

Example:
    >>> process_lambada({"text": "He opened the door"})
    {'sentence': 'He opened the', 'answer': 'door'}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from flankit.data.flan2022.muffin_prep import Fields, Row, RowError, need, text

# ---------------------------------------------------------------- QA


def process_squad_v1(row: Row) -> Fields:
    answers = need(row, "answers")
    if not isinstance(answers, Mapping) or not answers.get("text"):
        raise RowError("answers", "no answer text")
    return {
        "title": text(row, "title").replace("_", " "),
        "context": text(row, "context"),
        "question": text(row, "question"),
        "answer": answers["text"][0],
    }


def process_squad_v2(row: Row) -> Fields:
    answers = need(row, "answers")
    found = answers.get("text") if isinstance(answers, Mapping) else None
    return {
        "title": text(row, "title").replace("_", " "),
        "context": text(row, "context"),
        "question": text(row, "question"),
        "answer": found[0] if found else "unanswerable",
    }


def process_natural_questions(row: Row) -> Fields:
    answers = need(row, "answer")
    if not answers:
        raise RowError("answer", "no answer")
    return {"question": text(row, "question") + "?", "answer": answers[0]}


def keep_trivia_qa(row: Row) -> bool:
    answer = row.get("answer")
    return isinstance(answer, Mapping) and bool(answer.get("value"))


def process_trivia_qa(row: Row) -> Fields:
    return {"question": text(row, "question"), "answer": need(row, "answer")["normalized_value"]}


def process_drop(row: Row) -> Fields:
    spans = need(row, "answers_spans")
    if not isinstance(spans, Mapping) or not spans.get("spans"):
        raise RowError("answers_spans", "no answer span")
    return {
        "context": text(row, "passage"),
        "question": text(row, "question"),
        "answer": spans["spans"][0],
    }


def process_math_dataset(row: Row) -> Fields:
    return {"question": text(row, "question"), "answer": text(row, "answer")}


def process_lambada(row: Row) -> Fields:
    """LAMBADA: the passage without its last word, and that word."""
    passage = text(row, "text").strip()
    answer = passage.split(" ")[-1]
    return {"sentence": passage[: len(passage) - len(answer) - 1], "answer": answer}


# ---------------------------------------------------------------- summarisation


def keep_aeslc(row: Row) -> bool:
    """FLAN drops emails whose body and subject are both empty."""
    return bool(str(row.get("email_body") or "") + str(row.get("subject_line") or ""))


def process_aeslc(row: Row) -> Fields:
    return {
        "body": text(row, "email_body").replace("\n", " "),
        "subject": text(row, "subject_line").replace("\n", ""),
    }


def process_cnn_dailymail(row: Row) -> Fields:
    article = text(row, "article")
    for sep in ("2013 . ", "2014 . ", "2012 . ", ") -- "):
        article = article.split(sep)[-1]
    highlights = text(row, "highlights").replace(" .", ".").replace("\n", " ")
    return {"text": article, "highlights": highlights}


def keep_gigaword(row: Row) -> bool:
    joined = str(row.get("document", "")) + str(row.get("summary", ""))
    return "UNK" not in joined and "#" not in joined


def process_document_summary(row: Row) -> Fields:
    """XSum, Gigaword and Multi-News: `document` and `summary`."""
    return {"text": text(row, "document"), "summary": text(row, "summary")}


def process_samsum(row: Row) -> Fields:
    dialogue = text(row, "dialogue").replace("\r\n", "\n")
    return {"dialogue": re.sub("<.*>", " ", dialogue), "summary": text(row, "summary")}


def process_wiki_lingua(row: Row) -> Fields:
    return {"source": text(row, "source"), "target": text(row, "target")}


# ---------------------------------------------------------------- translation


def translation(lang1: str, lang2: str, code: str) -> Callable[[Row], Fields]:
    """FLAN's translation fields for the hub's `translation: {en: ..., <code>: ...}` rows."""

    def process_translation(row: Row) -> Fields:
        pair = need(row, "translation")
        if not isinstance(pair, Mapping) or "en" not in pair or code not in pair:
            raise RowError("translation", f"expected {{'en': ..., {code!r}: ...}}")
        return {"lang1": lang1, "lang2": lang2, "sent1": pair["en"], "sent2": pair[code]}

    process_translation.__name__ = f"process_translation_{code}en"
    return process_translation


# ---------------------------------------------------------------- struct to text


def process_common_gen(row: Row) -> Fields:
    concepts = list(need(row, "concepts"))
    return {
        "concepts": ", ".join(concepts),
        "concepts_newline": "\n".join(concepts),
        "target": text(row, "target"),
    }


def process_e2e_nlg(row: Row) -> Fields:
    mr = text(row, "meaning_representation").replace("[", " = ").replace("]", "")
    return {"meaning_representation": mr, "target": text(row, "target")}


def process_web_nlg(row: Row) -> Fields:
    joined = "; ".join(need(row, "input")).replace("_", " ").replace(" | ", ", ")
    return {"input_string": joined, "target": text(row, "target")}


def process_dart(row: Row) -> Fields:
    """DART: FLAN joins every cell of the triple set (its reduce_join flattens the triples)."""
    cells = [cell for triple in need(row, "tripleset") for cell in triple]
    return {
        "tripleset": re.sub(r"\[(.*?)\]", "", "; ".join(cells)),
        "tripleset_newline": "\n".join(cells),
        "target": text(row, "target"),
    }


# ---------------------------------------------------------------- reading comprehension, lists


def numbered(items: Sequence[str]) -> str:
    """FLAN's numbered list: "1. a\n2. b"."""
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def process_coqa(row: Row) -> Fields:
    answers = need(row, "answers")
    if not isinstance(answers, Mapping) or "input_text" not in answers:
        raise RowError("answers", "expected {'input_text': [...], ...}")
    return {
        "text": text(row, "story"),
        "numbered_questions": numbered(list(need(row, "questions"))),
        "numbered_answers": numbered(list(answers["input_text"])),
    }


def process_record(row: Row) -> Fields:
    """ReCoRD: the query up to its placeholder; each entity and answer continued by the rest."""
    query = text(row, "query")
    if "@placeholder" not in query:
        raise RowError("query", "the query has no @placeholder")
    left, right = query.split("@placeholder")[:2]
    options = [entity + right for entity in need(row, "entities")]
    answers = [answer + right for answer in need(row, "answers")]
    if not answers:
        raise RowError("answers", "no answer")
    return {
        "passage": text(row, "passage").split("\n@highlight")[0],
        "query": left.strip(),
        "options": options,
        "options_str": "OPTIONS:\n- " + "\n- ".join(options),
        "answer": answers[0],
    }


# ---------------------------------------------------------------- ParaCrawl and its English


def english(row: Row) -> str:
    """A ParaCrawl row's English side: TFDS's `en`, or the hub's `translation.en`."""
    if "en" in row:
        return text(row, "en")
    pair = need(row, "translation")
    if not isinstance(pair, Mapping) or not isinstance(pair.get("en"), str):
        raise RowError("translation", "expected {'en': ..., ...}")
    return pair["en"]


def process_para_crawl_enes(row: Row) -> Fields:
    spanish = row["es"] if "es" in row else need(row, "translation").get("es")
    if not isinstance(spanish, str):
        raise RowError("translation", "expected {'en': ..., 'es': ...}")
    return {"lang1": "English", "lang2": "Spanish", "sent1": english(row), "sent2": spanish}


def keep_true_case(row: Row) -> bool:
    """FLAN drops sentences that are already lower case."""
    en = english(row)
    return en.lower() != en


def process_true_case(row: Row) -> Fields:
    en = english(row)
    return {"lower": en.lower(), "answer": en}


def _no_punct(en: str) -> str:
    return re.sub(r"[^\w\s]", "", en, flags=re.ASCII)  # RE2's \w and \s are ASCII


def keep_fix_punct(row: Row) -> bool:
    """FLAN drops sentences without punctuation."""
    en = english(row)
    return _no_punct(en) != en


def process_fix_punct(row: Row) -> Fields:
    en = english(row)
    return {"no_punct": _no_punct(en), "answer": en}


def process_word_segment(row: Row) -> Fields:
    en = english(row)
    return {"no_space": en.replace(" ", ""), "answer": en}


# ---------------------------------------------------------------- UnifiedQA science questions


def keep_unified_qa_science(row: Row) -> bool:
    """FLAN keeps the questions with exactly four options, (A) to (D)."""
    question = str(row.get("input", ""))
    return "(D)" in question and "(E)" not in question


def process_unified_qa_science(row: Row) -> Fields:
    """UnifiedQA's ai2_science_middle `input` ("question \\n (A) a (B) b (C) c (D) d") split into
    the question and its four options; `output` is the answer."""
    question = text(row, "input").replace("\\n", "\n")
    for marker in ("(A)", "(B)", "(C)", "(D)"):
        if marker not in question:
            raise RowError("input", f"the question has no {marker} option")
    head, rest = question.split("(A)", 1)
    a, rest = rest.split("(B)", 1)
    b, rest = rest.split("(C)", 1)
    c, d = rest.split("(D)", 1)
    return {
        "question": head.strip(),
        "options": [a.strip(), b.strip(), c.strip(), d.strip()],
        "answer": text(row, "output").replace("\\n", "\n"),
    }
