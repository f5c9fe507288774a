"""FLAN's Muffin (Flan 2021) preprocessors, as plain functions over hub rows: the shared helpers,
NLI and sentence pairs, classification and multiple choice (the generation tasks are in
`muffin_text`).

Each task has a `process_*` function that maps one row of its hub dataset (the columns of the id
and config in the catalog) to the template fields FLAN's `_process_*` makes from the TFDS row,
and optionally `keep_*` filters (FLAN's `_filter_*`) that drop rows FLAN drops; dropped rows are
counted, never lost silently. A value the task cannot use (a label outside its options, a field
of the wrong type) raises `RowError` naming the field.

Where the hub schema differs from TFDS, the function bridges it: trec's coarse labels are mapped
by name (the hub orders them differently), winogrande's answers are the strings "1"/"2", ANLI's
`premise` is FLAN's `context`, ARC and OpenBookQA answers are found by their label letter.

Example:
    >>> process_rte({"premise": "It rains.", "hypothesis": "It is wet.", "label": 0})["answer"]
    'yes'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]
Fields = dict[str, Any]


class RowError(ValueError):
    """A row value the task cannot use; `field` names the hub column."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def need(row: Row, name: str) -> Any:
    """The row's value of `name`, or a RowError naming the missing column."""
    if name not in row or row[name] is None:
        raise RowError(name, f"the row has no {name!r}")
    return row[name]


def text(row: Row, name: str) -> str:
    value = need(row, name)
    if not isinstance(value, str):
        raise RowError(name, f"expected text, got {type(value).__name__} {value!r}")
    return value


def label_to_option(options: Sequence[str], label: Any, field: str = "label") -> str:
    """The option a class index names (FLAN's one-hot mask); an index outside is an error."""
    try:
        index = int(label)
    except (TypeError, ValueError):
        raise RowError(field, f"label {label!r} is not an integer") from None
    if not 0 <= index < len(options) or isinstance(label, float) and label != index:
        raise RowError(
            field, f"label {label!r} is outside the {len(options)} options {list(options)}"
        )
    return options[index]


def _labelled(row: Row, options: Sequence[str], columns: Mapping[str, str]) -> Fields:
    fields: Fields = {out: text(row, col) for out, col in columns.items()}
    fields["options"] = list(options)
    fields["answer"] = label_to_option(options, need(row, "label"))
    return fields


# ---------------------------------------------------------------- NLI and sentence pairs

ANLI_OPTIONS = ["Yes", "It's impossible to say", "No"]
CB_OPTIONS = ["Yes", "No", "It's impossible to say"]
MNLI_OPTIONS = ["yes", "it is not possible to tell", "no"]
YES_NO = ["yes", "no"]
NO_YES = ["no", "yes"]
SENTIMENT = ["negative", "positive"]


def process_rte(row: Row) -> Fields:
    return _labelled(row, YES_NO, {"premise": "premise", "hypothesis": "hypothesis"})


def process_cb(row: Row) -> Fields:
    return _labelled(row, CB_OPTIONS, {"premise": "premise", "hypothesis": "hypothesis"})


def process_anli(row: Row) -> Fields:
    return _labelled(row, ANLI_OPTIONS, {"context": "premise", "hypothesis": "hypothesis"})


def process_mnli(row: Row) -> Fields:
    return _labelled(row, MNLI_OPTIONS, {"premise": "premise", "hypothesis": "hypothesis"})


def keep_snli(row: Row) -> bool:
    """FLAN keeps SNLI rows labelled 0-2 (the hub marks rows without a gold label -1)."""
    return row.get("label") in (0, 1, 2)


def process_qnli(row: Row) -> Fields:
    return _labelled(row, YES_NO, {"question": "question", "sentence": "sentence"})


def process_wnli(row: Row) -> Fields:
    return _labelled(row, NO_YES, {"sentence1": "sentence1", "sentence2": "sentence2"})


def process_mrpc(row: Row) -> Fields:
    return _labelled(row, NO_YES, {"sentence1": "sentence1", "sentence2": "sentence2"})


def process_paws(row: Row) -> Fields:
    return _labelled(row, NO_YES, {"sentence1": "sentence1", "sentence2": "sentence2"})


def process_qqp(row: Row) -> Fields:
    fields = _labelled(row, NO_YES, {"question1": "question1", "question2": "question2"})
    for name in ("question1", "question2"):
        fields[name] = fields[name].replace('""', "'")
    return fields


