import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flankit.data.collections import (
    CollectionSpec,
    find_task,
    load_collection,
    load_user_collection,
)
from flankit.data.sources import BadRows, bigbench_examples, niv2_examples, read_cot_tsv
from flankit.errors import FlankitError


def test_cot_tsv_unescapes_newlines(tmp_path):
    p = tmp_path / "aqua_train.tsv"
    p.write_text("Pick one\\nOptions:\\n(A) 1\\n(B) 2\t(B)\tOne plus one\\nis 2\n")
    (ex,) = read_cot_tsv(p, task="cot_aqua", bad=BadRows())
    assert ex.fields["question"] == "Pick one\nOptions:\n(A) 1\n(B) 2"
    assert ex.fields["rationale"] == "One plus one\nis 2" and ex.where.endswith(":1")


def test_cot_tsv_bad_rows_raise_or_are_counted(tmp_path):
    p = tmp_path / "x_train.tsv"
    p.write_text("q1\ta1\tr1\nq2\ta2\nq3\t\tr3\nq4\ta4\tr4\n")
    with pytest.raises(FlankitError) as err:
        list(read_cot_tsv(p, task="cot_x", bad=BadRows()))
    msg = str(err.value)
    assert f"{p}:2" in msg and "task cot_x" in msg and "got 2" in msg
    bad = BadRows(skip=True)
    rows = list(read_cot_tsv(p, task="cot_x", bad=bad))
    assert [r.fields["question"] for r in rows] == ["q1", "q4"]
    assert bad.counts == {"cot_x": 2}
    assert any(":3: task cot_x: field answer: empty value" in s for s in bad.samples)


def test_bigbench_multiple_choice_and_generative():
    data = {
        "description": "d",
        "examples": [
            {"input": "Is it?", "target_scores": {"Yes": 0, "No": 1}},
            {"input": "2+2", "target": ["4", "four"]},
            {"input": "", "target_scores": {"A": 1, "B": 0}},
            {"input": "x", "target": ""},
        ],
    }
    bad = BadRows(skip=True)
    rows = list(bigbench_examples(data, path="t.json", task="bb_t", bad=bad))
    assert rows[0].fields["options"] == ["Yes", "No"] and rows[0].fields["answer"] == "No"
    assert rows[1].fields["answer"] == "4" and "options" not in rows[1].fields
    assert rows[2].fields["input"] == ""  # BIG-bench allows empty inputs for multiple choice
    assert (
        bad.counts == {"bb_t": 1}
        and "t.json:#3" in bad.samples[0]
        and "field target" in bad.samples[0]
    )


def test_niv2_nan_output_is_a_counted_bad_row():
    data = {
        "Definition": ["Do it."],
        "Positive Examples": [{"input": "i", "output": "o", "explanation": "e"}],
        "Instances": [
            {"id": "1", "input": "a", "output": ["b"]},
            {"id": "2", "input": "c", "output": [float("nan")]},
        ],
    }
    bad = BadRows(skip=True)
    definition, inst, pos = niv2_examples(data, path="task1.json", task="task1", bad=bad)
    assert definition == "Do it." and len(inst) == 1 and len(pos) == 1 and bad.total == 1
    assert "field output" in bad.samples[0]


def test_invalid_json_names_file_and_line(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "broken.json").write_text('{"examples": [\n  {"input": "a",\n}')
    with pytest.raises(FlankitError) as err:
        load_collection(CollectionSpec(name="bigbench", path=str(folder)))
    assert "broken.json:3" in str(err.value) and "invalid JSON" in str(err.value)


@pytest.mark.slow
def test_real_cot_collection(shared):
    tasks = load_collection(CollectionSpec(name="cot"), shared)
    by = {t.name: t for t in tasks}
    assert set(by) == {
        f"cot_{n}" for n in ("aqua", "creak", "ecqa", "gsm8k", "qasc", "sensemaking", "strategyqa")
    }
    assert len(by["cot_gsm8k"]) == 7473 and len(by["cot_aqua"]) == 2728
    assert "\\n" not in by["cot_aqua"].examples[0].fields["question"]
    assert all(t.supports_cot and t.supports_inversion for t in tasks)


