"""The published pre-rendered submixes: both layouts, filters, bad rows, the recipe's build."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from flankit.data.collections import CollectionSpec, load_collection
from flankit.data.flan2022 import submix
from flankit.data.sources import BadRows
from flankit.errors import FlankitError

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "data" / "flan2022_submix.yaml"
KINDS = {
    "flan2021_submix": "Flan2021",
    "t0_submix": "P3",
    "niv2_submix": "NIv2",
    "cot_submix": "CoT",
    "dialog_submix": "Dialog",
}


@pytest.fixture()
def sample(shared) -> Path:
    return shared / "flan2022" / "submix_sample.jsonl"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _parquet(path: Path, rows: list[dict], row_group_size: int = 4) -> Path:
    table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in submix.COLUMNS]))
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def _by_task(tasks) -> dict[str, list[tuple[str, str, str]]]:
    return {
        t.name: [(e.fields["inputs"], e.fields["targets"], e.fields["format"]) for e in t.examples]
        for t in tasks
    }


def _expected(rows: list[dict], source: str) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list] = {}
    for r in rows:
        if r["task_source"] == source:
            fmt = r["template_type"].replace("_", "")
            out.setdefault(r["task_name"], []).append((r["inputs"], r["targets"], fmt))
    return out


@pytest.mark.parametrize("layout", ["jsonl", "parquet"])
def test_each_submix_kind_keeps_its_source_rows_byte_equal(sample, tmp_path, layout):
    rows = _rows(sample)
    path = sample if layout == "jsonl" else _parquet(tmp_path / "all.parquet", rows)
    seen = 0
    for kind, source in KINDS.items():
        tasks = load_collection(CollectionSpec(name=kind, path=str(path)), bad=BadRows())
        assert _by_task(tasks) == _expected(rows, source)
        assert all(t.collection == kind and t.meta["task_source"] == source for t in tasks)
        seen += sum(len(t) for t in tasks)
    assert seen == len(rows)


def test_filters_by_template_type_task_source_and_task(sample):
    rows = _rows(sample)
    spec = CollectionSpec(
        name="flan_submix",
        path=str(sample),
        formats={"zsnoopt": 1.0},
        task_sources=["Flan2021", "CoT"],
    )
    got = _by_task(load_collection(spec, bad=BadRows()))
    want = {
        r["task_name"]
        for r in rows
        if r["template_type"] == "zs_noopt" and r["task_source"] in ("Flan2021", "CoT")
    }
    assert set(got) == want and want
    spec = CollectionSpec(name="cot_submix", path=str(sample), tasks=["cot_*"], exclude=["*_ii"])
    assert sorted(_by_task(load_collection(spec, bad=BadRows()))) == ["cot_creak", "cot_gsm8k"]


def test_sirneural_jsonl_gz_takes_type_and_source_from_the_file_name(tmp_path):
    folder = tmp_path / "flan_v2"
    folder.mkdir()
    with gzip.open(folder / "cot_fs_noopt_train.jsonl.gz", "wt") as handle:
        for i in range(3):
            handle.write(json.dumps({"input": f"Q{i}?", "target": f"A{i}", "task": "cot_esnli"}))
            handle.write("\n")
    rows = submix.read(folder, submix.Filters())
    ((name, examples),) = rows.tasks().items()
    assert name == "cot_esnli" and rows.task_source[name] == "CoT"
    assert [(e.fields["inputs"], e.fields["format"]) for e in examples] == [
        ("Q0?", "fsnoopt"),
        ("Q1?", "fsnoopt"),
        ("Q2?", "fsnoopt"),
    ]
    assert examples[2].where.endswith("cot_fs_noopt_train.jsonl.gz:row 3")


def test_spilled_rows_survive_pickling_and_slicing(sample):
    import pickle

    rows = submix.read(sample, submix.Filters(task_sources=frozenset({"CoT"})))
    examples = rows.tasks()["cot_gsm8k"]
    again = pickle.loads(pickle.dumps(examples))
    assert [e.fields for e in again] == [e.fields for e in examples]
    assert [e.fields for e in examples[1:]] == [examples[1].fields]


@pytest.mark.parametrize("layout", ["jsonl", "parquet"])
def test_unknown_template_type_names_file_row_and_field(sample, tmp_path, layout):
    rows = _rows(sample)
    rows[5] = {**rows[5], "template_type": "zs_cot"}
    if layout == "jsonl":
        path = tmp_path / "bad.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path = _parquet(tmp_path / "bad.parquet", rows)
    with pytest.raises(FlankitError) as err:
        submix.read(path, submix.Filters())
    text = str(err.value)
    assert f"{path}:6" in text and "template_type" in text and "'zs_cot'" in text
    assert rows[5]["task_name"] in text
    bad = BadRows(skip=True)
    kept = submix.read(path, submix.Filters(), bad)
    assert bad.counts == {rows[5]["task_name"]: 1}
    assert sum(len(v) for v in kept.by_task.values()) == len(rows) - 1


def test_missing_field_and_missing_column(sample, tmp_path):
    rows = _rows(sample)
    broken = dict(rows[2])
    del broken["targets"]
    path = tmp_path / "missing.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [rows[0], rows[1], broken]))
    with pytest.raises(FlankitError) as err:
        submix.read(path, submix.Filters())
    assert f"{path}:3" in str(err.value) and "'targets'" in str(err.value)
    bad = BadRows(skip=True)
    submix.read(path, submix.Filters(), bad)
    assert bad.total == 1
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "task_source"} for r in rows])
    pq.write_table(table, tmp_path / "nocol.parquet")
    with pytest.raises(FlankitError, match="no column 'task_source'"):
        submix.read(tmp_path / "nocol.parquet", submix.Filters())


def test_unknown_filter_value_is_refused():
    with pytest.raises(FlankitError, match="unknown template_type 'zs'"):
        submix.Filters(template_types=frozenset({"zs"}))


def _recipe(tmp_path: Path, sample: Path, **changes) -> Path:
    cfg = yaml.safe_load(RECIPE.read_text())
    for entry in cfg["collections"]:
        entry["path"] = str(sample)
    cfg["mixture"]["num_examples"] = 400
    cfg["features"] = {}
    cfg["num_proc"] = 1
    cfg.update(changes)
    path = tmp_path / "flan2022_submix.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_recipe_builds_at_the_flan2022_rates_and_decontaminates(sample, tmp_path, shared):
    from flankit.cli import main

    rows = _rows(sample)
    # An evaluation file that holds one CoT row's question: that row must be dropped.
    evals = tmp_path / "evals"
    evals.mkdir()
    gsm = next(r for r in rows if r["task_name"] == "cot_gsm8k")
    (evals / "task.json").write_text(json.dumps({"examples": [{"input": gsm["inputs"]}]}))
    path = _recipe(tmp_path, sample, decontaminate={"eval_paths": [str(evals)], "ngram": 13})
    out = tmp_path / "out"
    assert main(["data", "build", str(path), "--out", str(out), "-q"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    rates = {k: round(v["rate"], 3) for k, v in stats["collections"].items()}
    assert rates == {
        "flan2021_submix": 0.40,
        "t0_submix": 0.32,
        "niv2_submix": 0.20,
        "cot_submix": 0.05,
        "dialog_submix": 0.03,
    }
    holding = [r for r in rows if gsm["inputs"].split("?")[0] in r["inputs"]]  # zs and fs rows
    removed = {t["task"]: t["decontaminated"] for t in stats["tasks"] if t["decontaminated"]}
    assert removed == {"cot_gsm8k": len(holding)} and stats["decontaminated_total"] == len(holding)
    written = pq.read_table(out / "data").to_pylist()  # the recipe writes parquet
    published = {(r["inputs"], r["targets"]) for r in rows}
    assert len(written) == 400
    assert all((w["inputs"], w["targets"]) in published for w in written)
    assert gsm["inputs"] not in {w["inputs"] for w in written}


@pytest.mark.slow
def test_recipe_trains(sample, tmp_path):
    from flankit.cli import main

    data = yaml.safe_load(_recipe(tmp_path, sample).read_text())
    data.pop("num_proc")
    data.pop("output", None)
    data.pop("skip_bad_rows", None)
    data["features"] = {"input_length": 128, "target_length": 64}
    cfg = {
        "data": data,
        "model": {"shape": "t5-tiny", "tokenizer": "byt5"},
        "optim": {"name": "adafactor", "lr": 1.0e-3},
        "steps": 2,
        "batch_size": 2,
        "eval_every": 1000,
        "save_every": 1000,
        "chunk_examples": 64,
        "out_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "-q"]) == 0
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()
    shutil.rmtree(tmp_path / "run")


@pytest.mark.parametrize("layout", ["jsonl", "parquet"])
def test_task_names_without_reading_the_texts(sample, tmp_path, layout):
    from flankit.data.collections import kind_module

    rows = _rows(sample)
    path = sample if layout == "jsonl" else _parquet(tmp_path / "all.parquet", rows)
    spec = CollectionSpec(name="cot_submix", path=str(path), exclude=["*_ii"])
    want = sorted(
        {r["task_name"] for r in rows if r["task_source"] == "CoT"} - {"cot_strategyqa_ii"}
    )
    assert kind_module(spec).names(spec, tmp_path) == want


@pytest.mark.parametrize("statistics", [True, False])
def test_parquet_texts_are_read_at_render_time_byte_equal(sample, tmp_path, statistics):
    import pickle

    rows = _rows(sample)
    table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in submix.COLUMNS]))
    path = tmp_path / "s.parquet"
    pq.write_table(table, path, row_group_size=3, write_statistics=statistics)
    read = submix.read(path, submix.Filters(task_sources=frozenset({"NIv2", "CoT"})))
    assert read.inputs is None and read.targets is None  # no texts copied by the read
    got = {
        t: [(e.fields["inputs"], e.fields["targets"]) for e in ex] for t, ex in read.tasks().items()
    }
    want: dict[str, list] = {}
    for r in rows:
        if r["task_source"] in ("NIv2", "CoT"):
            want.setdefault(r["task_name"], []).append((r["inputs"], r["targets"]))
    assert got == want and read.inputs is not None
    again = submix.read(path, submix.Filters(task_sources=frozenset({"CoT"})))
    name = sorted(again.by_task)[0]
    unpickled = pickle.loads(pickle.dumps(again.tasks()[name]))  # the texts travel, read once
    assert unpickled.rows.inputs is not None
    assert [e.fields for e in unpickled] == [e.fields for e in again.tasks()[name]]


@pytest.mark.parametrize("statistics", [True, False])
def test_parquet_empty_inputs_is_found_with_or_without_statistics(sample, tmp_path, statistics):
    rows = _rows(sample)
    rows[7] = {**rows[7], "inputs": ""}
    rows[9] = {**rows[9], "targets": None}
    table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in submix.COLUMNS]))
    path = tmp_path / "empty.parquet"
    pq.write_table(table, path, row_group_size=4, write_statistics=statistics)
    with pytest.raises(FlankitError) as err:
        submix.read(path, submix.Filters())
    assert f"{path}:8" in str(err.value) and "'inputs'" in str(err.value)
    bad = BadRows(skip=True)
    kept = submix.read(path, submix.Filters(), bad)
    assert bad.total == 2 and sum(len(v) for v in kept.by_task.values()) == len(rows) - 2
    texts = {e.fields["inputs"] for ex in kept.tasks().values() for e in ex}
    assert "" not in texts and rows[9]["inputs"] not in texts


def test_parquet_recipe_build_is_the_same_with_one_or_two_processes(sample, tmp_path, monkeypatch):
    import tempfile

    from flankit.cli import main

    rows = _rows(sample)
    parquet = _parquet(tmp_path / "all.parquet", rows, row_group_size=5)
    evals = tmp_path / "evals"
    evals.mkdir()
    gsm = next(r for r in rows if r["task_name"] == "cot_gsm8k")
    (evals / "task.json").write_text(json.dumps({"examples": [{"input": gsm["inputs"]}]}))
    written, removed = [], []
    for procs in (1, 2):
        # The decontamination check is shared by the processes: the texts it reads are read
        # once, before they fork, so each collection leaves its two spills (inputs, targets).
        spills = tmp_path / f"spill{procs}"
        spills.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(spills))
        monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / f"cache{procs}"))  # a first build
        path = _recipe(
            tmp_path, parquet, num_proc=procs, decontaminate={"eval_paths": [str(evals)]}
        )
        out = tmp_path / f"out{procs}"
        assert main(["data", "build", str(path), "--out", str(out), "-q"]) == 0
        written.append(pq.read_table(out / "data").to_pylist())
        removed.append(json.loads((out / "stats.json").read_text())["decontaminated_total"])
        assert len(list(spills.glob("flankit-submix-*"))) == 2 * 5
    assert written[0] == written[1] and len(written[0]) == 400
    assert removed[0] == removed[1] >= 1


@pytest.mark.parametrize("batch_rows", [2, 5, 8192])
def test_parquet_kept_rows_in_scattered_row_groups_read_back_in_order(
    sample, tmp_path, monkeypatch, batch_rows
):
    # Kept rows sit in a few non-adjacent row groups; batches smaller than, or spanning, row
    # groups; a task seen under two sources takes the source of its first kept row.
    monkeypatch.setattr(submix, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(submix, "LABEL_BATCH_ROWS", batch_rows)  # several groups per batch, too
    wanted = {"NIv2", "CoT"}
    sample_rows = sorted(_rows(sample), key=lambda r: r["task_source"] in wanted)
    rows = [{**r, "inputs": f"{r['inputs']} ({copy})"} for copy in range(3) for r in sample_rows]
    cot = next(r for r in rows if r["task_source"] == "CoT" and not r["task_name"].endswith("_ii"))
    rows.insert(7, {**cot, "task_source": "NIv2", "template_type": "fs_opt"})
    path = _parquet(tmp_path / "s.parquet", rows, row_group_size=3)
    filters = submix.Filters(task_sources=frozenset(wanted), exclude=("*_ii",))
    read = submix.read(path, filters)
    want: dict[str, list] = {}
    source: dict[str, str] = {}
    for i, r in enumerate(rows):
        if r["task_source"] in wanted and not r["task_name"].endswith("_ii"):
            fmt = r["template_type"].replace("_", "")
            want.setdefault(r["task_name"], []).append(
                (r["inputs"], r["targets"], fmt, f"{path}:row {i + 1}")
            )
            source.setdefault(r["task_name"], r["task_source"])
    got = {
        name: [(*(e.fields[k] for k in ("inputs", "targets", "format")), e.where) for e in ex]
        for name, ex in read.tasks().items()
    }
    assert list(got) == list(want) and got == want  # tasks in order of their first row
    assert read.task_source == source and list(read.task_source) == list(source)
    assert read.task_source[cot["task_name"]] == "NIv2"
    kept_groups = {i // 3 for i, r in enumerate(rows) if r["task_source"] in wanted}
    assert len(kept_groups) < len(rows) // 3 and max(kept_groups) - min(kept_groups) > 3


@pytest.mark.parametrize("batch_rows", [2, 5, 8192])
def test_texts_read_alongside_the_labels_equal_those_read_later(
    sample, tmp_path, monkeypatch, batch_rows
):
    # Scattered kept rows, groups whose texts must be decoded in the label pass (an empty
    # input, no statistics in one file), two files: the same spills and examples either way.
    monkeypatch.setattr(submix, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(submix, "LABEL_BATCH_ROWS", batch_rows * 3)
    rows = [{**r, "inputs": f"{r['inputs']} ({copy})"} for copy in range(3) for r in _rows(sample)]
    rows[10] = {**rows[10], "inputs": ""}
    folder = tmp_path / "parts"
    folder.mkdir()
    _parquet(folder / "a.parquet", rows[:40], row_group_size=3)
    table = pa.Table.from_pylist(
        rows[40:], schema=pa.schema([(c, pa.string()) for c in submix.COLUMNS])
    )
    pq.write_table(table, folder / "b.parquet", row_group_size=4, write_statistics=False)
    filters = submix.Filters(task_sources=frozenset({"NIv2", "CoT", "P3"}))
    later = submix.read(folder, filters, BadRows(skip=True))
    now = submix.read(folder, filters, BadRows(skip=True), texts=True)
    assert later.inputs is None and now.inputs is not None
    later.prepare()
    for a, b in ((later.inputs, now.inputs), (later.targets, now.targets)):
        assert open(a.path, "rb").read() == open(b.path, "rb").read()
        assert a.ends.tolist() == b.ends.tolist()

    def fields(read):
        return {n: [(e.fields, e.where) for e in ex] for n, ex in read.tasks().items()}

    assert fields(now) == fields(later) and len(now.origin) > 20
