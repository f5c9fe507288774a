"""T0-SF: the TFRecord reader (no TensorFlow), the P3 catalog and FLAN's T0 wrappers."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flankit.data.flan2022 import t0sf, tfrecord
from flankit.data.sources import BadRows
from flankit.errors import FlankitError


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"123456789", 0xE3069283),
        (bytes(32), 0x8A9136AA),  # RFC 3720 B.4 vectors
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (b"", 0),
    ],
)
def test_crc32c_vectors(data, expected):
    assert tfrecord.crc32c(data) == expected


def test_record_framing_layout():
    frame = tfrecord.encode_record(b"abc")
    assert struct.unpack("<Q", frame[:8])[0] == 3
    assert frame[12:15] == b"abc"
    crc = tfrecord.crc32c(b"abc")
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    assert struct.unpack("<I", frame[15:])[0] == (rotated + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.parametrize("packed", [True, False])
def test_example_round_trip(tmp_path, packed):
    rows = [
        {
            "inputs_pretokenized": ["Q: é?\n".encode()],
            "answer_choices": [b"yes", b"no", b""],
            "inputs": [1, 300, -2, 2**40],
            "weight": [0.5, -1.25],
        },
        {"targets_pretokenized": [b"no"], "empty": []},
    ]
    path = tmp_path / "train.tfrecord-00000-of-00001"
    tfrecord.write_examples(path, rows, packed=packed)
    got = list(tfrecord.read_examples(path))
    assert got[0]["inputs_pretokenized"] == ["Q: é?\n".encode()]
    assert got[0]["answer_choices"] == [b"yes", b"no", b""]
    assert got[0]["inputs"] == [1, 300, -2, 2**40]
    assert got[0]["weight"] == [0.5, -1.25]
    assert got[1] == {"targets_pretokenized": [b"no"], "empty": []}


def _two_records(tmp_path):
    path = tmp_path / "x.tfrecord"
    path.write_bytes(tfrecord.encode_record(b"first") + tfrecord.encode_record(b"second"))
    return path


def test_corrupt_payload_crc_names_file_and_record(tmp_path):
    path = _two_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[21 + 12] ^= 0x01  # a byte of the second payload
    path.write_bytes(bytes(data))
    with pytest.raises(FlankitError, match=r"x\.tfrecord: record 1: payload CRC mismatch"):
        list(tfrecord.read_records(path))
    assert list(tfrecord.read_records(path, verify=False))[0] == b"first"


def test_corrupt_length_crc(tmp_path):
    path = _two_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x02
    path.write_bytes(bytes(data))
    with pytest.raises(FlankitError, match="record 0: length CRC mismatch"):
        list(tfrecord.read_records(path))


@pytest.mark.parametrize("cut", [3, 10, 4])
def test_truncated_file(tmp_path, cut):
    path = _two_records(tmp_path)
    path.write_bytes(path.read_bytes()[:-cut] if cut != 10 else path.read_bytes()[: 21 + 10])
    with pytest.raises(FlankitError, match="record 1: truncated"):
        list(tfrecord.read_records(path))


def test_not_an_example(tmp_path):
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(tfrecord.encode_record(b"\x0a\x50zz"))  # field 1 claims 80 bytes
    with pytest.raises(FlankitError, match="bad.tfrecord: record 0: not a tf.train.Example"):
        list(tfrecord.read_examples(path))


# --- T0-SF catalog, P3 folders and FLAN's T0 wrappers ------------------------------------------


TEMPLATES = (
    Path(__file__).parent.parent.parent / "shared" / "data" / "flan2022" / "flan_templates.json"
)
QA = "adversarial_qa_dbert_answer_the_following_q"
MC_SEP = "amazon_polarity_Is_this_product_review_positive"
MC = "amazon_polarity_Is_this_review"


def _p3_folder(tmp_path, rows_by_subset):
    """A P3 copy in the hub's layout: data/<subset>/train.tfrecord-00000-of-00001."""
    for subset, rows in rows_by_subset.items():
        folder = tmp_path / "P3" / "data" / subset
        folder.mkdir(parents=True)
        examples = []
        for row in rows:
            features = {k: [v.encode()] for k, v in row.items() if k != "answer_choices"}
            if "answer_choices" in row:
                features["answer_choices"] = [c.encode() for c in row["answer_choices"]]
            features["inputs"] = [71, 19, 1]  # token ids, as P3 stores them too
            examples.append(features)
        tfrecord.write_examples(folder / "train.tfrecord-00000-of-00001", examples)
    return tmp_path / "P3"