@pytest.mark.slow
def test_real_bigbench_holds_out_bbh_sources(shared):
    bad, excluded = BadRows(skip=True), {}
    tasks = load_collection(CollectionSpec(name="bigbench"), shared, bad, excluded)
    names = {t.name for t in tasks}
    assert "bb_anachronisms" in names and "bb_navigate" not in names
    assert "bb_navigate" in excluded and len(excluded) == 24
    assert bad.counts == {"bb_physics_questions": 1}
    mc = next(t for t in tasks if t.name == "bb_anachronisms")
    assert mc.has_options and mc.examples[0].fields["options"] == ["Yes", "No"]


def test_real_niv2_excludes_mmlu_task(shared):
    excluded = {}
    tasks = load_collection(CollectionSpec(name="niv2"), shared, BadRows(skip=True), excluded)
    assert "task697_mmmlu_answer_generation_formal_logic" in excluded
    assert len(tasks) == 19 and all(t.exemplars for t in tasks)


@pytest.mark.slow
def test_find_task_suggests_close_names(shared):
    assert find_task("cot_gsm8k", shared).name == "cot_gsm8k"
    with pytest.raises(FlankitError, match="did you mean cot_gsm8k"):
        find_task("cot_gsm8", shared)


def _write_user_collection(tmp_path, fmt, src_path, extra=""):
    yml = tmp_path / "coll.yaml"
    yml.write_text(f"""
name: mine
tasks:
  - name: capitals
    source: {{format: {fmt}, path: {src_path}, fields: {{question: q, answer: a, options: opts}}{extra}}}
    templates:
      - {{id: t0, inputs: "What is the capital of {{question}}?", targets: "{{answer}}"}}
      - {{id: t1, inputs: "Capital of {{question}}:", targets: "{{answer}}"}}
""")
    return yml


ROWS = [
    {"q": "France", "a": "Paris", "opts": ["Paris", "Rome"]},
    {"q": "Italy", "a": "Rome", "opts": ["Paris", "Rome"]},
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hub"])
def test_user_collection_formats(tmp_path, fmt):
    if fmt == "jsonl":
        src = tmp_path / "d.jsonl"
        src.write_text("\n".join(json.dumps(r) for r in ROWS))
    elif fmt == "csv":
        src = tmp_path / "d.csv"
        src.write_text("q,a,opts\nFrance,Paris,Paris|Rome\nItaly,Rome,Paris|Rome\n")
    elif fmt == "parquet":
        src = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_pylist(ROWS), src)
    else:  # the hub path through datasets.load_dataset, pointed at a local dataset folder
        src = tmp_path / "hubdata"
        src.mkdir()
        (src / "train.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    tasks = load_user_collection(_write_user_collection(tmp_path, fmt, src), BadRows())
    (task,) = tasks
    assert task.collection == "mine" and len(task) == 2
    assert task.examples[1].fields == {
        "question": "Italy",
        "answer": "Rome",
        "options": ["Paris", "Rome"],
    }


def test_user_collection_errors(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"q": "France", "a": ""}) + "\nnot json\n")
    with pytest.raises(FlankitError) as err:
        load_user_collection(_write_user_collection(tmp_path, "jsonl", src), BadRows())
    assert f"{src}:1: task capitals: field answer: missing or empty" == str(err.value)
    yml = tmp_path / "c2.yaml"
    yml.write_text(
        "name: x\ntasks:\n  - name: t\n    source: {format: jsonl, path: d.jsonl, fields: {answer: a}}\n    templates: [{id: a, inputs: '{nope}', targets: '{answer}'}]\n"
    )
    with pytest.raises(FlankitError, match="field nope"):
        load_user_collection(yml, BadRows())
    yml.write_text("name: x\ntaskz: []\n")
    with pytest.raises(FlankitError, match="unknown config key taskz"):
        load_user_collection(yml, BadRows())


def test_unknown_collection():
    # `muffin` is a builtin kind; any name that is no kind (and has no `path:`) is unknown.
    with pytest.raises(FlankitError, match="unknown collection 'no_such_kind'"):
        load_collection(CollectionSpec(name="no_such_kind"))
