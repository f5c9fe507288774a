import numpy as np
import pytest
import torch

from flankit.data.features import decoder_rows, encdec_rows
from flankit.models import build_model
from flankit.tokenizer import train_tokenizer
from flankit.train.step import batch_loss


@pytest.fixture(scope="module")
def tok():
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "pi",
    ]
    return train_tokenizer(
        [" ".join(words[i:] + words[:i]) for i in range(len(words))] * 20, vocab_size=200
    )


def _examples(n=5, seed=0, vocab=120):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        inp = rng.integers(3, vocab, rng.integers(3, 12)).tolist() + [1]
        tgt = rng.integers(3, vocab, rng.integers(2, 7)).tolist() + [1]
        out.append((inp, tgt))
    return out


def _tensors(arrays):
    return {k: torch.from_numpy(v).long() for k, v in arrays.items()}


@pytest.mark.parametrize("shape", ["t5-tiny", "llama-tiny"])
def test_packed_loss_equals_unpacked_and_naive_packing_differs(tok, shape):
    model, family = build_model(shape, tok, dropout=0.0, seed=0)
    model.eval()
    exs = _examples(5)
    if family == "encdec":
        packed = _tensors(encdec_rows([exs], 64, 32, pad_id=0, start_id=0))
        single = [_tensors(encdec_rows([[e]], 64, 32, pad_id=0, start_id=0)) for e in exs]
    else:
        packed = _tensors(decoder_rows([exs], 96, pad_id=0))
        single = [_tensors(decoder_rows([[e]], 96, pad_id=0)) for e in exs]
    with torch.no_grad():
        loss_p, n_p = batch_loss(model, packed, family)
        parts = [batch_loss(model, b, family) for b in single]
        loss_u = sum(p[0] for p in parts)
        n_u = sum(p[1] for p in parts)
        assert n_p == n_u
        assert torch.allclose(loss_p / n_p, loss_u / n_u, atol=1e-5, rtol=0)
        # Naive packing: one segment for the whole row, so examples see each other.
        naive = dict(packed)
        for key in [k for k in naive if k.endswith("segment_ids")]:
            naive[key] = (naive[key] > 0).long()
        if family == "decoder":
            naive["positions"] = torch.arange(96).expand(1, 96) * (naive["segment_ids"] > 0)
        loss_n, _ = batch_loss(model, naive, family)
        assert abs(loss_n.item() - loss_p.item()) / n_p.item() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["t5-tiny", "llama-tiny"])
def test_flex_attention_block_masks_match_dense_masks(tok, shape):
    """FlexAttention (BlockMasks from segment ids, T5 bias in score_mod) gives the loss of the
    dense-mask path on a packed batch. CPU runs PyTorch's reference kernel, forward only
    (FlexAttention has no CPU backward), so the gradients are compared on GPUs only."""
    from flankit.train.flex import is_flex, use_flex

    model, family = build_model(shape, tok, dropout=0.0, seed=0)
    model.eval()
    exs = _examples(6, seed=1)
    if family == "encdec":
        batch = _tensors(encdec_rows([exs[:3], exs[3:]], 48, 24, pad_id=0, start_id=0))
    else:
        batch = _tensors(decoder_rows([exs[:3], exs[3:]], 72, pad_id=0))
    with torch.no_grad():
        dense, n = batch_loss(model, batch, family)
        use_flex(model)
        assert is_flex(model)
        flex_loss, n_flex = batch_loss(model, batch, family)
        # Naive packing under FlexAttention differs, so the block masks do the work.
        naive = {k: (v > 0).long() if k.endswith("segment_ids") else v for k, v in batch.items()}
        if family == "decoder":
            naive["positions"] = torch.arange(72).expand(2, 72) * naive["segment_ids"]
        naive_loss, _ = batch_loss(model, naive, family)
    assert n == n_flex
    assert flex_loss.item() / n.item() == pytest.approx(dense.item() / n.item(), abs=1e-5)
    assert (
        abs(flex_loss.item() - dense.item())
        < 1e-4
        < 1e-3
        < abs(naive_loss.item() - flex_loss.item())
    )


@pytest.mark.parametrize("shape", ["t5-tiny", "llama-tiny"])
def test_segment_attention_matches_dense_masks_loss_and_gradients(tok, shape):
    """Attention per packed example (spans instead of a dense block-diagonal mask; T5's bias
    sliced per example) gives the dense path's loss and every gradient, in training mode, and
    the packed loss still equals the unpacked one."""
    from flankit.train.segments import is_segments, use_segments

    model, family = build_model(shape, tok, dropout=0.0, seed=0)
    model.train()
    exs = _examples(7, seed=2)
    if family == "encdec":
        batch = _tensors(encdec_rows([exs[:3], exs[3:]], 56, 28, pad_id=0, start_id=0))
        single = [_tensors(encdec_rows([[e]], 56, 28, pad_id=0, start_id=0)) for e in exs]
    else:
        batch = _tensors(decoder_rows([exs[:3], exs[3:]], 84, pad_id=0))
        single = [_tensors(decoder_rows([[e]], 84, pad_id=0)) for e in exs]

    def loss_and_grads(b):
        model.zero_grad()
        loss, n = batch_loss(model, b, family)
        loss.backward()
        return loss.item(), n.item(), {k: p.grad.clone() for k, p in model.named_parameters()}

    dense, n, dense_grads = loss_and_grads(batch)
    use_segments(model)
    assert is_segments(model)
    seg, n_seg, seg_grads = loss_and_grads(batch)
    assert n_seg == n and seg == pytest.approx(dense, rel=1e-5)
    for name, g in dense_grads.items():
        torch.testing.assert_close(seg_grads[name], g, atol=1e-5, rtol=1e-4, msg=name)
    with torch.no_grad():
        parts = [batch_loss(model, b, family) for b in single]
    unpacked = sum(p[0].item() for p in parts) / sum(p[1].item() for p in parts)
    assert seg / n_seg == pytest.approx(unpacked, abs=1e-5)
    # Generation and evaluation build their own masks; those run through SDPA unchanged.
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        if family == "encdec":
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=ids)
        else:
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert torch.isfinite(out.logits).all()


def test_segment_spans_reject_split_examples():
    from flankit.train.segments import spans

    s = spans(torch.tensor([[1, 1, 2, 2, 0, 0]]), torch.tensor([[1, 2, 2, 0]]), "cross")
    assert s.rows == [[(0, 2, 0, 1), (2, 4, 1, 3)]] and s.longest == 2
    with pytest.raises(ValueError, match="segment 1 is split"):
        spans(torch.tensor([[1, 2, 1]]), torch.tensor([[1, 2, 1]]), "self")


def test_adafactor_update_equals_transformers_adafactor():
    """flankit's Adafactor (which also runs on FSDP2 shards) takes the same steps, bit for bit,
    as transformers' Adafactor with the paper's settings: matrices, a 3-D tensor, vectors."""
    from transformers.optimization import Adafactor as HFAdafactor

    from flankit.train.adafactor import Adafactor

    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(s)) for s in [(24, 16), (3, 5, 7), (16,)]]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_a = Adafactor(ours, lr=1e-2, weight_decay=0.01)
    opt_b = HFAdafactor(
        theirs, lr=1e-2, scale_parameter=False, relative_step=False, weight_decay=0.01
    )
    for _ in range(5):
        grads = [torch.randn_like(p) for p in ours]
        for params, opt in ((ours, opt_a), (theirs, opt_b)):
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
