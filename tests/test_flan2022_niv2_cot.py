"""Flan 2022 NIV2, CoT and Dialog: golden renderings against FLAN's patterns filled by hand.

Each expected string below is FLAN's pattern text (flan/v2/templates.py), written out here and
filled with the same row read straight from the fixture file.
"""

import json
import random
import shutil
import sys
import types
from pathlib import Path

import pytest

from flankit.data.collections import KINDS, CollectionSpec, kind_module, load_collection
from flankit.data.flan2022 import cot, dialog, niv2
from flankit.data.flan2022.patterns import Shot, few_shot_patterns, mix_prompt, x_shot_prompt
from flankit.data.mixtures import PRESETS, Mixture
from flankit.data.sources import BadRows
from flankit.data.tasks import Variant, render_example
from flankit.errors import FlankitError, FlankitWarning

FIX = Path(__file__).parent / "fixtures" / "flan2022"
NIV2 = FIX / "niv2"
ARITH = "task085_unnatural_addsub_arithmetic"
CSQA = "task073_commonsenseqa_answer_generation"
CATALOG_KEYS = {"collection", "task", "source", "templates", "mixing_size", "present", "status"}


def raw_task(name):
    data = json.loads((NIV2 / "tasks" / f"{name}.json").read_text(encoding="utf-8"))
    insts = [(i["input"], i["output"][0]) for i in data["Instances"]]
    return data["Definition"][0], insts, data["Positive Examples"]


def tsv_rows(name):
    rows = []
    for line in (FIX / "cot" / f"{name}_train.tsv").read_text(encoding="utf-8").splitlines():
        q, a, c = line.split("\t")
        rows.append((q.replace("\\n", "\n"), a, c.replace("\\n", "\n")))
    return rows


# --- NIV2 ---------------------------------------------------------------------------------------


def test_niv2_zero_shot_rows_are_flan_patterns_round_robin():
    definition, insts, _ = raw_task(ARITH)
    rows = list(niv2.render_rows(niv2.read_task(NIV2 / "tasks" / f"{ARITH}.json")))
    (i0, o0), (i1, o1), (i2, o2) = insts
    assert rows[0]["inputs"] == f"{definition}\n\n{i0}"
    assert rows[1]["inputs"] == (
        "You will be given a definition of a task first, then some input of the task.\n"
        f"{definition}\n\n{i1}\nOutput:"
    )
    assert rows[2]["inputs"] == f"Definition: {definition}\nInput: {i2}\nOutput:"
    assert [r["targets"] for r in rows] == [o0, o1, o2]
    assert {(r["task_source"], r["task_name"], r["template_type"]) for r in rows} == {
        ("NIv2", ARITH, "zs_opt")
    }
    noopt = list(niv2.render_rows(niv2.read_task(NIV2 / "tasks" / f"{ARITH}.json"), "zs_noopt"))
    assert [r["inputs"] for r in noopt] == [r["inputs"] for r in rows]


def test_niv2_second_task_zero_shot_and_inline_positive_example():
    definition, insts, positives = raw_task(CSQA)
    task = niv2.read_task(NIV2 / "tasks" / f"{CSQA}.json")
    inp, out = insts[0]
    fields = task.instances[0]
    assert niv2.render_zero_shot(fields, 3, task=CSQA) == (
        f"Instructions: {definition}\nInput: {inp}\nOutput:",
        out,
    )
    assert niv2.render_zero_shot(fields, 4, task=CSQA) == (f"{definition}\nQ: {inp}\nA: ", out)
    p = positives[0]
    assert niv2.render_inline(fields, task.positives[0], 0, task=CSQA) == (
        "You will be given a definition of a task first, then an example. Follow the example to "
        f"solve a new instance of the task.\n{definition}\n\n{p['input']}\nSolution: "
        f"{p['output']}\nWhy? {p['explanation']}\n\nNew input: {inp}\nSolution:",
        out,
    )


