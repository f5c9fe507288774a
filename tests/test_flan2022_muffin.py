"""Muffin (Flan 2021 in Flan 2022): catalog, FLAN preprocessors and the four formats, golden.

Fixtures in tests/fixtures/muffin/ hold twelve rows of each task in its hub dataset's schema.
Each expected prompt is FLAN's pattern filled here by hand from the fixture row: the zero-shot
and first few-shot patterns are written out below as FLAN has them, the others are read from the
FLAN template data and filled with `str.format`.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from flankit.data.collections import CollectionSpec, load_collection
from flankit.data.collections import muffin as kind
from flankit.data.flan2022 import flan_render, muffin, muffin_prep, muffin_sources, patterns
from flankit.data.sources import BadRows
from flankit.errors import FlankitError

FIXTURES = Path(__file__).parent / "fixtures" / "muffin"
TEMPLATES = flan_render.load_templates()
RAW = json.loads(
    (Path(muffin.__file__).parent / "resources" / "flan_templates.json").read_text("utf-8")
)
CATALOG = muffin.load_catalog()


def fixture_rows(task: str) -> list[dict]:
    lines = (FIXTURES / f"{task}.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# ---------------------------------------------------------------- FLAN's fields, by hand


def by_hand(task: str, row: dict) -> dict:
    """The template fields FLAN's preprocessor makes of one row, written out per task."""
    if task == "rte":
        opts = ["yes", "no"]
        return {**row, "options": opts, "answer": opts[row["label"]]}
    if task == "anli_r1":
        opts = ["Yes", "It's impossible to say", "No"]
        return {"context": row["premise"], "hypothesis": row["hypothesis"], "options": opts,
                "answer": opts[row["label"]]}  # fmt: skip
    if task == "squad_v1":
        return {"title": row["title"].replace("_", " "), "context": row["context"],
                "question": row["question"], "answer": row["answers"]["text"][0]}  # fmt: skip
    if task == "trec":
        opts = ["description", "entity", "abbreviation", "human", "numeric", "location"]
        return {"text": row["text"], "options": opts,
                "answer": muffin_prep.trec_label(row["coarse_label"])}  # fmt: skip
    if task == "xsum":
        return {"text": row["document"], "summary": row["summary"]}
    if task == "wmt16_translate_deen":
        return {"lang1": "English", "lang2": "German", "sent1": row["translation"]["en"],
                "sent2": row["translation"]["de"]}  # fmt: skip
    if task == "copa":
        opts = [row["choice1"], row["choice2"]]
        return {"premise": row["premise"], "question": row["question"], "options": opts,
                "answer": opts[row["label"]]}  # fmt: skip
    if task == "winogrande":
        left, rest = row["sentence"].split("_")
        opts = [row["option1"] + rest, row["option2"] + rest]
        return {"context": left, "options": opts, "answer": opts[int(row["answer"]) - 1]}
    if task == "e2e_nlg":
        mr = row["meaning_representation"].replace("[", " = ").replace("]", "")
        return {"meaning_representation": mr, "target": row["target"]}
    if task == "common_gen":
        return {"concepts": ", ".join(row["concepts"]), "target": row["target"],
                "concepts_newline": "\n".join(row["concepts"])}  # fmt: skip
    if task == "arc_challenge":
        opts = row["choices"]["text"]
        return {"question": row["question"], "options": opts,
                "answer": opts[row["choices"]["label"].index(row["answerKey"])]}  # fmt: skip
    if task == "samsum":
        dialogue = re.sub("<.*>", " ", row["dialogue"].replace("\r\n", "\n"))
        return {"dialogue": dialogue, "summary": row["summary"]}
    raise AssertionError(task)