def process_wic(row: Row) -> Fields:
    columns = {"sentence1": "sentence1", "sentence2": "sentence2", "word": "word"}
    return _labelled(row, ["different meanings", "the same meaning"], columns)


def process_stsb(row: Row) -> Fields:
    """STS-B's similarity score rounded to a whole number among the options "0".."5"."""
    label = need(row, "label")
    if not isinstance(label, (int, float)) or not 0 <= label <= 5:
        raise RowError("label", f"similarity {label!r} is not a number in [0, 5]")
    return {
        "sentence1": text(row, "sentence1"),
        "sentence2": text(row, "sentence2"),
        "options": [str(i) for i in range(6)],
        "answer": str(round(label)),  # tf.strings.as_string(precision=0) rounds half to even
    }


def process_cola(row: Row) -> Fields:
    return _labelled(row, ["unacceptable", "acceptable"], {"sentence": "sentence"})


def process_sst2(row: Row) -> Fields:
    return _labelled(row, SENTIMENT, {"sentence": "sentence"})


# ---------------------------------------------------------------- classification


def process_imdb(row: Row) -> Fields:
    fields = _labelled(row, SENTIMENT, {"text": "text"})
    fields["text"] = fields["text"].replace("<br />", "\n")
    return fields


def process_yelp(row: Row) -> Fields:
    fields = _labelled(row, SENTIMENT, {"text": "text"})
    fields["text"] = fields["text"].replace('\\""', '"').replace("\\n", " ")
    return fields


def process_sentiment140(row: Row) -> Fields:
    """Sentiment140's polarity 0/2/4 as negative/positive (FLAN: 3 and 4 are positive)."""
    polarity = need(row, "sentiment")
    return {
        "text": text(row, "text"),
        "options": list(SENTIMENT),
        "answer": SENTIMENT[int(polarity in (3, 4))],
    }


AG_NEWS_OPTIONS = ["World", "Sports", "Business", "Science/Tech"]


def process_ag_news(row: Row) -> Fields:
    """AG News; FLAN's templates need a `title`, which only the TFDS copy has (its body is
    `description`; the hub's is `text`)."""
    body = "text" if "text" in row else "description"
    return _labelled(row, AG_NEWS_OPTIONS, {"text": body, "title": "title"})


TREC_OPTIONS = ["description", "entity", "abbreviation", "human", "numeric", "location"]
# The hub's `coarse_label` order (CogComp/trec); FLAN indexes TFDS's `label-coarse` order.
TREC_HUB_COARSE = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
TREC_BY_NAME = {
    "DESC": "description",
    "ENTY": "entity",
    "ABBR": "abbreviation",
    "HUM": "human",
    "NUM": "numeric",
    "LOC": "location",
}


def trec_label(label: Any) -> str:
    """The FLAN option of a hub coarse label: an index in the hub's order, or the name."""
    name = (
        label if isinstance(label, str) else label_to_option(TREC_HUB_COARSE, label, "coarse_label")
    )
    if name not in TREC_BY_NAME:
        raise RowError("coarse_label", f"unknown TREC coarse label {label!r}")
    return TREC_BY_NAME[name]


def process_trec(row: Row) -> Fields:
    return {
        "text": text(row, "text"),
        "options": list(TREC_OPTIONS),
        "answer": trec_label(need(row, "coarse_label")),
    }


def process_boolq(row: Row) -> Fields:
    """BoolQ; FLAN's templates need a `title`, which only the TFDS copy has."""
    answer = need(row, "answer")
    if not isinstance(answer, bool):
        raise RowError("answer", f"expected true/false, got {answer!r}")
    return {
        "title": text(row, "title"),
        "text": text(row, "passage"),
        "question": text(row, "question"),
        "options": list(NO_YES),
        "answer": NO_YES[int(answer)],
    }


def process_multirc(row: Row) -> Fields:
    columns = {"paragraph": "paragraph", "question": "question", "response": "answer"}
    return _labelled(row, NO_YES, columns)


def process_wsc(row: Row) -> Fields:
    """WSC: the pronoun (word `span2_index`) marked as ``*pronoun*`` in the text."""
    words = text(row, "text").split(" ")
    index = need(row, "span2_index")
    if not isinstance(index, int) or not 0 < index < len(words):
        raise RowError("span2_index", f"pronoun index {index!r} is outside the text")
    span2 = text(row, "span2_text")
    context = " ".join([*words[:index], f"*{span2}*", *words[index + 1 :]])
    return {
        "context": context,
        "text1": text(row, "span1_text"),
        "text2": span2,
        "options": list(NO_YES),
        "answer": label_to_option(NO_YES, need(row, "label")),
    }