def test_niv2_x_shot_two_positive_examples_before_the_input():
    definition, insts, positives = raw_task(ARITH)
    task = niv2.read_task(NIV2 / "tasks" / f"{ARITH}.json")
    inp, out = insts[1]
    p0, p1 = positives[0], positives[1]
    inputs, targets = niv2.render_x_shot(task.instances[1], task.positives[:2], 1, task=ARITH)
    # FEWSHOT_PATTERNS["natinst_v2"][1]: "Ex Input:\n" {input} "\n\n" "Ex Output:\n" {output}
    # "\n\n\n", under the input pattern "{{Definition}}\n\n{{inputs}}{final_suffix}".
    shot = "Ex Input:\n{}\n\nEx Output:\n{}\n\n\n"
    assert inputs == (
        f"{definition}\n\n"
        + shot.format(p0["input"], p0["output"])
        + shot.format(p1["input"], p1["output"])
        + f"Ex Input:\n{inp}\n\nEx Output:\n"
    )
    assert targets == f"{out}\n\n\n"


def test_niv2_flan_choice_leaves_out_mmlu_and_official_split_is_an_option():
    assert niv2.is_mmlu_derived("task697_mmmlu_answer_generation_formal_logic")
    assert niv2.is_mmlu_derived("task664_mmmlu_answer_generation_abstract_algebra")
    assert not niv2.is_mmlu_derived("task663_x") and not niv2.is_mmlu_derived("task738_x")
    assert sorted(niv2.task_paths(NIV2)) == [CSQA, ARITH]
    assert list(niv2.task_paths(NIV2, "test")) == [ARITH]
    assert list(niv2.task_paths(NIV2, "train")) == [
        CSQA,
        "task697_mmmlu_answer_generation_formal_logic",
    ]
    spec = CollectionSpec(name="flan_niv2", path=str(NIV2), selection="test")
    assert [t.name for t in load_collection(spec)] == [ARITH]
    with pytest.raises(FlankitError, match="no official train split"):
        niv2.task_paths(NIV2 / "tasks", "train")


def test_niv2_malformed_instance_names_file_task_index_and_field(tmp_path):
    data = json.loads((NIV2 / "tasks" / f"{ARITH}.json").read_text(encoding="utf-8"))
    data["Instances"][1]["output"] = []
    path = tmp_path / f"{ARITH}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(FlankitError) as err:
        niv2.read_task(path)
    text = str(err.value)
    assert str(path) in text and ARITH in text and "Instances #1" in text and "output" in text
    bad = BadRows(skip=True)
    assert len(niv2.read_task(path, bad=bad).instances) == 2 and bad.counts == {ARITH: 1}


def test_flan_niv2_kind_renders_flan_text_through_the_mixture():
    spec = CollectionSpec(name="flan_niv2", path=str(NIV2))
    tasks = load_collection(spec)
    assert [t.name for t in tasks] == [CSQA, ARITH]
    definition, insts, _ = raw_task(ARITH)
    seen = set()
    for fmt in ("zsopt", "fsopt"):
        for i in range(3):
            r = render_example(tasks[1], i, Variant(fmt), seed=i)
            assert r.task == ARITH and r.collection == "flan_niv2"
            assert definition in r.inputs and insts[i][0] in r.inputs
            assert r.targets in (insts[i][1], f"Output: {insts[i][1]}")  # x_shot pattern 2
            seen.add(r.template.rsplit("_", 1)[0])
    assert "natinst_v2" in seen
    mix = Mixture([(spec, tasks)], preset="flan2022")
    assert mix.collection_rates == {"flan_niv2": 1.0}
    rows = kind_module(spec).catalog(spec, Path("."))
    assert all(set(r) == CATALOG_KEYS for r in rows) and len(rows) == 3
    assert [r["status"].split(":")[0] for r in rows] == ["ok", "ok", "excluded"]


# --- CoT ----------------------------------------------------------------------------------------