# FLAN's PATTERNS[key][0] and PATTERNS_NO_OPTIONS[key][1], and FEWSHOT_PATTERNS[key][0] as
# (inputs_prefix, inputs, x_y_delimiter, targets_prefix, targets, example_separator) with its
# no-options inputs, copied from flan/v2/templates.py.
GOLDEN = {
    "rte": (
        ('{premise}\n\nQuestion with options: Based on the paragraph above can we conclude that "{hypothesis}"?\n\n{options_}', "{answer}"),
        ("{premise}\n\nBased on that paragraph can we conclude that this sentence is true?\n{hypothesis}", "{answer}"),
        ("Problem: ", "Context: {premise}\n{hypothesis}\n{options_}", "\n", "A: ", "{answer}", "\n\n"),
        "Context: {premise}\n{hypothesis}",
    ),
    "anli_r1": (
        ('{context}\n\nChoose your answer: based on the paragraph above can we conclude that "{hypothesis}"?\n\n{options_}\nI think the answer is', "{answer}"),
        ("{context}\n\nBased on that paragraph can we conclude that this sentence is true?\n{hypothesis}", "{answer}"),
        ("", "Generate a context and a hypothesis.", "\n\n", "Answer: ", "Context: {context}\n\nHypothesis: {hypothesis}", "\n\n\n"),
        "Generate a context and a hypothesis.",
    ),
    "squad_v1": (
        ("Please answer a question about the following article about {title}:\n\n{context}\n\n{question}", "{answer}"),
        ("Read this and answer the question\n\n{context}\n\n{question}", "{answer}"),
        ("Problem: ", "Please answer a question about the following article about {title}:\n{context}\n{question}", "\n", "A: ", "{answer}", "\n"),
        "Please answer a question about the following article about {title}:\n{context}\n{question}",
    ),
    "trec": (
        ('What type of thing is the question "{text}" asking about?\n\n{options_}\nAnswer:', "{answer}"),
        ('Is the question "{text}" asking about an entity, an abbreviation, a description, a human, a location, or a numeric entity?', "{answer}"),
        ("You: ", "Please ask me a question.", "\n\n", "", "\nMe: {text}", "\n\n"),
        "Please ask me a question.",
    ),
    "xsum": (
        ("Summarize:\n\n{text}\n\nSummary:", "{summary}"),
        ("Summarize this article:\n\n{text}", "{summary}"),
        ("Q: ", "{text}", "\n\n", "A: ", "{summary}", "\n\n\n"),
        "{text}",
    ),
    "wmt16_translate_deen": (
        ("{sent1}\n\nTranslate to {lang2}\n\n{lang2}:", "{sent2}"),
        ("{sent2}\n\nTranslate to {lang1}", "{sent1}"),
        ("test: ", "{sent2}\n{lang1}?", "\n\n", "translation: ", "{sent1}", "\n\n"),
        "{sent2}\n{lang1}?",
    ),
    "copa": (
        ("{premise} What is the {question}?\n\n{options_}", "{answer}"),
        ("Here is a premise:{premise}\n\nWhat is the {question}?", "{answer}"),
        ("Q: ", "Write a sentence.", "\n\n", "", "A: {premise}", "\n\n\n"),
        "Write a sentence.",
    ),
    "winogrande": (
        ("How does the sentence end? See options at the end\n\n{context}\n\n{options_}", "{answer}"),
        ("Write the next sentence.\n\n{context}", "{answer}"),
        ("Problem: ", "How does the sentence end?\n\n{context}\n{options_}", "\n", "Answer: ", "{answer}", "\n\n"),
        "How does the sentence end?\n\n{context}",
    ),
    "e2e_nlg": (
        ("Attributes: {meaning_representation}. Produce a detailed sentence about this restaurant.", "{target}"),
        ("Data: {meaning_representation}. Can you generate a sentence about this data?", "{target}"),
        ("Q: ", "Attributes: {meaning_representation}. Produce a detailed sentence about this restaurant.", "\n", "A: ", "[{target}]", "\n\n"),
        "Attributes: {meaning_representation}. Produce a detailed sentence about this restaurant.",
    ),
    "common_gen": (
        ("Concepts: {concepts}\n\nWrite a sentence that includes all these words.", "{target}"),
        ("Keywords: {concepts}\n\nWhat is a sentence that includes all these keywords?", "{target}"),
        ("", "Concepts: {concepts}", "\n", "A: ", "{target}", "\n"),
        "Concepts: {concepts}",
    ),
    "arc_challenge": (
        ("{question}\n\n{options_}", "{answer}"),
        ("Question: {question}\n\nAnswer:", "{answer}"),
        ("", "{question} {options_}", "\n", "A: ", "{answer}", "\n\n"),
        "{question}",
    ),
    "samsum": (
        ("{dialogue}\n\nBriefly summarize that dialogue.", "{summary}"),
        ("Here is a dialogue:\n{dialogue}\n\nWrite a short summary!", "{summary}"),
        ("", "{dialogue}\n\nBriefly summarize:", "\n", "", "{summary}", "\n\n"),
        "{dialogue}\n\nBriefly summarize:",
    ),
}  # fmt: skip
KINDS_COVERED = {
    "rte": "NLI", "anli_r1": "NLI", "squad_v1": "QA", "trec": "classification",
    "xsum": "summarisation", "samsum": "summarisation", "wmt16_translate_deen": "translation",
    "copa": "multiple choice", "winogrande": "multiple choice", "arc_challenge": "multiple choice",
    "e2e_nlg": "struct-to-text", "common_gen": "struct-to-text",
}  # fmt: skip


def deterministic(fields: dict) -> dict:
    if "options" in fields:
        return {**fields, "options_": "OPTIONS:\n- " + "\n- ".join(fields["options"])}
    return fields


def rendered(task: str, template_type: str) -> list[dict]:
    prepared = muffin.task_rows(
        CATALOG[task], FIXTURES, templates=TEMPLATES, bad=BadRows(), required=True
    )
    return muffin.render_task(prepared, TEMPLATES, template_type)


def at(rows: list[dict], row: int) -> dict:
    return next(r for r in rows if r["row"] == row)


TASKS = sorted(GOLDEN)


def test_golden_tasks_cover_the_kinds_the_paper_mixes():
    assert len(TASKS) >= 10
    assert set(KINDS_COVERED) == set(TASKS)
    assert {
        "NLI",
        "QA",
        "summarisation",
        "translation",
        "multiple choice",
        "struct-to-text",
    } <= set(KINDS_COVERED.values())