# ---------------------------------------------------------------- multiple choice


def _choices(row: Row, columns: Sequence[str], label_offset: int = 0) -> tuple[list[str], str]:
    options = [text(row, c) for c in columns]
    label = need(row, "label")
    if isinstance(label, str):
        if not label.strip().lstrip("-").isdigit():
            raise RowError("label", f"label {label!r} is not an integer")
        label = int(label)
    return options, label_to_option(options, label - label_offset)


def process_copa(row: Row) -> Fields:
    options, answer = _choices(row, ("choice1", "choice2"))
    return {
        "premise": text(row, "premise"),
        "question": text(row, "question"),
        "options": options,
        "answer": answer,
    }


def process_piqa(row: Row) -> Fields:
    options, answer = _choices(row, ("sol1", "sol2"))
    return {"goal": text(row, "goal"), "options": options, "answer": answer}


def keep_cosmos_qa(row: Row) -> bool:
    return row.get("label") is not None


def process_cosmos_qa(row: Row) -> Fields:
    options, answer = _choices(row, ("answer0", "answer1", "answer2", "answer3"))
    return {
        "context": text(row, "context"),
        "question": text(row, "question"),
        "options": options,
        "answer": answer,
    }


def winogrande_answer(answer: Any) -> int:
    """The option index of winogrande's answer: the hub has "1"/"2" (TFDS had 0/1)."""
    if str(answer) not in ("1", "2"):
        raise RowError("answer", f"answer {answer!r} is not '1' or '2'")
    return int(answer) - 1


def process_winogrande(row: Row) -> Fields:
    sentence = text(row, "sentence")
    if "_" not in sentence:
        raise RowError("sentence", "the sentence has no '_' blank")
    parts = sentence.split("_")
    context, rest = parts[0], parts[1]
    options = [text(row, "option1") + rest, text(row, "option2") + rest]
    return {
        "context": context,
        "options": options,
        "answer": options[winogrande_answer(need(row, "answer"))],
    }


def _lettered(row: Row, choices: Any, key: Any) -> tuple[list[str], str]:
    if not isinstance(choices, Mapping) or "text" not in choices or "label" not in choices:
        raise RowError("choices", "expected {'text': [...], 'label': [...]}")
    labels = list(choices["label"])
    if key not in labels:
        raise RowError("answerKey", f"answer key {key!r} is not one of the labels {labels}")
    options = list(choices["text"])
    return options, options[labels.index(key)]


def keep_arc(row: Row) -> bool:
    """FLAN keeps ARC questions with exactly four options."""
    choices = row.get("choices")
    return isinstance(choices, Mapping) and len(choices.get("text", ())) == 4


def process_arc(row: Row) -> Fields:
    options, answer = _lettered(row, need(row, "choices"), need(row, "answerKey"))
    return {"question": text(row, "question"), "options": options, "answer": answer}


def process_openbookqa(row: Row) -> Fields:
    options, answer = _lettered(row, need(row, "choices"), need(row, "answerKey"))
    return {
        "question": text(row, "question_stem"),
        "fact": text(row, "fact1"),
        "options": options,
        "answer": answer,
    }


def keep_hellaswag(row: Row) -> bool:
    return str(row.get("label", "")).strip() in ("0", "1", "2", "3")


def process_hellaswag(row: Row) -> Fields:
    context = re.sub(r"\[header\]\s", "", text(row, "ctx"), flags=re.ASCII)
    context = re.sub(r"\[.*?\]\s", "\n", context, flags=re.ASCII)
    options = [re.sub(r"\[.*?\]\s", "", e, flags=re.ASCII) for e in need(row, "endings")]
    return {
        "context": context,
        "options": options,
        "activity_label": text(row, "activity_label"),
        "answer": label_to_option(options, need(row, "label")),  # the hub's labels are "0".."3"
    }


def process_definite_pronoun_resolution(row: Row) -> Fields:
    options = list(need(row, "candidates"))
    return {
        "sentence": text(row, "sentence"),
        "pronoun": text(row, "pronoun"),
        "options": options,
        "answer": label_to_option(options, need(row, "label")),
    }
