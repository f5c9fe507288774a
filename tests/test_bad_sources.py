"""Bad source files in every format flankit reads, training and evaluation alike: each class of
damage is refused with file, row and field (no traceback), or with --skip-bad-rows counted; a
task left with no examples is an error naming it."""

import json
import shutil
import subprocess
import sys

import pytest

from flankit.data.collections import CollectionSpec, load_collection
from flankit.data.sources import BadRows
from flankit.errors import FlankitError
from flankit.evals.runner import EvalConfig, build_items

BAD = b"caf\xe9"  # Latin-1 bytes, not UTF-8
TRAIN_TEMPLATES = """    templates:
      - {id: t0, inputs: "Q: {question}", targets: "{answer}"}
"""

# ------------------------------------------------------------------ one writer per format
# Each writes a source with three rows; `row` replaces the second (index 1) with raw bytes.


def _tsv(rows):
    return b"".join(r + b"\n" for r in rows)


def cot_tsv(d, row=None, empty=False):
    rows = [b"What is %d+1?\t%d\tadd one" % (i, i + 1) for i in range(3)]
    rows[1] = row if row is not None else rows[1]
    (d / "x_train.tsv").write_bytes(b"" if empty else _tsv(rows))
    return lambda bad: load_collection(CollectionSpec(name="cot", path=str(d)), bad=bad)


def _json_rows(rows, row, wrap):
    """JSON text with row 1 replaced by raw bytes (which may hold invalid UTF-8)."""
    text = json.dumps(wrap([*rows[:1], "@@ROW@@", *rows[2:]]))
    raw = text.encode().replace(
        b'"@@ROW@@"', row if row is not None else json.dumps(rows[1]).encode()
    )
    return raw


def bigbench(d, row=None, empty=False, data=None):
    rows = [{"input": f"word {i}", "target": f"w{i}"} for i in range(3)]
    raw = _json_rows(rows, row, lambda ex: {"description": "d", "examples": ex})
    raw = json.dumps(data).encode() if data is not None else raw
    (d / "x.json").write_bytes(b"" if empty else raw)
    return lambda bad: load_collection(CollectionSpec(name="bigbench", path=str(d)), bad=bad)


def niv2(d, row=None, empty=False, data=None):
    rows = [{"input": f"word {i}", "output": [f"w{i}"]} for i in range(3)]
    raw = _json_rows(rows, row, lambda ex: {"Definition": ["Copy."], "Instances": ex})
    raw = json.dumps(data).encode() if data is not None else raw
    (d / "task001_x.json").write_bytes(b"" if empty else raw)
    return lambda bad: load_collection(CollectionSpec(name="niv2", path=str(d)), bad=bad)


def _user(d, name, fmt):
    (d / "coll.yaml").write_text(
        f"name: mine\ntasks:\n  - name: t\n    source: {{format: {fmt}, path: {name}, "
        "fields: {question: q, answer: a}}\n" + TRAIN_TEMPLATES
    )
    return lambda bad: load_collection(
        CollectionSpec(name="mine", path=str(d / "coll.yaml")), bad=bad
    )


def user_jsonl(d, row=None, empty=False):
    rows = [json.dumps({"q": f"q{i}", "a": f"a{i}"}).encode() for i in range(3)]
    rows[1] = row if row is not None else rows[1]
    (d / "d.jsonl").write_bytes(b"" if empty else _tsv(rows))
    return _user(d, "d.jsonl", "jsonl")


def user_csv(d, row=None, empty=False):
    rows = [b"q,a"] + [b"q%d,a%d" % (i, i) for i in range(3)]
    rows[2] = row if row is not None else rows[2]
    (d / "d.csv").write_bytes(b"" if empty else _tsv(rows))
    return _user(d, "d.csv", "csv")


def _evaluate(d, **kw):
    cfg = EvalConfig(modes=kw.pop("modes", ["direct"]), data_root=str(d), **kw)
    return lambda bad: build_items(cfg, bad)[0]