@pytest.mark.parametrize("task", TASKS)
def test_zs_opt_golden(task):
    zs, _, _, _ = GOLDEN[task]
    row = fixture_rows(task)[0]
    fields = by_hand(task, row)
    out = at(rendered(task, "zs_opt"), 0)
    answer = fields.get("answer")
    if CATALOG[task].has_options:
        start, items, end = out["option_style"]
        names = RAW["OPT_ITEM_NAME_CANDIDATES"][items][: len(fields["options"])]
        ending = RAW["OPT_ITEM_END_STR_CANDIDATES"][end][0]
        block = RAW["OPT_START_STRING_CANDIDATES"][start] + "".join(
            name + opt + ending for name, opt in zip(names, fields["options"])
        )
        fields = {**fields, "options_": block}
        stripped = [n.strip() for n in names]
        if len(set(stripped)) == len(stripped):  # lettered/numbered: the target is the marker
            answer = stripped[fields["options"].index(answer)]
        fields["answer"] = answer
    else:
        assert out["option_style"] is None
    assert out["inputs"] == zs[0].format(**fields)
    assert out["targets"] == zs[1].format(**fields)
    assert out["template_type"] == "zs_opt" and out["template"] == 0
    assert out["task_source"] == "Flan2021"
    assert out["task_name"] == CATALOG[task].published_name


@pytest.mark.parametrize("task", TASKS)
def test_zs_noopt_golden(task):
    _, noopt, _, _ = GOLDEN[task]
    fields = by_hand(task, fixture_rows(task)[1])
    out = at(rendered(task, "zs_noopt"), 1)
    assert (out["inputs"], out["targets"]) == (noopt[0].format(**fields), noopt[1].format(**fields))
    assert out["template"] == 1 and "OPTIONS" not in out["inputs"]


def x_shot_by_hand(task: str, out: dict, pattern: tuple) -> tuple[str, str]:
    """FLAN's same-template few-shot prompt: each exemplar is prefix + inputs + delimiter +
    target prefix + target + its separator; then the query up to the target prefix."""
    rows = fixture_rows(task)
    prefix, inputs, delim, tprefix, targets, sep = pattern
    text = ""
    for e in out["exemplars"]:
        f = deterministic(by_hand(task, rows[e]))
        text += prefix + inputs.format(**f) + delim + tprefix + targets.format(**f) + sep
    f = deterministic(by_hand(task, rows[out["row"]]))
    text += prefix + inputs.format(**f) + delim + tprefix
    return text.rstrip(" "), (targets.format(**f) + sep).strip()


@pytest.mark.parametrize("task", TASKS)
def test_fs_noopt_golden(task):
    _, _, fs, fs_noopt_inputs = GOLDEN[task]
    out = at(rendered(task, "fs_noopt"), 0)
    assert out["form"] == "x_shot" and out["exemplars"] == [10]  # the one row sharing pattern 0
    pattern = (fs[0], fs_noopt_inputs, *fs[2:])
    assert (out["inputs"], out["targets"]) == x_shot_by_hand(task, out, pattern)


def fewshot_pattern(task: str, table: str, index: int) -> tuple:
    p = RAW[table][CATALOG[task].template_key][index]
    keys = ("inputs_prefix", "inputs", "x_y_delimiter", "targets_prefix", "targets")
    return (*(p[k] for k in keys), p["example_separator"])


def five_shot_by_hand(task: str, out: dict, separator: str) -> str:
    """FLAN's template-mix prompt: exemplars in their own mix patterns, one separator."""
    mix = [p for p in RAW["FEWSHOT_PATTERNS"][CATALOG[task].template_key] if p["in_template_mix"]]
    rows = fixture_rows(task)

    def part(pos: int) -> tuple[str, str]:
        p = mix[pos % len(mix)]
        f = deterministic(by_hand(task, rows[pos]))
        head = p["inputs_prefix"] + p["inputs"] + p["x_y_delimiter"] + p["targets_prefix"]
        return head.format(**f), p["targets"].format(**f)

    text = "".join("".join(part(e)) + separator for e in out["exemplars"])
    return (text + part(out["row"])[0]).rstrip(" ")


@pytest.mark.parametrize("task", TASKS)
def test_fs_opt_golden(task):
    rows = rendered(task, "fs_opt")
    forms = {r["form"] for r in rows}
    assert forms <= {"five_shot", "x_shot"} and rows
    separators = set()
    for out in rows:
        if out["form"] == "x_shot":
            pattern = fewshot_pattern(task, "FEWSHOT_PATTERNS", out["template"])
            if out["template"] == 0:
                assert pattern == GOLDEN[task][2]
            assert (out["inputs"], out["targets"]) == x_shot_by_hand(task, out, pattern)
            continue
        assert len(out["exemplars"]) == 5 and out["row"] not in out["exemplars"]
        matches = [
            s for s in ("\n", "\n\n", "\n\n\n") if out["inputs"] == five_shot_by_hand(task, out, s)
        ]
        assert matches, out["inputs"]
        separators.add(matches[-1])
        mix = [
            p for p in RAW["FEWSHOT_PATTERNS"][CATALOG[task].template_key] if p["in_template_mix"]
        ]
        fields = deterministic(by_hand(task, fixture_rows(task)[out["row"]]))
        assert out["targets"] == mix[out["row"] % len(mix)]["targets"].format(**fields)
    assert len(separators) <= 1  # one separator per task, as FLAN draws it


def test_fs_opt_mixes_both_forms_over_a_catalog_of_tasks():
    forms = {r["form"] for task in TASKS for r in rendered(task, "fs_opt")}
    assert forms == {"five_shot", "x_shot"}


def test_rendering_is_deterministic_and_seeded():
    first = rendered("rte", "zs_opt")
    assert first == rendered("rte", "zs_opt")
    prepared = muffin.task_rows(CATALOG["rte"], FIXTURES, templates=TEMPLATES, bad=BadRows())
    other = muffin.render_task(prepared, TEMPLATES, "zs_opt", seed=1)
    assert [r["option_style"] for r in other] != [r["option_style"] for r in first]


