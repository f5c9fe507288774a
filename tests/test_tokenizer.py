"""Loading tokenizers: flankit's own tokenizer folders skip AutoTokenizer's model registry, and
load exactly what AutoTokenizer loads."""

from __future__ import annotations

import json
import shutil

import pytest

from flankit.errors import FlankitError
from flankit.tokenizer import _plain_fast_dir, load_tokenizer

TEXTS = [
    "Premise: the cat sat.  Hypothesis: a cat\tsat?\nOPTIONS:\n- yes\n- no",
    "Ünïcödé, émoji 🙂 and <extra_id_0> sentinels <extra_id_99>",
    "",
    "   leading and trailing spaces   ",
]


def test_own_folder_loads_as_autotokenizer_does(tok_dir, tmp_path):
    from transformers import AutoTokenizer

    assert _plain_fast_dir(tok_dir)
    fast, auto = load_tokenizer(str(tok_dir)), AutoTokenizer.from_pretrained(str(tok_dir))
    assert type(fast) is type(auto)
    for special in ("pad_token_id", "eos_token_id", "unk_token_id", "all_special_tokens"):
        assert getattr(fast, special) == getattr(auto, special)
    for add in (False, True):
        assert (
            fast(TEXTS, add_special_tokens=add)["input_ids"]
            == auto(TEXTS, add_special_tokens=add)["input_ids"]
        )
    ids = auto(TEXTS[1])["input_ids"]
    assert fast.decode(ids) == auto.decode(ids)
    fast.save_pretrained(tmp_path / "fast")
    auto.save_pretrained(tmp_path / "auto")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "auto" / name).read_bytes()


def test_model_folders_and_custom_code_go_through_autotokenizer(tok_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tok_dir, model_dir)
    (model_dir / "config.json").write_text(json.dumps({"model_type": "t5"}))
    assert not _plain_fast_dir(model_dir)  # the model type may pick another class
    custom = tmp_path / "custom"
    shutil.copytree(tok_dir, custom)
    settings = json.loads((custom / "tokenizer_config.json").read_text())
    settings["auto_map"] = {"AutoTokenizer": ["x.Tok", None]}
    (custom / "tokenizer_config.json").write_text(json.dumps(settings))
    assert not _plain_fast_dir(custom)
    other = tmp_path / "other"
    shutil.copytree(tok_dir, other)
    settings["tokenizer_class"] = "T5Tokenizer"
    del settings["auto_map"]
    (other / "tokenizer_config.json").write_text(json.dumps(settings))
    assert not _plain_fast_dir(other)


def test_broken_tokenizer_file_is_named(tok_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tok_dir, broken)
    (broken / "tokenizer.json").write_text("{not json")
    with pytest.raises(FlankitError, match="cannot load tokenizer") as err:
        load_tokenizer(str(broken))
    assert str(broken) in str(err.value)
