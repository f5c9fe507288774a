"""MGSM: 8-shot chain of thought with the native-language exemplars (Shi et al., 2022).

Prompt: the 8 exemplars of the language ("{question prefix} ...\\n{answer prefix} ... answer
sentence"), then "{question prefix}{question}\\n{answer prefix}". Scoring: the number in the
language's answer sentence, else the last number; thousands separators removed. Average: macro
over the 10 non-English languages; English reported apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from flankit.data.sources import BadRows, open_text, read_json, utf8_error
from flankit.errors import FlankitError
from flankit.evals import extract
from flankit.evals.benchmarks import Benchmark, Item, Score, Setup, no_examples
from flankit.evals.extract import _clean_number

PROMPT_VERSION = "mgsm-native-cot-v1"
LANGS = ("bn", "de", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
ALL_LANGS = ("en",) + LANGS
PREFIX = re.compile(r"^(.*?[:：])\s*")


@dataclass(frozen=True)
class Options:
    langs: list[str] | None = field(
        default=None, metadata={"help": "comma list of MGSM languages (default: all)"}
    )


def prefixes(exemplar: dict) -> tuple[str, str]:
    """(question prefix, answer prefix) as the exemplars write them, e.g. ("Frage: ", "Schritt-für-Schritt-Antwort:")."""
    q = PREFIX.match(exemplar["q"])
    a = PREFIX.match(exemplar["a"])
    if not q or not a:
        raise FlankitError("MGSM exemplar without a 'prefix:'", task="mgsm")
    return exemplar["q"][: q.end()], exemplar["a"][: a.end()].rstrip()


def rows(path: Path, task: str, bad: BadRows) -> list[tuple[str, str]]:
    """(question, gold number) for the usable rows of one MGSM TSV."""
    if not path.exists():
        raise FlankitError("MGSM file not found", file=str(path), task=task)
    out = []
    with open_text(str(path), task) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            error = None
            if len(cols) != 2:
                error = FlankitError(
                    f"expected question<TAB>answer, got {len(cols)} columns",
                    file=str(path),
                    line=lineno,
                    task=task,
                )
            else:
                fields = {"question": cols[0], "answer": cols[1]}
                error = utf8_error(fields, file=str(path), line=lineno, task=task)
            if error is None and not cols[0].strip():
                error = FlankitError(
                    "empty value", file=str(path), line=lineno, task=task, field="question"
                )
            gold = _clean_number(cols[1]) if error is None else None
            if error is None and gold is None:
                error = FlankitError(
                    f"gold answer {cols[1]!r} is not a number",
                    file=str(path),
                    line=lineno,
                    task=task,
                    field="answer",
                )
            if error:
                bad.handle(error)
                continue
            out.append((cols[0], gold))
    if not out:
        raise no_examples(task, str(path), bad)
    return out


def _exemplars(path: Path, lang: str) -> list[dict]:
    data = read_json(path, task=f"mgsm/{lang}")
    try:
        shots = [data["MGSM_EXEMPLARS"][lang][str(k)] for k in range(1, 9)]
        if not all(isinstance(s["q"], str) and isinstance(s["a"], str) for s in shots):
            raise TypeError
    except (KeyError, TypeError) as exc:
        raise FlankitError(
            "expected MGSM_EXEMPLARS -> language -> '1'..'8' -> {q, a}",
            file=str(path),
            task=f"mgsm/{lang}",
        ) from exc
    error = utf8_error({"q": [s["q"] for s in shots], "a": [s["a"] for s in shots]}, file=str(path))
    if error:
        raise error
    return shots


def load(
    root: Path,
    modes: list[str],
    *,
    limit: int | None = None,
    langs: list[str] | None = None,
    bad: BadRows | None = None,
) -> list[Item]:
    root = Path(root)
    bad = bad if bad is not None else BadRows()
    ex_path = root / "exemplars.json"
    if not ex_path.exists():
        raise FlankitError("MGSM exemplars not found", file=str(ex_path))
    items = []
    for lang in langs or ALL_LANGS:
        shots = _exemplars(ex_path, lang)
        q_prefix, a_prefix = prefixes(shots[0])
        head = "".join(f"{s['q']}\n{s['a']}\n\n" for s in shots)
        for i, (question, gold) in enumerate(
            rows(root / f"mgsm_{lang}.tsv", f"mgsm/{lang}", bad)[:limit]
        ):
            prompt = f"{head}{q_prefix}{question}\n{a_prefix}"
            stop_word = q_prefix.rstrip(": ：")
            items.append(
                Item(
                    "mgsm",
                    lang,
                    f"{lang}-{i}",
                    "cot",
                    prompt,
                    gold,
                    "number",
                    lang=lang,
                    max_new_tokens=256,
                    stop=(f"\n\n{stop_word}", f"\n{stop_word}"),
                )
            )
    return items


def score(item: Item, output: str) -> Score:
    """The number of the language's answer sentence, else the last number."""
    pred = extract.extract_number(output, item.lang)
    return pred, pred is not None and pred == item.gold, 0.0


def _load(options: Options, setup: Setup) -> list[Item]:
    return load(setup.root / "mgsm", ["cot"], limit=setup.limit, langs=options.langs, bad=setup.bad)


BENCHMARK = Benchmark(
    "mgsm",
    _load,
    score,
    PROMPT_VERSION,
    Options,
    modes=("cot",),
    modes_note="MGSM is evaluated with CoT only (add --modes cot)",
    paper_columns=(("cot", "MGSM CoT"),),
    reported_apart=frozenset({"en"}),
)