def test_catalog_counts_and_mixing_sizes():
    catalog = t0sf.load_catalog()
    assert len(catalog) == 193
    kinds = [s.task_type for s in catalog.values()]
    assert (kinds.count("t0_question_answer"), kinds.count("t0_multiple_choice")) == (104, 70)
    assert kinds.count("t0_multiple_choice_separated_options") == 19
    assert catalog[MC_SEP].mixing_size() == 20_000
    assert catalog[QA].mixing_size() == 10_000
    assert catalog[QA].multiple_choice is False


QA_ROWS = [
    {
        "inputs_pretokenized": "Extract the answer to the question from the following context.\n"
        "Question: Who wrote it?\nContext: Ann wrote the {report}.",
        "targets_pretokenized": "Ann\n",
    },
    {"inputs_pretokenized": "  Where?\nHere. ", "targets_pretokenized": " Oslo "},
]


def test_golden_question_answer(tmp_path):
    folder = _p3_folder(tmp_path, {QA: QA_ROWS})
    templates = t0sf.load_t0_templates(TEMPLATES)
    subset = t0sf.load_catalog()[QA]
    rows = list(t0sf.render_subset(subset, t0sf.read_subset(folder, QA), templates))
    # template 0: "{question}\n" -> "{answer}"; template 1: "{question}\nAnswer:" -> "{answer}"
    assert rows[0] == {
        "inputs": "Extract the answer to the question from the following context. "
        "Question: Who wrote it? Context: Ann wrote the {report}.\n",
        "targets": "Ann",
        "task_source": "P3",
        "task_name": QA,
        "template_type": "zs_opt",
    }
    assert (rows[1]["inputs"], rows[1]["targets"]) == ("Where? Here.\nAnswer:", "Oslo")
    noopt = list(
        t0sf.render_subset(
            subset, t0sf.read_subset(folder, QA), templates, template_type="zs_noopt"
        )
    )
    assert noopt[1]["inputs"] == "Where? Here.\nAnswer:" and noopt[1]["template_type"] == "zs_noopt"


MC_ROWS = [
    {
        "inputs_pretokenized": "Is this product review positive?\nTitle: Great\nReview: Works.\nAnswer:",
        "targets_pretokenized": "Yes",
        "answer_choices": ["No", "Yes"],
    }
] * 4


def test_golden_multiple_choice_separated_options(tmp_path):
    folder = _p3_folder(tmp_path, {MC_SEP: MC_ROWS})
    templates = t0sf.load_t0_templates(TEMPLATES)
    subset = t0sf.load_catalog()[MC_SEP]
    rows = list(t0sf.render_subset(subset, t0sf.read_subset(folder, MC_SEP), templates))
    question = "Is this product review positive? Title: Great Review: Works. Answer:"
    # templates 0-3: "{question}\n{options_}", "{question}\n{options_}\nAnswer:",
    # "{question}\n\n{options_}\nAnswer:", "Q: {question}\n\n{options_}\nA:"
    assert rows[0]["inputs"] == question + "\nOPTIONS:\n- No\n- Yes"
    assert rows[1]["inputs"] == question + "\nOPTIONS:\n- No\n- Yes\nAnswer:"
    assert rows[2]["inputs"] == question + "\n\nOPTIONS:\n- No\n- Yes\nAnswer:"
    assert rows[3]["inputs"] == "Q: " + question + "\n\nOPTIONS:\n- No\n- Yes\nA:"
    assert {r["targets"] for r in rows} == {"Yes"}
    noopt = list(
        t0sf.render_subset(
            subset, t0sf.read_subset(folder, MC_SEP), templates, template_type="zs_noopt"
        )
    )
    assert [r["inputs"] for r in noopt[:2]] == [question, question + "\nAnswer:"]


def test_multiple_choice_without_options_block(tmp_path):
    folder = _p3_folder(tmp_path, {MC: MC_ROWS[:1]})
    templates = t0sf.load_t0_templates(TEMPLATES)
    rows = list(
        t0sf.render_subset(t0sf.load_catalog()[MC], t0sf.read_subset(folder, MC), templates)
    )
    assert (
        rows[0]["inputs"]
        == "Is this product review positive? Title: Great Review: Works. Answer:\n"
    )


def test_drop_remainder_matches_flan_count(tmp_path):
    folder = _p3_folder(tmp_path, {QA: QA_ROWS * 6})  # 12 rows, templates of 10
    templates = t0sf.load_t0_templates(TEMPLATES)
    subset = t0sf.load_catalog()[QA]
    kept = list(
        t0sf.render_subset(subset, t0sf.read_subset(folder, QA), templates, drop_remainder=True)
    )
    assert len(kept) == 10
    assert len(list(t0sf.render_subset(subset, t0sf.read_subset(folder, QA), templates))) == 12


def test_missing_subset_names_it_and_the_folder(tmp_path):
    folder = _p3_folder(tmp_path, {QA: QA_ROWS})
    with pytest.raises(FlankitError, match=rf"{MC_SEP}.*{tmp_path}"):
        list(t0sf.read_subset(folder, MC_SEP))


