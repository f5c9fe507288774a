"""TyDiQA-GoldP, one-shot, exact match (and F1) with SQuAD-style normalisation.

Data: the official SQuAD-format JSON (a path) or the hub dataset
`google-research-datasets/tydiqa`, config `secondary_task`, split `validation`. The one-shot
exemplar for each language comes from `tydiqa-one-shot.json` (train split); a question that is
its own exemplar is asked zero-shot. Prompt: "{context}\\n\\nQ: {question}\\n\\nA: {answer}".
Average: macro over the 8 non-English languages; English reported apart.
"""

from __future__ import annotations

import json
from pathlib import Path

from flankit.errors import FlankitError
from flankit.evals.benchmarks import Item

PROMPT_VERSION = "tydiqa-goldp-1shot-v1"
LANGS = ("arabic", "bengali", "finnish", "indonesian", "korean", "russian", "swahili", "telugu")
ALL_LANGS = LANGS + ("english",)


def _block(context: str, question: str) -> str:
    return f"{context.strip()}\n\nQ: {question.strip()}\n\nA:"


def squad_rows(data: dict) -> list[dict]:
    rows = []
    for article in data.get("data", []):
        for para in article.get("paragraphs", []):
            for qa in para.get("qas", []):
                rows.append(
                    {
                        "id": qa["id"],
                        "context": para["context"],
                        "question": qa["question"],
                        "answers": [a["text"] for a in qa.get("answers", [])],
                    }
                )
    return rows


def hub_rows() -> list[dict]:
    import datasets

    ds = datasets.load_dataset(
        "google-research-datasets/tydiqa", "secondary_task", split="validation"
    )
    return [
        {
            "id": r["id"],
            "context": r["context"],
            "question": r["question"],
            "answers": r["answers"]["text"],
        }
        for r in ds
    ]


def load(dev: str | Path | None, oneshot: Path, *, limit: int | None = None) -> list[Item]:
    """Items from a SQuAD-format dev file (or the hub when `dev` is "hub")."""
    if dev is None:
        raise FlankitError(
            "TyDiQA needs the GoldP dev set: --tydiqa-dev PATH (SQuAD JSON) or --tydiqa-dev hub"
        )
    if str(dev) == "hub":
        rows = hub_rows()
    else:
        path = Path(dev)
        if not path.exists():
            raise FlankitError("TyDiQA dev file not found", file=str(path))
        rows = squad_rows(json.loads(path.read_text(encoding="utf-8")))
    shots = json.loads(Path(oneshot).read_text(encoding="utf-8"))
    by_lang: dict[str, list[dict]] = {}
    for r in rows:
        by_lang.setdefault(r["id"].split("-", 1)[0], []).append(r)
    items = []
    for lang in ALL_LANGS:
        shot = (shots.get(lang) or [None])[0]
        for r in by_lang.get(lang, [])[:limit]:
            if not r["answers"] or not any(a.strip() for a in r["answers"]):
                raise FlankitError(
                    "question has no gold answer (an answer-blanked XTREME copy?)",
                    task=f"tydiqa/{lang}",
                    field=r["id"],
                )
            prefix = ""
            if shot and shot["id"] != r["id"]:
                prefix = (
                    _block(shot["context"], shot["question"])
                    + " "
                    + shot["answers"][0]["text"]
                    + "\n\n"
                )
            items.append(
                Item(
                    "tydiqa",
                    lang,
                    r["id"],
                    "direct",
                    prefix + _block(r["context"], r["question"]),
                    tuple(r["answers"]),
                    "squad",
                    max_new_tokens=32,
                    stop=("\n",),
                )
            )
    return items
