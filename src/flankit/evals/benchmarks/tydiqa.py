"""TyDiQA-GoldP, one-shot, exact match (and F1) with SQuAD-style normalisation.

Data: the official SQuAD-format JSON (a path) or the hub dataset
`google-research-datasets/tydiqa`, config `secondary_task`, split `validation`. The one-shot
exemplar for each language comes from `tydiqa-one-shot.json` (train split); a question that is
its own exemplar is asked zero-shot. Prompt: "{context}\\n\\nQ: {question}\\n\\nA: {answer}".
Average: macro over the 8 non-English languages; English reported apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flankit.data.sources import BadRows, read_json, utf8_error
from flankit.errors import FlankitError
from flankit.evals import extract
from flankit.evals.benchmarks import Benchmark, Item, Score, Setup, no_examples

PROMPT_VERSION = "tydiqa-goldp-1shot-v1"
LANGS = ("arabic", "bengali", "finnish", "indonesian", "korean", "russian", "swahili", "telugu")
ALL_LANGS = LANGS + ("english",)


@dataclass(frozen=True)
class Options:
    dev: str | None = field(
        default=None,
        metadata={"help": "TyDiQA-GoldP dev set: a SQuAD JSON path, or 'hub' (needs network)"},
    )


def _block(context: str, question: str) -> str:
    return f"{context.strip()}\n\nQ: {question.strip()}\n\nA:"


def squad_rows(data: dict, path: str = "<dev>", bad: BadRows | None = None) -> list[dict]:
    """Questions of a SQuAD-format file; a malformed question is refused, or skipped and counted."""
    bad = bad if bad is not None else BadRows()
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise FlankitError("no 'data' list (not SQuAD format)", file=path, field="data")
    rows = []
    for a, article in enumerate(data["data"]):
        for p, para in enumerate(
            article.get("paragraphs", []) if isinstance(article, dict) else []
        ):
            for q, qa in enumerate(para.get("qas", []) if isinstance(para, dict) else []):
                where = f"{path}:data#{a}/paragraphs#{p}/qas#{q}"
                row, error = _squad_row(para, qa, where)
                if error:
                    bad.handle(error)
                    continue
                rows.append(row)
    return rows


def _squad_row(para: dict, qa, where: str) -> tuple[dict | None, FlankitError | None]:
    if not isinstance(qa, dict) or not isinstance(qa.get("id"), str) or "-" not in qa["id"]:
        return None, FlankitError("question needs an id like 'english-123'", file=where, field="id")
    task = f"tydiqa/{qa['id'].split('-', 1)[0]}"
    answers = [x.get("text") for x in qa.get("answers") or [] if isinstance(x, dict)]
    fields = {"context": para.get("context"), "question": qa.get("question"), "answers": answers}
    error = utf8_error(fields, file=where, task=task)
    if error:
        return None, error
    for name in ("context", "question"):
        if not isinstance(fields[name], str) or not fields[name].strip():
            return None, FlankitError("missing or empty", file=where, task=task, field=name)
    if not any(isinstance(x, str) and x.strip() for x in answers):
        return None, FlankitError(
            "question has no gold answer (an answer-blanked XTREME copy?)",
            file=where,
            task=task,
            field="answers",
        )
    row = {"id": qa["id"], "context": fields["context"], "question": fields["question"]}
    return {**row, "answers": [x for x in answers if isinstance(x, str)]}, None


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


def load(
    dev: str | Path | None, oneshot: Path, *, limit: int | None = None, bad: BadRows | None = None
) -> list[Item]:
    """Items from a SQuAD-format dev file (or the hub when `dev` is "hub")."""
    bad = bad if bad is not None else BadRows()
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
        rows = squad_rows(read_json(path, task="tydiqa"), str(path), bad)
        if not rows:
            raise no_examples("tydiqa", str(path), bad)
    shots = read_json(oneshot, task="tydiqa")
    by_lang: dict[str, list[dict]] = {}
    for r in rows:
        by_lang.setdefault(r["id"].split("-", 1)[0], []).append(r)
    items = []
    for lang in ALL_LANGS:
        shot = (shots.get(lang) or [None])[0]
        for r in by_lang.get(lang, [])[:limit]:
            if not r["answers"] or not any(a.strip() for a in r["answers"]):
                bad.handle(
                    FlankitError(
                        "question has no gold answer (an answer-blanked XTREME copy?)",
                        file="hub",
                        task=f"tydiqa/{lang}",
                        field=r["id"],
                    )
                )
                continue
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


def score(item: Item, output: str) -> Score:
    """Exact match and F1 against the gold answers, SQuAD-normalized."""
    em, f1 = extract.squad_em_f1(output, list(item.gold))
    return output.strip(), em == 1.0, f1


def _load(options: Options, setup: Setup) -> list[Item]:
    oneshot = setup.root / "tydiqa" / "tydiqa-one-shot.json"
    return load(options.dev, oneshot, limit=setup.limit, bad=setup.bad)


def _unavailable(options: Options) -> str | None:
    return "no GoldP dev set given (--tydiqa-dev PATH or hub)" if options.dev is None else None


BENCHMARK = Benchmark(
    "tydiqa",
    _load,
    score,
    PROMPT_VERSION,
    Options,
    modes=("direct",),
    modes_note="TyDiQA is evaluated with direct prompting only",
    unavailable=_unavailable,
    paper_columns=(("direct", "TyDiQA"),),
    reported_apart=frozenset({"english"}),
    f1=True,
)