def mmlu_csv(d, row=None, empty=False, origin=None):
    (d / "mmlu" / "dev").mkdir(parents=True)
    (d / "mmlu" / "val_prerelease").mkdir()
    shutil.copy(origin / "mmlu/dev/anatomy_dev.csv", d / "mmlu/dev")
    rows = [b"Which bone is %d?,femur,tibia,ulna,skull,A" % i for i in range(3)]
    rows[1] = row if row is not None else rows[1]
    (d / "mmlu/val_prerelease/anatomy_val.csv").write_bytes(b"" if empty else _tsv(rows))
    return _evaluate(d, benchmarks=["mmlu"], mmlu_subjects=["anatomy"])


def bbh_json(d, row=None, empty=False, data=None, origin=None):
    (d / "bbh" / "bbh").mkdir(parents=True)
    shutil.copytree(origin / "bbh/cot-prompts", d / "bbh/cot-prompts")
    rows = [{"input": f"Turn left {i} times.", "target": "No"} for i in range(3)]
    raw = _json_rows(rows, row, lambda ex: {"examples": ex})
    raw = json.dumps(data).encode() if data is not None else raw
    (d / "bbh/bbh/navigate.json").write_bytes(b"" if empty else raw)
    return _evaluate(d, benchmarks=["bbh"], bbh_subtasks=["navigate"])


def mgsm_tsv(d, row=None, empty=False, origin=None):
    (d / "mgsm").mkdir()
    shutil.copy(origin / "mgsm/exemplars.json", d / "mgsm")
    rows = [b"What is %d+1?\t%d" % (i, i + 1) for i in range(3)]
    rows[1] = row if row is not None else rows[1]
    (d / "mgsm/mgsm_en.tsv").write_bytes(b"" if empty else _tsv(rows))
    return _evaluate(d, benchmarks=["mgsm"], modes=["cot"], mgsm_langs=["en"])


def tydiqa_json(d, row=None, empty=False, data=None, origin=None):
    (d / "tydiqa").mkdir()
    shutil.copy(origin / "tydiqa/tydiqa-one-shot.json", d / "tydiqa")
    rows = [
        {"id": f"english-{i}", "question": f"q{i}?", "answers": [{"text": "a"}]} for i in range(3)
    ]
    raw = _json_rows(
        rows, row, lambda qas: {"data": [{"paragraphs": [{"context": "a b", "qas": qas}]}]}
    )
    raw = json.dumps(data).encode() if data is not None else raw
    (d / "dev.json").write_bytes(b"" if empty else raw)
    return _evaluate(d, benchmarks=["tydiqa"], tydiqa_dev=str(d / "dev.json"))


