"""MGSM: 8-shot chain of thought with the native-language exemplars (Shi et al., 2022).

Prompt: the 8 exemplars of the language ("{question prefix} ...\\n{answer prefix} ... answer
sentence"), then "{question prefix}{question}\\n{answer prefix}". Scoring: the number in the
language's answer sentence, else the last number; thousands separators removed. Average: macro
over the 10 non-English languages; English reported apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flankit.errors import FlankitError
from flankit.evals.benchmarks import Item
from flankit.evals.extract import _clean_number

PROMPT_VERSION = "mgsm-native-cot-v1"
LANGS = ("bn", "de", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
ALL_LANGS = ("en",) + LANGS
PREFIX = re.compile(r"^(.*?[:：])\s*")


def prefixes(exemplar: dict) -> tuple[str, str]:
    """(question prefix, answer prefix) as the exemplars write them, e.g. ("Frage: ", "Schritt-für-Schritt-Antwort:")."""
    q = PREFIX.match(exemplar["q"])
    a = PREFIX.match(exemplar["a"])
    if not q or not a:
        raise FlankitError("MGSM exemplar without a 'prefix:'", task="mgsm")
    return exemplar["q"][: q.end()], exemplar["a"][: a.end()].rstrip()


def load(
    root: Path, modes: list[str], *, limit: int | None = None, langs: list[str] | None = None
) -> list[Item]:
    root = Path(root)
    ex_path = root / "exemplars.json"
    if not ex_path.exists():
        raise FlankitError("MGSM exemplars not found", file=str(ex_path))
    exemplars = json.loads(ex_path.read_text(encoding="utf-8"))["MGSM_EXEMPLARS"]
    items = []
    for lang in langs or ALL_LANGS:
        shots = [exemplars[lang][str(k)] for k in range(1, 9)]
        q_prefix, a_prefix = prefixes(shots[0])
        head = "".join(f"{s['q']}\n{s['a']}\n\n" for s in shots)
        path = root / f"mgsm_{lang}.tsv"
        if not path.exists():
            raise FlankitError("MGSM file not found", file=str(path), task=f"mgsm/{lang}")
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines[:limit]):
            cols = line.split("\t")
            if len(cols) != 2:
                raise FlankitError(
                    f"expected question<TAB>answer, got {len(cols)} columns",
                    file=str(path),
                    line=i + 1,
                    task=f"mgsm/{lang}",
                )
            gold = _clean_number(cols[1])
            prompt = f"{head}{q_prefix}{cols[0]}\n{a_prefix}"
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
