"""The streaming decoder (a refilled pool of rows, shared heads, slot shifts) gives the tokens
greedy `generate` gives each prompt alone; requests come back one by one as they finish."""

from __future__ import annotations

import pytest
import torch

from flankit.evals.decode import Prompt, stream
from flankit.evals.lm import HFLM, GenRequest


@pytest.fixture(scope="module")
def tiny_models():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from flankit.models import build_model

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(["Q: What is 3 + 4? A: Let's think step by step. So 7."] * 40, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<pad>"
    )
    llama, _ = build_model("llama-tiny", tok, seed=0)
    t5, _ = build_model("t5-tiny", tok, seed=0)
    return llama.eval(), t5.eval(), tok


def _alone(model, tok, prompt_ids: list[int], n: int) -> list[int]:
    """Greedy `generate` on one prompt, no padding, cut at end of sequence."""
    ids = torch.tensor([prompt_ids])
    out = model.generate(
        input_ids=ids, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id
    )[0, ids.shape[1] :].tolist()
    return out[: out.index(tok.eos_token_id)] if tok.eos_token_id in out else out


def _prompts(tok, n: int) -> list[list[int]]:
    head = tok("Q: What is 3 + 4? A: Let's think step by step. So 7.\n\n" * 6)["input_ids"]
    heads = [head, head[:-5]]
    qs = ["Q: What is 3?", "Q: 4 + 3 is", "Q: step", "Q: What is 3 + 4 + 3 + 4 + 3? A:", "So"]
    out = []
    for i in range(n):
        q = tok(qs[i % len(qs)] * (1 + i % 3))["input_ids"]
        out.append(heads[i % 2] + q if i % 3 else q)
    return out


@pytest.mark.parametrize("rows", [1, 3, 32])
def test_stream_equals_generate_alone_token_for_token(tiny_models, rows, monkeypatch):
    from flankit.evals import decode

    shifts: list[int] = []
    real_shift = decode._Pool._shift

    def spy(pool, by):
        shifts.append(by)
        real_shift(pool, by)

    monkeypatch.setattr(decode._Pool, "_shift", spy)
    monkeypatch.setattr(decode, "COMPACT_AFTER", 16)
    model, _, tok = tiny_models
    ids = _prompts(tok, 11)
    limits = [3 + 7 * (i % 4) for i in range(len(ids))]
    reqs = [GenRequest("", n) for n in limits]
    plen = 60  # the shared head of the prompts that have one
    prompts = [
        Prompt(i, tuple(s[:plen]) if len(s) > 80 else (), s[plen:] if len(s) > 80 else s)
        for i, s in enumerate(ids)
    ]
    got = dict(stream(model, tok, prompts, reqs, rows=rows))
    assert sorted(got) == list(range(len(ids)))
    for i, s in enumerate(ids):
        assert got[i] == _alone(model, tok, s, limits[i]), i
    if rows == 3:  # refilled rows: slots moved right for a longer prompt, and left
        assert min(shifts) < 0 < max(shifts)


def test_rows_come_back_as_they_finish_and_stop_strings_cut(tiny_models):
    model, _, tok = tiny_models
    lm = HFLM(model, tok, batch_size=2, device="cpu", decode_batch_size=4)
    prompts = ["Q: What is", "So the answer", "Q: 4 + 3 is"]
    reqs = [GenRequest(p, n) for p, n in zip(prompts, (30, 2, 12))]
    order = [i for i, _ in lm.generate_stream(reqs)]
    assert sorted(order) == [0, 1, 2] and order[0] == 1  # the 2-token request ends first
    free = dict(lm.generate_stream(reqs))
    stop = free[0][4:6]
    (cut,) = lm.generate([GenRequest(prompts[0], 30, (stop,))])
    assert stop not in cut and free[0].startswith(cut)


def test_encoder_decoder_stream_equals_generate(tiny_models):
    _, t5, tok = tiny_models
    lm = HFLM(t5, tok, batch_size=2, device="cpu")
    prompts = ["Q: What is", "So the answer", "Q: 4 + 3 is"]
    got = dict(lm.generate_stream([GenRequest(p, 6) for p in prompts]))
    for i, p in enumerate(prompts):
        ids = tok(p, return_tensors="pt")["input_ids"]
        gen = t5.generate(input_ids=ids, max_new_tokens=6, do_sample=False)
        assert got[i] == tok.decode(gen[0], skip_special_tokens=True)


@pytest.mark.parametrize("rows", [2, 32])
def test_heads_of_mixed_lengths_attended_apart_equal_generate(tiny_models, rows, monkeypatch):
    """Prompts under a long head, a short head and none share one pool; the pool's slots hold
    only the rests (not the longest head), each step reads every head once for its rows, and
    the tokens are still those of greedy `generate` on each prompt alone (grouped-query
    attention, so the head-apart path's head layout is covered too)."""
    from flankit.evals import decode
    from flankit.models import build_model

    _, _, tok = tiny_models
    model = build_model("llama-mini", tok, seed=1)[0].eval()  # 8 query heads, 4 key/value
    assert decode.shares_heads(model)
    seen: list[int] = []  # heads attended to apart, per layer call
    real = decode._pool_attention

    def spy(module, *args, pool_heads=None, **kw):
        seen.append(len(pool_heads.groups))
        return real(module, *args, pool_heads=pool_heads, **kw)

    monkeypatch.setattr(decode, "_pool_attention", spy)
    slots: list[int] = []
    real_init = decode._Pool.__init__

    def init(pool, model, rows, n, device):
        slots.append(n)
        real_init(pool, model, rows, n, device)

    monkeypatch.setattr(decode._Pool, "__init__", init)
    unit = tok("Q: What is 3 + 4? A: Let's think step by step. So 7.\n\n")["input_ids"]
    long_head, short_head = tuple(unit * 8), tuple(unit * 2)
    qs = ["Q: What is 3?", "Q: 4 + 3 is", "Q: step", "Q: What is 3 + 4 + 3? A:", "So"]
    prompts, ids = [], []
    for i in range(10):
        head = (long_head, short_head, ())[i % 3]
        rest = tok(qs[i % len(qs)] * (1 + i % 2))["input_ids"]
        prompts.append(Prompt(i, head, rest))
        ids.append(list(head) + rest)
    limits = [4 + 5 * (i % 4) for i in range(len(ids))]
    reqs = [GenRequest("", n) for n in limits]
    got = dict(stream(model, tok, prompts, reqs, rows=rows))
    for i, s in enumerate(ids):
        assert got[i] == _alone(model, tok, s, limits[i]), i
    assert slots == [max(len(p.rest) for p in prompts) + max(limits)]
    assert slots[0] < len(long_head)
    assert max(seen) == 2  # both heads in one step, each read once for its rows
    monkeypatch.setattr(decode, "shares_heads", lambda model: False)  # heads copied into rows
    assert dict(stream(model, tok, prompts, reqs, rows=rows)) == got
    assert slots[-1] == max(len(p.head) + len(p.rest) for p in prompts) + max(limits)