def test_drop_remainder_reproduces_flan_counts():
    prepared = muffin.task_rows(CATALOG["rte"], FIXTURES, templates=TEMPLATES, bad=BadRows())
    kept = muffin.render_task(prepared, TEMPLATES, "zs_noopt", drop_remainder=True)
    assert len(kept) == 10  # 12 rows, batches of 10 templates, the last partial batch dropped


# ---------------------------------------------------------------- options and preprocessors


def test_random_options_marker_target_and_bullets():
    lettered = flan_render.OptionDraw(start=1, items=_style("\n(A). "), end=0)
    text, answer = flan_render.random_options(TEMPLATES, lettered, ["yes", "no"], "no")
    assert (text, answer) == ("OPTIONS:\n(A). yes\n(B). no", "(B).")
    bullets = flan_render.OptionDraw(start=0, items=_style("\n - "), end=1)
    text, answer = flan_render.random_options(TEMPLATES, bullets, ["yes", "no"], "no")
    assert (text, answer) == ("\n - yes;\n - no;", "no")


def _style(first: str) -> int:
    return next(i for i, s in enumerate(RAW["OPT_ITEM_NAME_CANDIDATES"]) if s[0] == first)


def test_flan_fill_keeps_non_field_braces():
    assert (
        patterns.fill_fields("{a} {not a field} {{b}}", {"a": "x", "b": "y"})
        == "x {not a field} {y}"
    )
    with pytest.raises(patterns.MissingField):
        patterns.fill_fields("{missing}", {})


def test_trec_maps_hub_labels_by_name():
    from flankit.data.flan2022 import muffin_prep as prep

    assert prep.trec_label(0) == "abbreviation"  # hub index 0 is ABBR; TFDS index 0 was DESC
    assert prep.trec_label(2) == "description"
    assert prep.trec_label("LOC") == "location"


def test_winogrande_string_labels():
    from flankit.data.flan2022 import muffin_prep as prep

    row = {
        "sentence": "A beat B because _ was fast.",
        "option1": "A",
        "option2": "B",
        "answer": "2",
    }
    assert prep.process_winogrande(row)["answer"] == "B was fast."
    with pytest.raises(prep.RowError) as err:
        prep.process_winogrande({**row, "answer": ""})
    assert err.value.field == "answer"


# ---------------------------------------------------------------- catalog and collection kind


def test_catalog_lists_all_71_tasks_with_status_and_reason():
    assert len(CATALOG) == 71
    counts: dict[str, int] = {}
    for task in CATALOG.values():
        counts[task.status] = counts.get(task.status, 0) + 1
    assert counts == {"mapped": 41, "unverified": 22, "unavailable": 8}  # as the README says
    for task in CATALOG.values():
        assert task.reason
        assert task.template_key in TEMPLATES.patterns
        if task.status != "unavailable":
            assert task.preprocessor
    unavailable = {t.name for t in CATALOG.values() if t.status == "unavailable"}
    assert {"newsroom", "story_cloze", "opinion_abstracts_idebate", "bool_q"} <= unavailable
    assert CATALOG["rte"].status == "mapped"
    assert CATALOG["squad_v1"].mixing_size() == 30_000  # min(30000, 87,399 cases)
    # A loading-script dataset is read from the hub's parquet conversion.
    assert CATALOG["wmt14_enfr"].hub.describe() == "hub:wmt/wmt14/fr-en@refs/convert/parquet:train"
    # A proposed id that moved on the hub is corrected, and the reason says so.
    dpr = CATALOG["definite_pronoun_resolution"]
    assert (
        dpr.hub.id == "community-datasets/definite_pronoun_resolution" and "corrected" in dpr.reason
    )


def test_kind_catalog_rows_offline(tmp_path):
    rows = kind.catalog(CollectionSpec(name="muffin", path=str(FIXTURES)), tmp_path)
    assert len(rows) == 71
    keys = {"collection", "task", "source", "templates", "mixing_size", "present", "status"}
    assert all(keys <= set(r) for r in rows)
    by_task = {r["task"]: r for r in rows}
    assert by_task["rte"]["present"] and by_task["rte"]["source"].endswith("rte.jsonl")
    assert by_task["cola"]["source"] == "hub:nyu-mll/glue/cola:train[:-200]"
    assert by_task["cola"]["present"] is False


def test_collection_loads_from_local_copies_and_mixes():
    spec = CollectionSpec(name="muffin", path=str(FIXTURES), tasks=["rte", "anli_r1"])
    bad = BadRows(skip=True)
    tasks = load_collection(spec, bad=bad)
    assert [t.name for t in tasks] == ["rte", "anli_r1"]
    from flankit.data.tasks import Variant, render_example

    formats = {render_example(tasks[0], i, Variant("zsopt")).format for i in range(len(tasks[0]))}
    assert formats == {"zsopt", "zsnoopt", "fsopt", "fsnoopt"}
    first = render_example(tasks[0], 0, Variant("fsnoopt"))  # rendered as FLAN made it
    assert first.format == "zsopt" and first.inputs == at(rendered("rte", "zs_opt"), 0)["inputs"]
    # Few-shot rows left without an exemplar are dropped, as FLAN drops them, and counted.
    assert bad.filtered["rte: fs_noopt: no exemplar fits"] == 8