def test_bad_rows_raise_or_are_counted(tmp_path):
    bad_rows = [
        MC_ROWS[0],
        {**MC_ROWS[0], "targets_pretokenized": "Maybe"},
        {"inputs_pretokenized": "x", "answer_choices": ["a"]},
    ]
    folder = _p3_folder(tmp_path, {MC_SEP: bad_rows})
    templates = t0sf.load_t0_templates(TEMPLATES)
    subset = t0sf.load_catalog()[MC_SEP]
    with pytest.raises(FlankitError, match=r"record 1: task .*field targets_pretokenized.*'Maybe'"):
        list(t0sf.render_subset(subset, t0sf.read_subset(folder, MC_SEP), templates))
    bad = BadRows(skip=True)
    rows = list(t0sf.render_subset(subset, t0sf.read_subset(folder, MC_SEP), templates, bad=bad))
    assert len(rows) == 1 and bad.counts == {MC_SEP: 2}
    assert "field targets_pretokenized: collection T0-SF: missing field" in bad.samples[1]


def test_shipped_templates_equal_the_shared_file():
    assert t0sf.load_t0_templates() == t0sf.load_t0_templates(TEMPLATES)


# --- the t0sf collection kind: four formats, few-shot golden ---------------------------------

QA_MANY = [
    {"inputs_pretokenized": f"Question {i}:\nWho is number {i}?", "targets_pretokenized": f"P{i}\n"}
    for i in range(12)
]
MC_MANY = [
    {
        "inputs_pretokenized": f"Review {i}: it {'works' if i % 2 else 'broke'}.\nPositive?",
        "targets_pretokenized": "Yes" if i % 2 else "No",
        "answer_choices": ["No", "Yes"],
    }
    for i in range(12)
]


def _raw() -> dict:
    import json

    return json.loads(Path(TEMPLATES).read_text())


def _hand_fields(row: dict) -> dict:
    """FLAN's T0 fields filled by hand: newlines out of the prompt, options as FLAN's block."""
    fields = {
        "question": row["inputs_pretokenized"].replace("\n", " ").strip(),
        "answer": row["targets_pretokenized"].replace("\n", "").strip(),
    }
    if "answer_choices" in row:
        fields["options_"] = "OPTIONS:\n- " + "\n- ".join(row["answer_choices"])
    return fields


def _formats(folder: Path, subset: str, template_type: str):
    entry = t0sf.load_catalog()[subset]
    prepared = t0sf.subset_rows(
        entry, t0sf.read_subset(folder, subset), source=str(folder), bad=BadRows()
    )
    from flankit.data.flan2022 import flan_render

    return t0sf.render_formats(prepared, flan_render.load_templates(TEMPLATES), template_type)


def _x_shot_by_hand(rows, out, pattern: dict) -> tuple[str, str]:
    def head(f):
        return (
            pattern["inputs_prefix"] + pattern["inputs"].format(**f) + pattern["x_y_delimiter"]
        ) + pattern["targets_prefix"]

    text = ""
    for e in out.exemplars:
        f = _hand_fields(rows[e])
        text += head(f) + pattern["targets"].format(**f) + pattern["example_separator"]
    f = _hand_fields(rows[out.row])
    target = (pattern["targets"].format(**f) + pattern["example_separator"]).strip()
    return (text + head(f)).rstrip(" "), target


def _five_shot_by_hand(rows, out, mix: list[dict], separator: str) -> str:
    def part(pos: int) -> str:
        p, f = mix[pos % len(mix)], _hand_fields(rows[pos])
        head = p["inputs_prefix"] + p["inputs"] + p["x_y_delimiter"] + p["targets_prefix"]
        return head.format(**f), p["targets"].format(**f)

    text = "".join("".join(part(e)) + separator for e in out.exemplars)
    return (text + part(out.row)[0]).rstrip(" ")


