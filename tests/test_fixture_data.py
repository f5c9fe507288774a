"""The data the tests read: the real folder is required where CI asks for it, and the tiny
in-repo copies (tests/fixtures/data) hold the publishers' rows unchanged."""

import json

import pytest
from conftest import REQUIRE_SHARED, shared_data

from flankit.data.collections import CollectionSpec, load_collection
from flankit.data.sources import BadRows, read_cot_tsv


def test_missing_real_data_skips_by_default_and_fails_where_required(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-data"
    monkeypatch.delenv(REQUIRE_SHARED, raising=False)
    with pytest.raises(pytest.skip.Exception, match="real data folder not found"):
        shared_data(missing)
    monkeypatch.setenv(REQUIRE_SHARED, "0")
    with pytest.raises(pytest.skip.Exception):
        shared_data(missing)
    monkeypatch.setenv(REQUIRE_SHARED, "1")
    with pytest.raises(pytest.fail.Exception, match=f"not found at {missing}.*{REQUIRE_SHARED}"):
        shared_data(missing)
    assert shared_data(tmp_path) == tmp_path  # a folder that is there is used, required or not


def _first_lines(path, n):
    return path.read_bytes().split(b"\n")[:n]


@pytest.mark.parametrize(
    "name",
    [
        "bbh/cot-prompts/navigate.txt",
        "mmlu/dev/anatomy_dev.csv",
        "mmlu/val_prerelease/anatomy_val.csv",
        "mgsm/mgsm_de.tsv",
        "mgsm/mgsm_en.tsv",
        "mgsm/mgsm_zh.tsv",
        "tydiqa/tydiqa-one-shot.json",
        "flan_cot/aqua_train.tsv",
        "flan_cot/gsm8k_train.tsv",
    ],
)
def test_fixture_text_files_are_the_first_rows_of_the_real_ones(shared, fixture_data, name):
    kept = (fixture_data / name).read_bytes().rstrip(b"\n").split(b"\n")
    assert kept and kept == _first_lines(shared / name, len(kept))


def test_fixture_json_files_hold_the_real_entries(shared, fixture_data):
    def load(root, name):
        return json.loads((root / name).read_text(encoding="utf-8"))

    nav, real_nav = (load(r, "bbh/bbh/navigate.json") for r in (fixture_data, shared))
    assert nav["canary"] == real_nav["canary"]
    assert nav["examples"] == real_nav["examples"][: len(nav["examples"])]
    cot, real_cot = (load(r, "mmlu/flan_cot_prompts/mmlu-cot.json") for r in (fixture_data, shared))
    assert cot == {"anatomy": real_cot["anatomy"]}
    ex, real_ex = (load(r, "mgsm/exemplars.json") for r in (fixture_data, shared))
    assert set(ex["MGSM_EXEMPLARS"]) == {"de", "en", "zh"}
    assert all(ex["MGSM_EXEMPLARS"][k] == real_ex["MGSM_EXEMPLARS"][k] for k in ("de", "en", "zh"))
    assert ex["EXEMPLAR_NUMBER_ANSWERS"] == real_ex["EXEMPLAR_NUMBER_ANSWERS"]


def test_flan_cot_tsv_in_its_publishers_format(fixture_data):
    bad = BadRows()
    (first, *rest) = read_cot_tsv(
        fixture_data / "flan_cot/aqua_train.tsv", task="cot_aqua", bad=bad
    )
    assert first.fields == {
        "question": "Rs. 5600 is divided into three parts A, B and C. How much A is more than C if "
        "their ratio is 1/7:1/7:1/14?\nOptions:\n(A) 300\n(B) 992\n(C) 1120\n(D) 552\n(E) 312",
        "answer": "(C)",
        "rationale": "1/7:1/7:1/14 = 2:2:1\n1/5*5600 = 1120\n2240-1120 = 1120",
    }
    assert first.where.endswith("aqua_train.tsv:1") and len(rest) == 2 and bad.total == 0
    spec = CollectionSpec(name="cot", path=str(fixture_data / "flan_cot"))
    tasks = {t.name: t for t in load_collection(spec)}
    assert sorted(tasks) == ["cot_aqua", "cot_gsm8k"]
    assert [len(t.examples) for t in tasks.values()] == [3, 3]
    assert tasks["cot_aqua"].examples[0].fields == first.fields