def test_cot_gsm8k_zero_shot_and_inversion_are_flan_patterns():
    (q0, a0, c0), (q1, a1, c1), _ = tsv_rows("gsm8k")
    data = cot.read_tsv(FIX / "cot" / "gsm8k_train.tsv", task="cot_gsm8k")
    ds = cot.BY_TASK["cot_gsm8k"]
    fwd = list(cot.render_rows(ds, data))
    assert fwd[0]["inputs"] == f"{q0} Let's think first. Chain of thought:"
    assert fwd[0]["targets"] == f"{c0}\nTherefore, the answer is {a0}."
    assert fwd[1]["inputs"] == f"{q1} Think carefully first, then make a decision:"
    assert fwd[1]["targets"] == f"{c1} So, the answer is {a1}."
    inv = list(cot.render_rows(ds, data, inverted=True))
    assert inv[0]["inputs"] == (
        f"Given the following reasoning and answer, what was the question? {c0}\n The answer: {a0}"
    )
    assert inv[0]["targets"] == f"The question {q0}"
    assert inv[1]["inputs"] == (
        f"For this chain-of-thought reasoning and answer, what was the question?\n{c1}\n A: {a1}"
    )
    assert inv[1]["targets"] == f"Q: {q1}"
    assert {r["task_name"] for r in inv} == {"cot_gsm8k_ii"}
    assert {r["task_source"] for r in fwd + inv} == {"CoT"}


def test_cot_stream_aqua_unescapes_newlines_and_uses_stream_patterns():
    (q0, a0, c0), *_ = tsv_rows("aqua")
    assert "\n" in q0 and "\\n" not in q0
    data = cot.read_tsv(FIX / "cot" / "aqua_train.tsv", task="stream_aqua")
    row = next(cot.render_rows(cot.BY_TASK["stream_aqua"], data))
    assert row["inputs"] == f"Q: {q0} Let's give some random thoughts before answering."
    assert row["targets"] == f"{c0}\nTherefore, the answer is {a0}."
    assert row["task_name"] == "stream_aqua"
    inv = next(cot.render_rows(cot.BY_TASK["stream_aqua"], data, inverted=True))
    assert inv["task_name"] == "stream_aqua_ii" and inv["targets"] == f"The question {q0}"


def test_cot_few_shot_prompts_follow_flan_mix_and_x_shot():
    rows = cot.read_tsv(FIX / "cot" / "gsm8k_train.tsv", task="cot_gsm8k")
    (q0, a0, c0), (q1, a1, c1), (q2, a2, c2) = tsv_rows("gsm8k")
    patterns = few_shot_patterns("cot_gsm8k")
    # in_template_mix: patterns 1 ("Q: "/"A: "), 5 ("Question: "/"Answer: "), 9 ("[Question]")
    inputs, targets, n = mix_prompt(
        patterns, Shot(rows[0], 0), [Shot(rows[1], 1), Shot(rows[2], 2)], "\n\n"
    )
    assert inputs == (
        f"Question: {q1}\nAnswer: {c1} The answer is {a1}.\n\n"
        f"[Question]{q2}\n[Answer]{c2} The answer is {a2}.\n\n"
        f"Q: {q0}\nA:"
    )
    assert (targets, n) == (f"{c0} The answer is {a0}.", 2)
    # x_shot keeps only exemplars rendered with the query's own template (here pattern 1).
    inputs, targets, n = x_shot_prompt(
        patterns, Shot(rows[0], 1), [Shot(rows[1], 1), Shot(rows[2], 4)]
    )
    assert inputs == f"Q: {q1}\nA: {c1} The answer is {a1}.\n\nQ: {q0}\nA:"
    assert (targets, n) == (f"{c0} The answer is {a0}.", 1)


def test_flan_cot_kind_reads_esnli_when_given_and_lists_all_nine():
    spec = CollectionSpec(name="flan_cot", path=str(FIX / "cot"))
    with pytest.warns(FlankitWarning, match="qed_train.tsv not in .*left out") as seen:
        tasks = load_collection(spec)
    assert len(seen) == 1 and "esnli" not in str(seen[0].message)
    assert [t.name for t in tasks] == ["cot_gsm8k", "cot_esnli", "stream_aqua"]
    r = render_example(tasks[1], 0, Variant("zsopt", cot=True), seed=0)
    assert "A dog is an animal" in r.targets and r.cot and not r.inverted
    r = render_example(tasks[0], 0, Variant("zsopt", inverted=True), seed=0)
    assert r.inverted and r.template.startswith("cot_input_inversion_gsm8k_")
    rows = kind_module(spec).catalog(spec, Path("."))
    assert len(rows) == 18 and all(set(r) == CATALOG_KEYS for r in rows)
    qed = [r for r in rows if r["task"].startswith("stream_qed")]
    assert [r["task"] for r in qed] == ["stream_qed", "stream_qed_ii"]
    assert not qed[0]["present"] and "lacks it" in qed[0]["status"]
    assert sum(r["present"] for r in rows) == 6