@pytest.mark.parametrize("subset, rows", [(QA, QA_MANY), (MC_SEP, MC_MANY)])
def test_golden_few_shot(tmp_path, subset, rows):
    folder = _p3_folder(tmp_path, {subset: rows})
    key = t0sf.load_catalog()[subset].task_type
    raw = _raw()
    noopt = _formats(folder, subset, "fs_noopt")
    assert noopt and all(o.form == "x_shot" for o in noopt)
    for out in noopt:
        pattern = raw["FEWSHOT_PATTERNS_NO_OPTIONS"][key][out.template]
        assert out.template == out.row % 10 and out.row not in out.exemplars
        assert (out.inputs, out.targets) == _x_shot_by_hand(rows, out, pattern)
    opt = _formats(folder, subset, "fs_opt")
    mix = [p for p in raw["FEWSHOT_PATTERNS"][key] if p["in_template_mix"]]
    separators = set()
    for out in opt:
        if out.form == "x_shot":
            pattern = raw["FEWSHOT_PATTERNS"][key][out.template]
            assert (out.inputs, out.targets) == _x_shot_by_hand(rows, out, pattern)
            continue
        assert len(out.exemplars) == 5 and out.row not in out.exemplars
        found = [
            s
            for s in ("\n", "\n\n", "\n\n\n")
            if out.inputs == _five_shot_by_hand(rows, out, mix, s)
        ]
        assert found, out.inputs
        separators.add(found[-1])
        assert out.targets == mix[out.row % len(mix)]["targets"].format(
            **_hand_fields(rows[out.row])
        )
    assert len(separators) <= 1 and {o.form for o in opt} <= {"five_shot", "x_shot"}


def test_zs_opt_randomises_the_separated_options_as_flan(tmp_path):
    from flankit.data.flan2022 import flan_render

    folder = _p3_folder(tmp_path, {MC_SEP: MC_MANY})
    templates = flan_render.load_templates(TEMPLATES)
    pairs = _raw()["PATTERNS"]["t0_multiple_choice_separated_options"]
    outs = _formats(folder, MC_SEP, "zs_opt")
    assert len(outs) == 12 and len({o.options for o in outs}) > 1
    for out in outs:
        row, draw = MC_MANY[out.row], out.options
        names = templates.opt_items[draw.items][:2]
        ends = templates.opt_end[draw.end]
        block = templates.opt_start[draw.start] + "".join(
            names[i] + c + ends[i] for i, c in enumerate(row["answer_choices"])
        )
        f = {**_hand_fields(row), "options_": block}
        stripped = [n.strip() for n in names]
        if len(set(stripped)) == 2:
            f["answer"] = stripped[row["answer_choices"].index(f["answer"])]
        assert (out.inputs, out.targets) == tuple(p.format(**f) for p in pairs[out.row % 10])
    # The question-answer and plain multiple-choice types show no options: nothing is drawn.
    qa = _formats(_p3_folder(tmp_path / "qa", {QA: QA_MANY}), QA, "zs_opt")
    assert all(o.options is None for o in qa)


def test_t0sf_kind_loads_a_local_p3_copy_in_four_formats(tmp_path):
    from flankit.data.collections import CollectionSpec, kind_module, load_collection

    folder = _p3_folder(tmp_path, {QA: QA_MANY, MC_SEP: MC_MANY})
    tasks = load_collection(CollectionSpec(name="t0sf", path=str(folder)), bad=BadRows(skip=True))
    assert sorted(t.name for t in tasks) == sorted([QA, MC_SEP])
    qa = next(t for t in tasks if t.name == QA)
    formats = {e.fields["format"] for e in qa.examples}
    assert formats == {"zsopt", "zsnoopt", "fsopt", "fsnoopt"}
    zs = [e for e in qa.examples if e.fields["format"] == "zsnoopt"]
    assert [e.fields["inputs"] for e in zs] == [o.inputs for o in _formats(folder, QA, "zs_noopt")]
    spec = CollectionSpec(name="t0sf", formats={"fsopt": 1.0}, tasks=[QA], path=str(folder))
    only = load_collection(spec, bad=BadRows(skip=True))
    assert {e.fields["format"] for e in only[0].examples} == {"fsopt"}
    module = kind_module(CollectionSpec(name="t0sf"))
    assert len(module.names(CollectionSpec(name="t0sf"), tmp_path)) == 193
    listed = {
        r["task"]: r
        for r in module.catalog(CollectionSpec(name="t0sf", path=str(folder)), tmp_path)
    }
    assert len(listed) == 193 and listed[QA]["present"] and listed[QA]["mixing_size"] == 10_000
    with pytest.raises(FlankitError, match=rf"{MC}.*{folder}"):
        load_collection(CollectionSpec(name="t0sf", path=str(folder), tasks=[MC]))


def test_subset_sample_is_seeded_uniform_and_in_source_order():
    rows = [
        (f"f:record {i}", {"inputs_pretokenized": f"q{i}", "targets_pretokenized": "a"})
        for i in range(500)
    ]
    first = t0sf.sampled(iter(rows), 50, "t0sf|x")
    assert len(first) == 50 and first == t0sf.sampled(iter(rows), 50, "t0sf|x")
    numbers = [int(w.split()[-1]) for w, _ in first]
    assert numbers == sorted(numbers) and numbers[-1] > 250  # not simply the first rows
    assert first != t0sf.sampled(iter(rows), 50, "t0sf|y")
    assert t0sf.sampled(iter(rows[:10]), 50, "t0sf|x") == rows[:10]  # a short subset: every row