# ------------------------------------------------------------------ the cases
# (writer, how to break it, the error's text, the task a skipped row is counted under, or None
# when no skipping can help: the file holds nothing to use)
J = '{"input": "%s", "target": "w"}'
CASES = [
    (
        cot_tsv,
        {"row": b"What is " + BAD + b"?\t2\tadd"},
        r"x_train.tsv:2: task cot_x: field question: invalid UTF-8",
        "cot_x",
    ),
    (
        cot_tsv,
        {"row": b"\t2\tadd"},
        r"x_train.tsv:2: task cot_x: field question: empty value",
        "cot_x",
    ),
    (cot_tsv, {"empty": True}, r"x_train.tsv: task cot_x: no examples", None),
    (
        bigbench,
        {"row": b'{"input": "' + BAD + b'", "target": "w"}'},
        r"x.json:#1: task bb_x: field input: invalid UTF-8",
        "bb_x",
    ),
    # Valid UTF-8 bytes, but a JSON escape that parses to a lone surrogate: still refused.
    (
        bigbench,
        {"row": b'{"input": "caf\\udce9", "target": "w"}'},
        r"x.json:#1: task bb_x: field input: invalid UTF-8",
        "bb_x",
    ),
    (
        bigbench,
        {"row": b'{"input": "q", "target_scores": {"\\ud800": 1, "b": 0}}'},
        r"x.json:#1: task bb_x: field target_scores: invalid UTF-8",
        "bb_x",
    ),
    (
        bigbench,
        {"row": b'{"input": "", "target": "w"}'},
        r"x.json:#1: task bb_x: field input: missing or empty",
        "bb_x",
    ),
    (bigbench, {"empty": True}, r"x.json: task bb_x: empty file", None),
    (
        bigbench,
        {"data": {"description": "no examples key"}},
        r"x.json: task bb_x: field examples: no 'examples' list",
        None,
    ),
    (bigbench, {"data": {"examples": []}}, r"x.json: task bb_x: no examples", None),
    (
        niv2,
        {"row": b'{"input": "' + BAD + b'", "output": ["w"]}'},
        r"task001_x.json:Instances#1: task task001_x: field input: invalid UTF-8",
        "task001_x",
    ),
    (
        niv2,
        {"row": b'{"input": " ", "output": ["w"]}'},
        r"task001_x.json:Instances#1: task task001_x: field input: missing",
        "task001_x",
    ),
    (niv2, {"empty": True}, r"task001_x.json: task task001_x: empty file", None),
    (
        niv2,
        {"data": {"Definition": ["Copy."], "Instances": []}},
        r"task001_x.json: task task001_x: no examples",
        None,
    ),
    (
        user_jsonl,
        {"row": b'{"q": "' + BAD + b'", "a": "x"}'},
        r"d.jsonl:2: task t: field question: invalid UTF-8",
        "t",
    ),
    (
        user_jsonl,
        {"row": b'{"q": "", "a": "x"}'},
        r"d.jsonl:2: task t: field question: missing or empty",
        "t",
    ),
    (user_jsonl, {"empty": True}, r"task t: no examples", None),
    (user_csv, {"row": BAD + b",x"}, r"d.csv:3: task t: field question: invalid UTF-8", "t"),
    (user_csv, {"row": b",x"}, r"d.csv:3: task t: field question: missing or empty", "t"),
    (user_csv, {"empty": True}, r"task t: no examples", None),
    (
        mmlu_csv,
        {"row": b"Which " + BAD + b"?,a,b,c,d,B"},
        r"anatomy_val.csv:2: task mmlu/anatomy: field question: invalid UTF-8",
        "mmlu/anatomy",
    ),
    (
        mmlu_csv,
        {"row": b",a,b,c,d,B"},
        r"anatomy_val.csv:2: task mmlu/anatomy: field question: empty value",
        "mmlu/anatomy",
    ),
    (
        mmlu_csv,
        {"row": b"Which?,a,b,c,d,E"},
        r"anatomy_val.csv:2: task mmlu/anatomy: field answer: answer 'E' is not",
        "mmlu/anatomy",
    ),
    (mmlu_csv, {"empty": True}, r"anatomy_val.csv: task mmlu/anatomy: no examples", None),
    (
        bbh_json,
        {"row": b'{"input": "' + BAD + b'", "target": "No"}'},
        r"navigate.json:#1: task bbh/navigate: field input: invalid UTF-8",
        "bbh/navigate",
    ),
    (
        bbh_json,
        {"row": b'{"input": "", "target": "No"}'},
        r"navigate.json:#1: task bbh/navigate: field input: missing or empty",
        "bbh/navigate",
    ),
    (bbh_json, {"empty": True}, r"navigate.json: task bbh/navigate: empty file", None),
    (
        bbh_json,
        {"data": {"canary": "x"}},
        r"navigate.json: task bbh/navigate: field examples: no 'examples' list",
        None,
    ),
    (bbh_json, {"data": {"examples": []}}, r"navigate.json: task bbh/navigate: no examples", None),
    (
        mgsm_tsv,
        {"row": b"What is " + BAD + b"?\t3"},
        r"mgsm_en.tsv:2: task mgsm/en: field question: invalid UTF-8",
        "mgsm/en",
    ),
    (
        mgsm_tsv,
        {"row": b"What is it?\tforty"},
        r"mgsm_en.tsv:2: task mgsm/en: field answer: gold answer 'forty' is not a number",
        "mgsm/en",
    ),
    (
        mgsm_tsv,
        {"row": b"\t3"},
        r"mgsm_en.tsv:2: task mgsm/en: field question: empty value",
        "mgsm/en",
    ),
    (mgsm_tsv, {"empty": True}, r"mgsm_en.tsv: task mgsm/en: no examples", None),
    (
        tydiqa_json,
        {"row": b'{"id": "english-1", "question": "' + BAD + b'", "answers": [{"text": "a"}]}'},
        r"dev.json:data#0/paragraphs#0/qas#1: task tydiqa/english: field question: invalid UTF-8",
        "tydiqa/english",
    ),
    (
        tydiqa_json,
        {"row": b'{"id": "english-1", "question": "", "answers": [{"text": "a"}]}'},
        r"qas#1: task tydiqa/english: field question: missing or empty",
        "tydiqa/english",
    ),
    (
        tydiqa_json,
        {"row": b'{"id": "english-1", "question": "q", "answers": []}'},
        r"qas#1: task tydiqa/english: field answers: question has no gold answer",
        "tydiqa/english",
    ),
    (tydiqa_json, {"empty": True}, r"dev.json: task tydiqa: empty file", None),
    (tydiqa_json, {"data": {"data": []}}, r"dev.json: task tydiqa: no examples", None),
]
EVAL = {mmlu_csv, bbh_json, mgsm_tsv, tydiqa_json}


