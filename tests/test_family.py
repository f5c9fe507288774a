from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from flankit.data import features
from flankit.data.pipeline import FeatureConfig
from flankit.errors import FlankitError
from flankit.family import (
    DECODER,
    ENCDEC,
    FAMILIES,
    ModelFamily,
    as_family,
    family_named,
    family_of,
)
from flankit.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def tok():
    words = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white", "grey", "pink"]
    return train_tokenizer(
        [" ".join(words[i:] + words[:i]) for i in range(len(words))] * 20, vocab_size=150
    )


def test_registry_names_each_family_once():
    assert FAMILIES == {"encdec": ENCDEC, "decoder": DECODER}
    assert family_named("encdec") is ENCDEC and family_named("decoder") is DECODER
    assert as_family("decoder") is DECODER and as_family(ENCDEC) is ENCDEC
    with pytest.raises(FlankitError, match=r"unknown model family 'gpt'.*encdec, decoder"):
        family_named("gpt")


def test_both_families_answer_every_question_of_the_protocol():
    wanted = set(ModelFamily.__annotations__) | {
        n for n in vars(ModelFamily) if not n.startswith("_")
    }
    for fam in (ENCDEC, DECODER):
        missing = [n for n in wanted if not hasattr(fam, n)]
        assert missing == [], (fam, missing)
    assert ENCDEC.is_encoder_decoder and not DECODER.is_encoder_decoder


def test_family_of_reads_model_or_config():
    from transformers import LlamaConfig, T5Config

    assert family_of(T5Config()) is ENCDEC
    assert family_of(LlamaConfig()) is DECODER
    assert family_of(SimpleNamespace(config=T5Config())) is ENCDEC
    assert family_of(SimpleNamespace()) is DECODER  # no flag: transformers' default, decoder-only


def test_token_pairs_per_family(tok):
    eos = tok.eos_token_id
    enc = ENCDEC.token_pairs(tok, ["red green"], ["blue"])
    dec = DECODER.token_pairs(tok, ["red green"], ["blue"])
    words = tok("red green", add_special_tokens=False)["input_ids"]
    assert enc == [(words + [eos], tok("blue", add_special_tokens=False)["input_ids"] + [eos])]
    assert dec == [(words, tok(" blue", add_special_tokens=False)["input_ids"] + [eos])]
    # The layout-taking functions of data.features give the family's answer for either argument.
    assert features.token_pairs(tok, ["red green"], ["blue"], "encdec") == enc
    assert features.token_pairs(tok, ["red green"], ["blue"], DECODER) == dec


def test_fit_keeps_encoder_start_and_decoder_question():
    inp, tgt = [5, 6, 7, 8, 1], [9, 10, 1]
    assert ENCDEC.fit_example(inp, tgt, (3, 2), 1) == ([5, 6, 1], [9, 1], 2, 1)
    # Decoder-only: one length for both; the target stays whole, the prompt keeps its end.
    assert DECODER.fit_example(inp, tgt, (6,), 1) == ([7, 8, 1], [9, 10, 1], 2, 0)
    assert features.fit_example(inp, tgt, "decoder", (6,), 1) == DECODER.fit_example(
        inp, tgt, (6,), 1
    )
    assert ENCDEC.row_lengths(inp, tgt) == (5, 3) and DECODER.row_lengths(inp, tgt) == (8,)


def test_lengths_come_from_the_feature_config():
    feats = replace(FeatureConfig(), input_length=64, target_length=16, length=96)
    assert ENCDEC.lengths(feats) == (64, 16) and DECODER.lengths(feats) == (96,)


def test_arrays_and_target_tokens_per_family():
    rows = [[([5, 6, 1], [7, 1]), ([8, 1], [9, 2, 1])]]
    enc = ENCDEC.rows_to_arrays(rows, (8, 6), pad_id=0)
    dec = DECODER.rows_to_arrays(rows, (12,), pad_id=0)
    assert set(enc) == set(ENCDEC.feature_keys) and set(dec) == set(DECODER.feature_keys)
    assert ENCDEC.target_key in enc and DECODER.target_key in dec
    want = features.encdec_rows(rows, 8, 6, pad_id=0, start_id=0)
    assert all(np.array_equal(enc[k], want[k]) for k in want)
    assert enc["decoder_input_ids"][0].tolist() == [0, 7, 0, 9, 2, 0]
    assert ENCDEC.target_tokens(enc) == 5
    # Decoder: 5 target tokens, none at position 0, so all are predicted.
    assert dec["loss_mask"][0].tolist() == [0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0]
    assert DECODER.target_tokens(dec) == 5
    for name, fam in FAMILIES.items():
        via = features.rows_to_arrays(rows, name, (8, 6) if fam is ENCDEC else (12,), 0)
        mine = enc if fam is ENCDEC else dec
        assert all(np.array_equal(via[k], mine[k]) for k in mine)