# --- Dialog -------------------------------------------------------------------------------------


def test_qrecc_next_turn_and_inversion_are_flan_patterns():
    raw = json.loads((FIX / "dialog" / "qrecc_train.json").read_text(encoding="utf-8"))
    context = raw[1]["Context"]
    rows = dialog.read_rows(FIX / "dialog", dialog.BY_TASK["qrecc"])
    assert len(rows) == 1  # Turn_no 2 is left out, as FLAN's filter does
    fields = rows[0][1]
    k = len(fields["dialog"])
    assert k % 2 == 1 and fields["dialog"] == context[:k] and fields["answer"] == context[k]
    # The randomised dialog block: one start string, one speaker-name style, one turn ending.
    import flankit.data.flan2022.patterns as p

    vocab = p.flan_templates()
    rng = random.Random(3)
    start = rng.choice(vocab["DIALOG_START_STRING_CANDIDATES"])
    names = rng.choice(vocab["DIALOG_ITEM_NAME_CANDIDATES"])
    ends = rng.choice(vocab["DIALOG_ITEM_END_STR_CANDIDATES"])
    block = start + "".join(names[i] + t + ends[i] for i, t in enumerate(fields["dialog"]))
    block += names[k]
    assert dialog.random_dialog(fields["dialog"], random.Random(3)) == block
    source = dialog.BY_TASK["qrecc"]
    inputs, targets, _, _ = dialog.render(source, [fields], 0, "zs_opt", 3, random.Random(3))
    assert inputs == f"What is the next dialog turn? {block}" and targets == fields["answer"]
    inputs, targets, _, _ = dialog.render(
        source, [fields], 0, "zs_opt", 0, random.Random(3), inverted=True
    )
    assert inputs == f"Consider this response: {fields['answer']}\nWhat was the preceding dialog?"
    assert targets == block
    fixed = "DIALOG:\n" + "\n- ".join(fields["dialog"]) + "\n- "
    assert dialog.fixed_dialog(fields["dialog"]) == fixed
    row = next(dialog.render_rows(source, [fields], "fs_opt"))
    assert fixed in row["inputs"] and row["targets"].strip() == fields["answer"]


def test_flan_dialog_kind_loads_both_sources_and_lists_them(tmp_path):
    spec = CollectionSpec(name="flan_dialog", path=str(FIX / "dialog"))
    tasks = load_collection(spec)
    assert [(t.name, len(t)) for t in tasks] == [("qrecc", 1), ("wiki_dialog", 2)]
    assert tasks[1].examples[1].fields == {
        "dialog": ["can owls see at night"],
        "answer": "Owls have large eyes that gather a lot of light.",
    }
    kinds = {render_example(tasks[1], 1, Variant("zsopt"), seed=s).inverted for s in range(40)}
    assert kinds == {True, False}  # inversions mixed in at 0.3 : 1
    rows = kind_module(spec).catalog(spec, Path("."))
    assert [r["task"] for r in rows] == ["qrecc", "qrecc_ii", "wiki_dialog", "wiki_dialog_ii"]
    assert all(set(r) == CATALOG_KEYS and r["present"] for r in rows)
    only_qrecc = tmp_path / "dialog"
    only_qrecc.mkdir()
    shutil.copy(FIX / "dialog" / "qrecc_train.json", only_qrecc)
    with pytest.warns(FlankitWarning, match="wiki_dialog left out.*dialog-inpainting"):
        tasks = load_collection(CollectionSpec(name="flan_dialog", path=str(only_qrecc)))
    assert [t.name for t in tasks] == ["qrecc"]
    empty = CollectionSpec(name="flan_dialog", path=str(FIX / "cot"))
    assert not any(r["present"] for r in kind_module(empty).catalog(empty, Path(".")))
    with pytest.raises(FlankitError, match="apple/ml-qrecc"):
        load_collection(empty)