def test_collection_formats_pick_template_types():
    spec = CollectionSpec(name="muffin", path=str(FIXTURES), tasks=["xsum"], formats={"zsnoopt": 1})
    (task,) = load_collection(spec)
    assert len(task) == 12 and {e.fields["format"] for e in task.examples} == {"zsnoopt"}


def test_unavailable_task_by_name_is_an_error_with_the_reason():
    spec = CollectionSpec(name="muffin", path=str(FIXTURES), tasks=["newsroom"])
    with pytest.raises(FlankitError, match="unavailable.*manual download"):
        load_collection(spec)


def test_missing_local_copy_names_task_and_hub_split(tmp_path):
    spec = CollectionSpec(name="muffin", path=str(tmp_path), tasks=["cola"])
    with pytest.raises(FlankitError, match="no local copy of cola") as err:
        load_collection(spec)
    assert "hub:nyu-mll/glue/cola:train[:-200]" in str(err.value)


def test_hub_failure_says_how_to_go_offline(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("hub unreachable")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr(muffin_sources, "hub_reachable", lambda: True)
    with pytest.raises(FlankitError, match="cannot read hub:nyu-mll/glue/cola") as err:
        muffin.task_rows(CATALOG["cola"], None, templates=TEMPLATES, bad=BadRows())
    assert err.value.task == "cola" and "path:" in str(err.value)


def test_no_hub_fails_at_once_without_retries(monkeypatch, tmp_path):
    import datasets

    def never(*args, **kwargs):
        raise AssertionError("the hub was asked although it is off")

    monkeypatch.setattr(datasets, "load_dataset", never)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    muffin.hub_reachable.cache_clear()
    try:
        with pytest.raises(FlankitError, match="hub is not reachable") as err:
            load_collection(CollectionSpec(name="muffin", tasks=["cola"]), root=tmp_path)
    finally:
        muffin.hub_reachable.cache_clear()
    assert err.value.file == "hub:nyu-mll/glue/cola:train[:-200]" and "path:" in str(err.value)


def test_local_parquet_copy(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(fixture_rows("copa")), tmp_path / "copa.parquet")
    spec = CollectionSpec(name="muffin", path=str(tmp_path), tasks=["copa"], formats={"zsopt": 1})
    (task,) = load_collection(spec)
    assert [e.fields["inputs"] for e in task.examples] == [
        r["inputs"] for r in rendered("copa", "zs_opt")
    ]


# ---------------------------------------------------------------- bad input


def write(tmp_path: Path, task: str, rows: list[dict]) -> Path:
    (tmp_path / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return tmp_path


def test_a_malformed_jsonl_line_is_named_by_its_line_number(tmp_path):
    path = write(tmp_path, "rte", fixture_rows("rte")[:4]) / "rte.jsonl"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    lines[2] = '{"premise": "no closing brace"\n'  # the file's third line
    path.write_text("".join(lines), "utf-8")
    with pytest.raises(FlankitError, match="invalid JSON") as err:
        list(muffin_sources.read_local(path, "rte"))
    assert (err.value.file, err.value.line, err.value.task) == (str(path), 3, "rte")
    assert "rte.jsonl:3: task rte: invalid JSON" in str(err.value)


def test_invalid_utf8_in_a_jsonl_copy_names_its_line_and_field(tmp_path):
    path = tmp_path / "rte.jsonl.gz"
    good = json.dumps(fixture_rows("rte")[0]).encode()
    with gzip.open(path, "wb") as handle:
        handle.write(good + b"\n" + b'{"premise": "caf\xe9", "label": 0}\n')
    rows = muffin_sources.read_local(path, "rte")
    assert next(rows)["premise"] == fixture_rows("rte")[0]["premise"]
    with pytest.raises(FlankitError, match="invalid UTF-8") as err:
        next(rows)
    assert err.value.file == f"{path}:2" and err.value.field == "premise"


def test_missing_template_field_names_collection_task_source_row_field(tmp_path):
    rows = fixture_rows("squad_v1")
    del rows[3]["question"]
    spec = CollectionSpec(
        name="muffin", path=str(write(tmp_path, "squad_v1", rows)), tasks=["squad_v1"]
    )
    with pytest.raises(FlankitError) as err:
        load_collection(spec)
    e = err.value
    assert (e.task, e.line, e.field) == ("squad_v1", 4, "question")  # row 3 from 0
    assert e.file.endswith("squad_v1.jsonl") and "collection muffin" in str(e)


def test_template_field_the_hub_lacks_names_it(tmp_path):
    rows = [{"passage": "p", "question": "q", "answer": True}]  # the hub's boolq: no title
    prepared = muffin.prepare(
        CATALOG["bool_q"], rows, source="hub:google/boolq:train[:-200]", templates=TEMPLATES,
        bad=BadRows(skip=True),
    )  # fmt: skip
    assert prepared.fields == []
    with pytest.raises(FlankitError, match="no 'title'") as err:
        muffin.prepare(
            CATALOG["bool_q"], rows, source="hub:google/boolq:train[:-200]", templates=TEMPLATES,
            bad=BadRows(),
        )  # fmt: skip
    assert err.value.file == "hub:google/boolq:train[:-200]" and err.value.line == 1


def test_label_outside_options_names_the_label(tmp_path):
    rows = fixture_rows("rte")
    rows[5]["label"] = 2
    spec = CollectionSpec(name="muffin", path=str(write(tmp_path, "rte", rows)), tasks=["rte"])
    with pytest.raises(FlankitError, match="outside the 2 options") as err:
        load_collection(spec)
    assert (err.value.task, err.value.line, err.value.field) == ("rte", 6, "label")
    assert "collection muffin" in str(err.value) and err.value.file.endswith("rte.jsonl")


def test_skip_bad_rows_counts_per_task(tmp_path):
    rte = fixture_rows("rte")
    rte[2]["label"] = -1
    rte[7]["label"] = 9
    trec = fixture_rows("trec")
    trec[4]["coarse_label"] = 17
    write(tmp_path, "rte", rte)
    write(tmp_path, "trec", trec)
    bad = BadRows(skip=True)
    spec = CollectionSpec(
        name="muffin", path=str(tmp_path), tasks=["rte", "trec"], formats={"zsnoopt": 1}
    )
    tasks = {t.name: t for t in load_collection(spec, bad=bad)}
    assert (len(tasks["rte"]), len(tasks["trec"])) == (10, 11)
    assert bad.counts == {"rte": 2, "trec": 1}
    # Rows are counted from 1, as the file's lines are: rte[2] is line 3.
    assert any("rte.jsonl:3" in s for s in bad.samples)
    assert any("rte.jsonl:8" in s for s in bad.samples) and any(
        "trec.jsonl:5" in s for s in bad.samples
    )


def test_flan_filters_are_counted(tmp_path):
    rows = [dict(r, label=-1 if i < 2 else i % 3) for i, r in enumerate(fixture_rows("rte"))]
    snli = [
        {"premise": r["premise"], "hypothesis": r["hypothesis"], "label": r["label"]} for r in rows
    ]
    bad = BadRows(skip=False)
    prepared = muffin.prepare(CATALOG["snli"], snli, source="s", templates=TEMPLATES, bad=bad)
    assert len(prepared.fields) == 10 and prepared.filtered == 2
    assert bad.filtered == {"snli: keep_snli": 2}


def test_record_coqa_and_paracrawl_preprocessors():
    from flankit.data.flan2022 import muffin_text as prep

    record = prep.process_record(
        {
            "passage": "Rain fell in Oslo.\n@highlight\nRain",
            "query": "@placeholder had rain all day.",
            "entities": ["Oslo", "Bergen"],
            "answers": ["Oslo"],
        }
    )
    assert record["passage"] == "Rain fell in Oslo." and record["query"] == ""
    assert record["options_str"] == "OPTIONS:\n- Oslo had rain all day.\n- Bergen had rain all day."
    assert record["answer"] == "Oslo had rain all day."
    coqa = prep.process_coqa(
        {"story": "S", "questions": ["Who?", "Why?"], "answers": {"input_text": ["A", "B"]}}
    )
    assert (coqa["numbered_questions"], coqa["numbered_answers"]) == (
        "1. Who?\n2. Why?",
        "1. A\n2. B",
    )
    row = {"translation": {"en": "Hello, World é!", "da": "Hej"}}
    assert prep.process_fix_punct(row)["no_punct"] == "Hello World "  # RE2's \w is ASCII
    assert prep.process_true_case(row) == {"lower": "hello, world é!", "answer": "Hello, World é!"}
    assert not prep.keep_true_case({"en": "already lower"})
    assert prep.process_word_segment(row)["no_space"] == "Hello,Worldé!"


class _Info:
    def __init__(self, features, splits):
        self.features, self.splits = features, splits


def test_check_source_compares_columns_and_split(monkeypatch):
    import datasets

    seen = {}

    def builder(hub_id, config=None, revision=None):
        seen["args"] = (hub_id, config, revision)
        return type("B", (), {"info": _Info({"sentence": 0, "label": 0, "idx": 0}, {"train": 1})})

    monkeypatch.setattr(datasets, "load_dataset_builder", builder)
    assert muffin.check_source(CATALOG["cola"]) == []
    assert seen["args"] == ("nyu-mll/glue", "cola", None)
    problems = muffin.check_source(CATALOG["rte"])
    assert len(problems) == 1 and "['premise', 'hypothesis']" in problems[0]
    assert muffin.check_source(CATALOG["opinion_abstracts_idebate"])[0].startswith("no hub source")
    assert muffin.check_source(CATALOG["newsroom"])[0].startswith("not ported")
    assert "title" in muffin.check_source(CATALOG["bool_q"])[0]  # the hub's boolq has none


def test_check_source_offline_says_it_needs_the_hub(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset_builder", offline)
    with pytest.raises(FlankitError, match="this needs the hub"):
        muffin.check_source(CATALOG["cola"])


def test_every_ported_task_declares_its_hub_columns():
    for task in CATALOG.values():
        if task.status != "unavailable":
            assert task.columns, task.name
    assert CATALOG["wmt16_translate_deen"].columns == ("translation",)
    assert CATALOG["trec"].columns == ("text", "coarse_label")


def test_sample_keeps_a_seeded_subset_in_source_order():
    rows = fixture_rows("rte")
    first = muffin.prepare(
        CATALOG["rte"], rows, source="s", templates=TEMPLATES, bad=BadRows(), sample=5
    )
    again = muffin.prepare(
        CATALOG["rte"], rows, source="s", templates=TEMPLATES, bad=BadRows(), sample=5
    )
    assert first.where == again.where and len(first.where) == 5 and first.seen == 12
    assert first.where == sorted(first.where) and first.where != [0, 1, 2, 3, 4]
    assert [f["premise"] for f in first.fields] == [rows[n]["premise"] for n in first.where]


def test_random_access_copy_samples_by_index(tmp_path):
    import datasets

    datasets.Dataset.from_list(fixture_rows("copa")).save_to_disk(str(tmp_path / "copa"))
    prepared = muffin.task_rows(
        CATALOG["copa"], tmp_path, templates=TEMPLATES, bad=BadRows(), sample=4, required=True
    )
    rows = fixture_rows("copa")
    assert len(prepared.where) == 4 and prepared.source == str(tmp_path / "copa")
    assert prepared.fields == [by_hand("copa", rows[n]) for n in prepared.where]


def test_exemplars_are_distinct_other_rows():
    spec = flan_render.RenderSpec(task="t", key="rte", has_options=True)
    pool = [0, 2, 3, 5, 8, 9]
    for pos in pool:
        picks = flan_render._candidates(spec, "five_shot", pos, pool, 5)
        assert len(set(picks)) == 5 and pos not in picks and set(picks) <= set(pool)


def test_data_build_mixes_muffin_with_the_flan2022_preset(tmp_path):
    from flankit.cli import main

    config = tmp_path / "muffin.yaml"
    config.write_text(
        "collections:\n"
        f"  - {{name: muffin, path: {FIXTURES}, tasks: [rte, trec, xsum, copa]}}\n"
        "mixture: {num_examples: 200, seed: 0, preset: flan2022}\n"
        "decontaminate: {eval_paths: []}\n"
        "output: {format: jsonl}\n",
        "utf-8",
    )
    assert main(["data", "build", str(config), "--out", str(tmp_path / "out"), "-q"]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text("utf-8"))
    tasks = {t["task"]: t for t in stats["tasks"]}
    assert set(tasks) == {"rte", "trec", "xsum", "copa"} and stats["examples"] == 200
    for t in tasks.values():
        assert set(t["formats"]) <= {"zsopt", "zsnoopt", "fsopt", "fsnoopt"}
        assert t["collection"] == "muffin"
    assert sum(t["formats"].get("fsopt", 0) for t in tasks.values()) > 0
    rows = [
        json.loads(line)
        for part in sorted((tmp_path / "out" / "data").glob("part-*.jsonl"))
        for line in part.read_text("utf-8").splitlines()
    ]
    expected = {
        (r["inputs"], r["targets"])
        for tt in flan_render.TEMPLATE_TYPES
        for r in rendered("rte", tt)
    }
    assert all((r["inputs"], r["targets"]) in expected for r in rows if r["task"] == "rte")


def test_catalog_template_fields_are_the_templates_fields():
    for task in CATALOG.values():
        declared = {"options" if f == "options_" else f for f in task.template_fields}
        assert muffin.required_fields(task, TEMPLATES) == declared, task.name
        assert len(TEMPLATES.patterns[task.template_key]) == task.n_templates


def test_aeslc_keeps_any_non_empty_email():
    from flankit.data.flan2022 import muffin_text as prep

    assert prep.keep_aeslc({"email_body": "\n", "subject_line": ""})
    assert not prep.keep_aeslc({"email_body": "", "subject_line": ""})


def test_a_folder_of_some_copies_loads_those_and_names_the_rest(tmp_path):
    spec = CollectionSpec(name="muffin", path=str(FIXTURES), formats={"zsnoopt": 1})
    with pytest.warns(UserWarning, match=r"tasks have no local copy .* left out \(wsc, wic"):
        tasks = load_collection(spec)
    assert sorted(t.name for t in tasks) == sorted(GOLDEN)
    with pytest.raises(FlankitError, match="no local copy of any Muffin task"):
        load_collection(CollectionSpec(name="muffin", path=str(tmp_path)))


def test_kind_check_sources(monkeypatch, tmp_path):
    import datasets

    def builder(hub_id, config=None, revision=None):
        features = {"premise": 0, "hypothesis": 0, "label": 0, "idx": 0}
        return type("B", (), {"info": _Info(features, {"train": 1})})

    monkeypatch.setattr(datasets, "load_dataset_builder", builder)
    monkeypatch.setattr(muffin_sources, "hub_reachable", lambda: True)
    rows = kind.check_sources(CollectionSpec(name="muffin", tasks=["rte", "cola"]), tmp_path)
    assert [(r["task"], r["ok"]) for r in rows] == [("rte", True), ("cola", False)]
    assert "['sentence']" in rows[1]["problems"][0]
    monkeypatch.setattr(muffin_sources, "hub_reachable", lambda: False)
    with pytest.raises(FlankitError, match="needs the hub"):
        kind.check_sources(CollectionSpec(name="muffin"), tmp_path)


def test_a_saved_dataset_dict_is_refused_with_what_to_save(tmp_path):
    import datasets

    rows = datasets.Dataset.from_list(fixture_rows("copa"))
    datasets.DatasetDict({"train": rows, "validation": rows}).save_to_disk(str(tmp_path / "copa"))
    spec = CollectionSpec(name="muffin", path=str(tmp_path), tasks=["copa"])
    with pytest.raises(FlankitError, match=r"several splits \(train, validation\)") as err:
        load_collection(spec)
    assert err.value.task == "copa"


def test_more_preprocessors_by_hand():
    from flankit.data.flan2022 import muffin_prep as prep
    from flankit.data.flan2022 import muffin_text as text_prep

    hs = prep.process_hellaswag(
        {
            "ctx": "[header] How to cook rice [title] Rinse the rice. [step] Drain it.",
            "endings": ["[substeps] Boil water.", "Eat it."],
            "activity_label": "Food",
            "label": "1",
        }
    )
    # FLAN's regexes drop "[header] " and turn each other "[...] " into a newline, so the space
    # before a bracket stays.
    assert hs["context"] == "How to cook rice \nRinse the rice. \nDrain it."
    assert hs["options"] == ["Boil water.", "Eat it."] and hs["answer"] == "Eat it."
    row = {"sentence1": "a", "sentence2": "b"}
    assert prep.process_stsb({**row, "label": 2.5})["answer"] == "2"  # half to even, as printf
    assert prep.process_stsb({**row, "label": 3.8})["answer"] == "4"
    cnn = text_prep.process_cnn_dailymail(
        {
            "article": "LONDON , England ( CNN ) -- The rain fell .",
            "highlights": "Rain fell .\nWet .",
        }
    )
    assert cnn == {"text": "The rain fell .", "highlights": "Rain fell. Wet."}
    web = text_prep.process_web_nlg({"input": ["Alan_Bean | birthPlace | Texas"], "target": "t"})
    assert web["input_string"] == "Alan Bean, birthPlace, Texas"
    dart = text_prep.process_dart(
        {"tripleset": [["[TABLECONTEXT]", "[TITLE]", "Oslo"]], "target": "t"}
    )
    assert (
        dart["tripleset"] == "; ; Oslo"
        and dart["tripleset_newline"] == "[TABLECONTEXT]\n[TITLE]\nOslo"
    )
    assert prep.trec_label(5) == "numeric" and prep.label_to_option(["a", "b"], "1") == "b"
    with pytest.raises(prep.RowError, match="outside the 2 options"):
        prep.label_to_option(["a", "b"], 1.5)


def test_unavailable_tasks_with_a_port_load_from_a_local_copy(tmp_path):
    rows = [
        {
            "title": "Rain",
            "passage": f"It rained on day {i}.",
            "question": f"did it rain {i}",
            "answer": i % 2 == 0,
        }
        for i in range(12)
    ]
    write(tmp_path, "bool_q", rows)
    spec = CollectionSpec(
        name="muffin", path=str(tmp_path), tasks=["bool_q"], formats={"zsnoopt": 1}
    )
    (task,) = load_collection(spec)
    first = task.examples[0].fields
    assert first["targets"] == "yes"
    assert first["inputs"] == RAW["PATTERNS_NO_OPTIONS"]["bool_q"][0][0].format(
        title="Rain", text="It rained on day 0.", question="did it rain 0"
    )
    with pytest.raises(FlankitError, match="unavailable: the hub copies .* give a local copy"):
        load_collection(CollectionSpec(name="muffin", path=str(tmp_path / "x"), tasks=["bool_q"]))


def test_unified_qa_science_and_rows_of_another_schema():
    from flankit.data.flan2022 import muffin_text as text_prep

    row = {"input": "Which is a gas? \\n (A) ice (B) steam (C) rock (D) wood", "output": "steam"}
    assert text_prep.process_unified_qa_science(row) == {
        "question": "Which is a gas?",
        "options": ["ice", "steam", "rock", "wood"],
        "answer": "steam",
    }
    assert not text_prep.keep_unified_qa_science({"input": "q (A) a (B) b (C) c (D) d (E) e"})
    bad = BadRows(skip=True)
    wrong = [{"title": "t", "context": "c", "question": "q", "answers": ["not", "a", "mapping"]}]
    prepared = muffin.prepare(CATALOG["squad_v1"], wrong, source="s", templates=TEMPLATES, bad=bad)
    assert prepared.fields == [] and bad.counts == {"squad_v1": 1}
    assert "answers" in bad.samples[0]
    wrong = [{"question": "q", "answer": {"value": "v"}}]  # trivia_qa without normalized_value
    with pytest.raises(FlankitError, match="lacks this value") as err:
        muffin.prepare(CATALOG["trivia_qa"], wrong, source="s", templates=TEMPLATES, bad=BadRows())
    assert err.value.field == "normalized_value" and err.value.line == 1


def test_record_renders_its_own_options_string_in_every_format():
    rows = [
        {
            "passage": f"Storm {i} hit Oslo and Bergen.\n@highlight\nStorm {i}",
            "query": "@placeholder was hit first.",
            "entities": ["Oslo", "Bergen"],
            "answers": ["Oslo"],
        }
        for i in range(12)
    ]
    prepared = muffin.prepare(
        CATALOG["record"], rows, source="s", templates=TEMPLATES, bad=BadRows()
    )
    fields = {
        "passage": "Storm 0 hit Oslo and Bergen.",
        "query": "",
        "options_str": "OPTIONS:\n- Oslo was hit first.\n- Bergen was hit first.",
        "answer": "Oslo was hit first.",
    }
    zs = at(muffin.render_task(prepared, TEMPLATES, "zs_opt"), 0)
    assert zs["option_style"] is None  # ReCoRD is not one of FLAN's format_options tasks
    assert (zs["inputs"], zs["targets"]) == (
        "Complete the passage: pick from possible candidates.\n\n{passage}\n\n{query}\n\n"
        "{options_str}\n\n".format(**fields),
        fields["answer"],
    )
    noopt = at(muffin.render_task(prepared, TEMPLATES, "zs_noopt"), 0)
    assert noopt["inputs"] == RAW["PATTERNS_NO_OPTIONS"]["record"][0][0].format(**fields)
