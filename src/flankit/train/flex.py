"""FlexAttention for packed batches: block-sparse masks from segment ids, T5's bias in `score_mod`.

`use_flex(model)` switches a transformers model (T5 or a Llama-style decoder) to this attention;
`step.py` then passes `BlockMask`s built from the segment ids instead of dense additive masks, so
blocks of the score matrix where two packed examples never meet are skipped entirely. T5's
relative-position bias (one (heads, queries, keys) tensor per stack, computed by transformers) is
added to the scores inside `score_mod`.

Differences from the dense path: FlexAttention has no dropout on attention probabilities, so a
T5 trained with it keeps dropout on hidden states only. On CUDA the kernel is compiled; on CPU
PyTorch's reference implementation runs (slow; the tests use it to check this path against SDPA).
"""

from __future__ import annotations

from functools import cache

import torch

NAME = "flankit_flex"


@cache
def _compiled():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def flex_attention_forward(
    module, query, key, value, attention_mask, scaling=None, position_bias=None, **kwargs
):
    """The attention function transformers calls per layer; returns (batch, queries, heads, dim)."""
    from torch.nn.attention.flex_attention import flex_attention

    score_mod = None
    if position_bias is not None:
        bias = position_bias
        if bias.shape[0] == 1:  # T5: the bias depends on positions only

            def score_mod(score, b, h, q, kv):
                return score + bias[0, h, q, kv]
        else:

            def score_mod(score, b, h, q, kv):
                return score + bias[b, h, q, kv]

    fn = _compiled() if query.device.type == "cuda" else flex_attention
    out = fn(
        query,
        key,
        value,
        score_mod=score_mod,
        block_mask=attention_mask,
        scale=scaling,
        enable_gqa=query.shape[1] != key.shape[1],
    )
    return out.transpose(1, 2).contiguous(), None


def use_flex(model) -> None:
    """Route the model's attention through `flex_attention_forward`."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, flex_attention_forward)
    model.set_attn_implementation(NAME)


def is_flex(model) -> bool:
    return getattr(model.config, "_attn_implementation", None) == NAME


def _block_mask(mask_mod, batch: int, q_len: int, kv_len: int, device) -> object:
    from torch.nn.attention.flex_attention import create_block_mask

    return create_block_mask(mask_mod, batch, None, q_len, kv_len, device=device)


def encoder_block_mask(seg: torch.Tensor):
    """Each position attends to its own segment (padding, segment 0, to padding)."""

    def same(b, h, q, kv):
        return seg[b, q] == seg[b, kv]

    return _block_mask(same, seg.shape[0], seg.shape[1], seg.shape[1], seg.device)


def causal_block_mask(seg: torch.Tensor):
    """Own segment and not ahead."""

    def same_causal(b, h, q, kv):
        return (seg[b, q] == seg[b, kv]) & (q >= kv)

    return _block_mask(same_causal, seg.shape[0], seg.shape[1], seg.shape[1], seg.device)


def cross_block_mask(dec_seg: torch.Tensor, enc_seg: torch.Tensor):
    """A decoder position attends to the encoder positions of its own example."""

    def same(b, h, q, kv):
        return dec_seg[b, q] == enc_seg[b, kv]

    return _block_mask(same, dec_seg.shape[0], dec_seg.shape[1], enc_seg.shape[1], dec_seg.device)