def test_wiki_dialog_bad_row_names_file_line_and_field(tmp_path):
    (tmp_path / "wiki_dialog").mkdir()
    good = (FIX / "dialog" / "wiki_dialog" / "data_train.jsonl").read_text(encoding="utf-8")
    (tmp_path / "wiki_dialog" / "data_train.jsonl").write_text(
        good + json.dumps({"utterances": "not a list"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(FlankitError) as err:
        dialog.read_rows(tmp_path, dialog.BY_TASK["wiki_dialog"])
    assert "data_train.jsonl:3" in str(err.value) and "utterances" in str(err.value)
    bad = BadRows(skip=True)
    assert len(dialog.read_rows(tmp_path, dialog.BY_TASK["wiki_dialog"], bad=bad)) == 2
    assert bad.counts == {"wiki_dialog": 1}


# --- recipes ------------------------------------------------------------------------------------

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_flan2022_recipe_loads_with_every_collection_and_the_flan2022_rates():
    from flankit.config import load_config
    from flankit.data.build import DataConfig

    cfg = load_config(DataConfig, CONFIGS / "data" / "flan2022.yaml")
    assert [(c.name, c.role) for c in cfg.collections] == [
        ("muffin", "muffin"),
        ("t0sf", "t0sf"),
        ("flan_niv2", "niv2"),
        ("flan_cot", "cot"),
        ("flan_dialog", "dialog"),
    ]
    assert cfg.mixture.preset == "flan2022"
    rates = {r: PRESETS["flan2022"][r][0] for r in ("muffin", "t0sf", "niv2", "cot", "dialog")}
    assert rates == {"muffin": 0.4, "t0sf": 0.32, "niv2": 0.2, "cot": 0.05, "dialog": 0.03}


def _fake_kind(monkeypatch, name, n_tasks, size):
    module = types.ModuleType(f"fake_{name}")
    module.names = lambda spec, root: [f"{name}_{i}" for i in range(n_tasks)]
    module.catalog = lambda spec, root: [
        {"task": f"{name}_{i}", "mixing_size": size, "status": "ok"} for i in range(n_tasks)
    ]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(KINDS, name, module.__name__)


def test_sweep_dry_run_lists_the_four_table3_points(tmp_path, monkeypatch, capsys):
    from flankit.cli import main
    from flankit.sweep import load_sweep_config
    from flankit.sweep_plan import plan

    shutil.copytree(FIX / "cot", tmp_path / "flan_cot")
    shutil.copytree(NIV2, tmp_path / "niv2")
    monkeypatch.setenv("FLANKIT_DATA", str(tmp_path))
    _fake_kind(monkeypatch, "muffin", 71, 40_000)  # sizes above the 30k cap count at the cap
    _fake_kind(monkeypatch, "t0sf", 193, 1_000)
    cfg = load_sweep_config(str(CONFIGS / "sweep" / "flan2022_tasks.yaml"), [])
    rows = plan(cfg)
    assert [r["paper_tasks"] for r in rows] == [9, 89, 282, 1836]
    assert [r["tasks"] for r in rows] == [3, 3 + 71, 3 + 71 + 193, 3 + 71 + 193 + 2]
    cot_rows = 3 + 1 + 3  # gsm8k, esnli, aqua fixture rows
    assert rows[0]["examples_per_pass"] == cot_rows and not rows[0]["examples_bounded"]
    assert rows[1]["examples_per_pass"] == cot_rows + 71 * 30_000
    assert rows[3]["examples_bounded"]  # NIV2 sizes need the instances read: counted at the cap
    assert rows[3]["examples_per_pass"] == cot_rows + 71 * 30_000 + 193 * 1_000 + 2 * 5_000
    assert rows[1]["mixture"] == pytest.approx({"flan_cot": 0.05 / 0.45, "muffin": 0.4 / 0.45})
    assert all(r["train_examples"] == 84_000 * 64 for r in rows)
    assert main(["sweep", str(CONFIGS / "sweep" / "flan2022_tasks.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and "(1,836)" in out[4] and "flan_niv2 0.21" in out[4]


def test_build_from_the_flan_kinds_counts_every_task_and_the_rates(tmp_path):
    from flankit.config import load_config
    from flankit.data.build import DataConfig, build

    (q0, _, c0), *_ = tsv_rows("gsm8k")
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"question": f"{q0} {c0}"}) + "\n", encoding="utf-8")
    cfg = tmp_path / "data.yaml"
    cfg.write_text(f"""
decontaminate: {{eval_paths: [{evals}]}}
collections:
  - {{name: flan_niv2, path: {NIV2}}}
  - {{name: flan_cot, path: {FIX / "cot"}}}
  - {{name: flan_dialog, path: {FIX / "dialog"}}}
mixture: {{preset: flan2022, num_examples: 300, seed: 0}}
features: {{tokenizer: train, vocab_size: 300, input_length: 512, target_length: 128}}
num_proc: 2
""")
    with pytest.warns(FlankitWarning, match="qed_train.tsv"):
        stats = build(load_config(DataConfig, cfg), tmp_path / "out", progress=False)
    assert stats["examples"] == 300
    by_task = {t["task"]: t for t in stats["tasks"]}
    assert set(by_task) == {
        CSQA,
        ARITH,
        "cot_gsm8k",
        "cot_esnli",
        "stream_aqua",
        "qrecc",
        "wiki_dialog",
    }
    shares = {c: v["rate"] for c, v in stats["collections"].items()}
    assert shares == pytest.approx(
        {"flan_niv2": 0.2 / 0.28, "flan_cot": 0.05 / 0.28, "flan_dialog": 0.03 / 0.28}
    )
    cot_rows = [by_task[t] for t in ("cot_gsm8k", "cot_esnli", "stream_aqua")]
    assert sum(t["inverted"] for t in cot_rows) > 0
    assert sum(t["cot"] + t["inverted"] for t in cot_rows) == sum(t["examples"] for t in cot_rows)
    assert set(by_task[ARITH]["formats"]) <= {"zsopt", "fsopt"}
    rows = [
        json.loads(line)
        for f in sorted((tmp_path / "out" / "data").glob("*.jsonl"))
        for line in f.open()
    ]
    assert any(r["template"].startswith("natinst_v2_x_shot_") for r in rows)
    # The decontaminated row is gone from what is rendered, exemplars included.
    assert by_task["cot_gsm8k"]["decontaminated"] == 1 and by_task["cot_gsm8k"]["examples"] > 0
    assert not any(q0 in r["inputs"] or q0 in r["targets"] for r in rows)
    assert any(
        r["template"].startswith("qrecc") or r["template"].startswith("wiki_dialog") for r in rows
    )


def test_task_lookup_prefers_the_plain_kind_and_reaches_the_flan_one_by_name(shared):
    from flankit.data.collections import find_task

    assert find_task("cot_gsm8k", shared).collection == "cot"
    assert find_task("flan_cot/cot_gsm8k", shared).collection == "flan_cot"
    assert find_task("stream_aqua", shared).collection == "flan_cot"
    assert find_task(ARITH, shared).collection == "niv2"
    assert find_task(f"flan_niv2/{ARITH}", shared).renderer is not None


def test_cot_bad_line_names_file_line_and_field(tmp_path):
    path = tmp_path / "gsm8k_train.tsv"
    good = (FIX / "cot" / "gsm8k_train.tsv").read_text(encoding="utf-8")
    path.write_text(good + "only a question\tand an answer\n" + "q\t \tc\n", encoding="utf-8")
    with pytest.raises(FlankitError, match=r"gsm8k_train.tsv:4: task cot_gsm8k: expected 3"):
        cot.read_tsv(path, task="cot_gsm8k")
    bad = BadRows(skip=True)
    assert len(cot.read_tsv(path, task="cot_gsm8k", bad=bad)) == 3
    assert bad.counts == {"cot_gsm8k": 2} and "field answer: empty value" in bad.samples[1]
    with pytest.raises(FlankitError, match="unknown NIV2 selection 'dev'"):
        niv2.task_paths(NIV2, "dev")
