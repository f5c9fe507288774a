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