def test_decoder_target_tokens_skip_position_zero():
    # A target token at position 0 has no position before it to predict it from.
    arrays = {"loss_mask": np.array([[1, 1, 0], [0, 1, 1]], dtype=np.int32)}
    assert DECODER.target_tokens(arrays) == 3


@pytest.mark.parametrize("shape", ["t5-tiny", "llama-tiny"])
def test_loss_by_name_or_family_is_the_family_loss(tok, shape):
    from flankit.models import build_model
    from flankit.train.step import batch_loss, decoder_loss, encdec_loss

    model, name = build_model(shape, tok, dropout=0.0, seed=0)
    fam = family_named(name)
    assert fam is family_of(model)
    pairs = fam.token_pairs(tok, ["red green blue", "cyan"], ["pink", "grey white"])
    lengths = (32, 24) if fam is ENCDEC else (64,)
    batch = {
        k: torch.from_numpy(v).long()
        for k, v in fam.rows_to_arrays([pairs[:1], pairs[1:]], lengths, 0).items()
    }
    direct = (encdec_loss if fam is ENCDEC else decoder_loss)(model, batch)
    with torch.no_grad():
        for got in (batch_loss(model, batch, name), batch_loss(model, batch, fam)):
            assert torch.equal(got[0], direct[0]) and int(got[1]) == int(direct[1])
    assert int(direct[1]) == fam.target_tokens({k: v.numpy() for k, v in batch.items()})


@pytest.mark.parametrize("shape", ["t5-tiny", "llama-tiny"])
def test_evaluated_model_follows_its_family(tok, shape):
    from flankit.evals.lm import HFLM
    from flankit.models import build_model

    model, _ = build_model(shape, tok, seed=0)
    lm = HFLM(model, tok, device="cpu")
    fam = family_of(model)
    assert lm.family is fam
    assert lm.share_prefix is (fam is DECODER)
    assert lm.max_input_length == (2048 if fam is ENCDEC else model.config.max_position_embeddings)
    asked = []

    def spy(text, **kw):
        asked.append(kw)
        return tok(text, **kw)

    lm.tok = spy
    lm._encode("red green", 100)
    # T5's tokenizer ends a prompt with EOS, as training's inputs; decoder prompts go on.
    assert asked == [{"add_special_tokens": fam is ENCDEC}]


def test_model_card_lengths_follow_the_family():
    from flankit.train.export import model_card
    from flankit.train.loop import TrainConfig

    cfg = TrainConfig()
    f = cfg.data.features
    record = {"step": 3, "loss": 1.5}
    enc = model_card("m", "runs/m", cfg, record, family="encdec")
    dec = model_card("m", "runs/m", cfg, record, family=DECODER)
    assert f"| {f.input_length}/{f.target_length} |" in enc
    assert f"| {f.length} |" in dec and f"{f.input_length}/{f.target_length}" not in dec
    assert model_card("m", "runs/m", cfg, record) == enc


@pytest.mark.parametrize("name", ["encdec", "decoder"])
def test_packing_report_matches_the_build(tmp_path, name):
    from collections import Counter

    from flankit.data.build import BuildFeatures, OutputConfig, TokenWriter, summary_markdown

    fam = family_named(name)
    feats = replace(BuildFeatures(), layout=name, input_length=64, target_length=16, length=80)
    tok = SimpleNamespace(pad_token_id=0, eos_token_id=1)
    writer = TokenWriter(tmp_path, feats, tok, OutputConfig(), seed=0, chunk=64)
    writer.stats = Counter(rows=4, input_tokens=200, target_tokens=40)
    tokens = writer.report()
    packing = fam.packing(writer.stats, feats)
    assert {k: tokens[k] for k in packing} == packing
    if fam is ENCDEC:
        assert packing["filling_side"] == "inputs" and packing["suggested_target_length"] == 13
        assert packing["efficiency"] == pytest.approx(200 / 256)
    else:
        assert packing == {"efficiency": pytest.approx(240 / 320)}
    stats = {
        "examples": 10,
        "mode": "once",
        "seconds": 1.0,
        "examples_per_second": 10,
        "collections": {},
        "tokens": tokens,
        "excluded_tasks": {},
        "decontaminated_total": 0,
        "bad_rows_total": 0,
        "tasks": [],
    }
    summary = summary_markdown(stats)
    assert all(line in summary.splitlines() for line in fam.packing_lines(tokens))