def _make(writer, how, tmp_path, origin):
    d = tmp_path / "src"
    d.mkdir()
    return writer(d, **how, **({"origin": origin} if writer in EVAL else {}))


@pytest.mark.parametrize(
    "writer, how, message, counted",
    CASES,
    ids=[f"{c[0].__name__}-{next(iter(c[1]))}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_source_is_refused_with_its_place_or_counted(
    tmp_path, fixture_data, writer, how, message, counted
):
    load = _make(writer, how, tmp_path, fixture_data)
    with pytest.raises(FlankitError, match=message):
        load(BadRows())
    skipping = BadRows(skip=True)
    if counted is None:  # nothing in the file to use: skipping cannot help
        with pytest.raises(FlankitError, match=message):
            load(skipping)
        return
    loaded = load(skipping)
    assert skipping.counts == {counted: 1}
    assert (
        len(skipping.samples) == 1
        and message.split(": ", 1)[-1].split(":")[0] in skipping.samples[0]
    )
    # The other two rows are kept: a training task with 2 examples, or 2 evaluation items.
    n = sum(len(t.examples) for t in loaded) if writer not in EVAL else len(loaded)
    assert n == 2


def test_a_task_whose_every_row_is_bad_is_an_error_naming_it(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "x_train.tsv").write_bytes(b"\tno question\tr\n" + BAD + b"\t1\tr\n")
    with pytest.raises(FlankitError, match=r"task cot_x: no examples: all 2 rows were bad"):
        load_collection(CollectionSpec(name="cot", path=str(d)), bad=BadRows(skip=True))


@pytest.mark.slow
def test_the_commands_say_it_in_one_line_without_a_traceback(tmp_path, fixture_data):
    d = tmp_path / "src"
    d.mkdir()
    cot_tsv(d, row=b"What is " + BAD + b"?\t2\tadd")
    cfg = tmp_path / "data.yaml"
    cfg.write_text(f"collections: [{{name: cot, path: {d}}}]\n")
    cmd = [sys.executable, "-m", "flankit.cli"]
    build = subprocess.run(
        [*cmd, "data", "build", str(cfg), "--out", str(tmp_path / "o"), "-q"],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 2 and "Traceback" not in build.stderr
    assert build.stderr.strip().endswith(
        "x_train.tsv:2: task cot_x: field question: invalid UTF-8 bytes (re-save the file as UTF-8)"
    )
    mgsm_tsv(d, row=b"What is it?\tforty", origin=fixture_data)
    ev = subprocess.run(
        [
            *cmd,
            "eval",
            "--model",
            str(tmp_path / "none"),
            "--benchmarks",
            "mgsm",
            "--modes",
            "cot",
            "--mgsm-langs",
            "en",
            "--data-root",
            str(d),
            "--out",
            str(tmp_path / "e"),
        ],
        capture_output=True,
        text=True,
    )
    assert ev.returncode == 2 and "Traceback" not in ev.stderr
    assert (
        "mgsm_en.tsv:2: task mgsm/en: field answer: gold answer 'forty' is not a number"
        in ev.stderr
    )
