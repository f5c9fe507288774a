"""Attention one packed example at a time: the CPU path for long packed rows.

A dense block-diagonal mask makes every layer compute (and, for T5, add its relative-position
bias to) the full rows x rows score matrix, although an example only ever attends to itself: at
1024-token rows of ~9 examples, nine tenths of that work is masked away. `use_segments(model)`
routes a transformers model (T5 or a Llama-style decoder) through `segment_attention_forward`,
which runs scaled-dot-product attention on each example's span alone. `step.py` then passes
`span_mask(...)` in place of the dense masks: a zero-stride 4-D tensor (so transformers passes it
through untouched) carrying the spans.

T5's relative-position bias depends only on key position minus query position, so the bias of an
example of length L starting anywhere in the row is the top-left L x L block of the row's bias:
the same numbers the dense path adds, computed once per stack for the longest example only. Positions between examples
(padding, segment 0) attend to nothing and come out as zeros; no real position attends to them,
and the loss ignores them, so the loss and every gradient equal the dense-mask path's
(tests/test_train_invariants.py). Masks transformers builds itself (generation, evaluation during
training) fall back to SDPA.

Example:
    >>> import torch
    >>> m = span_mask(torch.tensor([[1, 1, 2, 0]]), torch.tensor([[1, 1, 2, 0]]), "self")
    >>> getattr(m, SPANS).rows, tuple(m.shape)
    ([[(0, 2, 0, 2), (2, 3, 2, 3)]], (1, 1, 4, 4))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

NAME = "flankit_segments"
SPANS = "flankit_spans"  # the attribute of the carrier mask that holds the spans


@dataclass(frozen=True)
class Spans:
    """Per row, (query start, query end, key start, key end) of each example."""

    rows: list[list[tuple[int, int, int, int]]]
    kind: str  # "self" (bidirectional), "causal", or "cross" (decoder queries, encoder keys)

    @property
    def longest(self) -> int:
        return max((q1 - q0 for row in self.rows for q0, q1, _, _ in row), default=0)


def _runs(seg: list[int]) -> dict[int, tuple[int, int]]:
    """{segment id: (start, end)} of each example (segment 0, padding, left out)."""
    runs: dict[int, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(seg) + 1):
        if i == len(seg) or seg[i] != seg[start]:
            if seg[start] != 0:
                if seg[start] in runs:
                    raise ValueError(
                        f"segment {seg[start]} is split in two runs; packed examples are contiguous"
                    )
                runs[seg[start]] = (start, i)
            start = i
    return runs


def spans(q_seg: torch.Tensor, k_seg: torch.Tensor, kind: str) -> Spans:
    rows = []
    for q_row, k_row in zip(q_seg.tolist(), k_seg.tolist()):
        q_runs = _runs(q_row)
        k_runs = q_runs if kind != "cross" else _runs(k_row)
        rows.append([(*q_runs[s], *k_runs[s]) for s in q_runs if s in k_runs])
    return Spans(rows, kind)


def span_mask(q_seg: torch.Tensor, k_seg: torch.Tensor, kind: str) -> torch.Tensor:
    """A (batch, 1, queries, keys) stand-in mask (NaN, no memory) that carries the spans: should
    any code use it as a real mask, the loss turns NaN rather than silently mixing examples."""
    carrier = torch.full((1, 1, 1, 1), float("nan"), device=q_seg.device)
    carrier = carrier.expand(q_seg.shape[0], 1, q_seg.shape[1], k_seg.shape[1])
    setattr(carrier, SPANS, spans(q_seg, k_seg, kind))
    return carrier


def _causal(n: int, device) -> torch.Tensor:
    return torch.full((n, n), float("-inf"), device=device).triu(1)


def _attend(module, q, k, v, bias, causal: bool, dropout: float, scaling):
    """SDPA over one example; q/k/v are (heads, positions, dim)."""
    if bias is not None and causal:
        bias = bias + _causal(q.shape[1], q.device).to(bias.dtype)
    return F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=None if bias is None else bias.to(q.dtype),
        dropout_p=dropout if module.training else 0.0,
        is_causal=causal and bias is None,
        scale=scaling,
        enable_gqa=q.shape[0] != k.shape[0],
    )


def segment_attention_forward(
    module, query, key, value, attention_mask, dropout=0.0, scaling=None, position_bias=None, **kw
):
    """The attention function transformers calls per layer; returns (batch, queries, heads, dim)."""
    plan = getattr(attention_mask, SPANS, None)
    if plan is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module,
            query,
            key,
            value,
            attention_mask,
            dropout=dropout,
            scaling=scaling,
            position_bias=position_bias,
            **kw,
        )
    heads, n_q, dim = query.shape[1], query.shape[2], value.shape[-1]
    top = None  # T5: the bias of the row's first `longest` positions (see the module docstring)
    if position_bias is not None and plan.kind != "cross":
        top = position_bias[:, :, : plan.longest, : plan.longest]
    rows = []
    for b, row in enumerate(plan.rows):
        pieces, at = [], 0
        for q0, q1, k0, k1 in row:
            if q0 > at:
                pieces.append(query.new_zeros(heads, q0 - at, dim))
            bias = (
                None if top is None else top[b if top.shape[0] > 1 else 0, :, : q1 - q0, : k1 - k0]
            )
            q, k, v = query[b, :, q0:q1], key[b, :, k0:k1], value[b, :, k0:k1]
            pieces.append(_attend(module, q, k, v, bias, plan.kind == "causal", dropout, scaling))
            at = q1
        if at < n_q:
            pieces.append(query.new_zeros(heads, n_q - at, dim))
        rows.append(torch.cat(pieces, 1))
    return torch.stack(rows).transpose(1, 2).contiguous(), None


def _bias_for_spans(module, args, kwargs):
    """Before a T5 stack's first attention: its bias for the longest example only (the slice
    `segment_attention_forward` reads), not the rows x rows matrix and its gradient."""
    plan = getattr(kwargs.get("mask"), SPANS, None)
    if plan is None or kwargs.get("position_bias") is not None or plan.kind == "cross":
        return None
    hidden = args[0] if args else kwargs["hidden_states"]
    kwargs["position_bias"] = module.compute_bias(plan.longest, plan.longest, device=hidden.device)
    return args, kwargs


def use_segments(model) -> None:
    """Route the model's attention through `segment_attention_forward` (masks transformers builds
    itself are made as for SDPA)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(NAME, segment_attention_forward)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    for module in model.modules():
        has_bias = getattr(module, "has_relative_attention_bias", False)
        if has_bias and not getattr(module, "_flankit_span_bias", False):
            module.register_forward_pre_hook(_bias_for_spans, with_kwargs=True)
            module._flankit_span_bias = True  # once, however often this is called


def is_segments(model) -> bool:
    return getattr(model.config, "_attn_implementation", None) == NAME
