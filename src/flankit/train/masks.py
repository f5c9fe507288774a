"""Attention restricted to each packed example, from segment ids.

Additive float masks (0 where attention is allowed, the dtype's minimum elsewhere), shaped
(batch, 1, queries, keys), as transformers passes 4-D masks through unchanged:
- encoder self-attention: same segment;
- decoder self-attention: same segment and causal;
- cross-attention: decoder segment equals encoder segment.
Padding (segment 0) attends only to padding, so no softmax row is empty.

Example:
    >>> import torch
    >>> m = encoder_mask(torch.tensor([[1, 1, 2, 0]]), torch.float32)
    >>> (m[0, 0] == 0).int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
"""

from __future__ import annotations

import torch


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask.unsqueeze(1)


def encoder_mask(seg: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return _additive(seg[:, :, None] == seg[:, None, :], dtype)


def causal_mask(seg: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    n = seg.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool, device=seg.device).tril()
    return _additive((seg[:, :, None] == seg[:, None, :]) & causal, dtype)


def cross_mask(dec_seg: torch.Tensor, enc_seg: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return _additive(dec_seg[:, :, None] == enc_seg[:, None, :], dtype)
