"""Model features from token ids: the model family decides the layout, the task never does.

- `encdec` (T5): inputs and targets packed separately. Per row: `encoder_input_ids`,
  `encoder_segment_ids`, `encoder_positions`, `decoder_target_ids`, `decoder_input_ids` (targets
  shifted right *within each segment*, each segment starting with the decoder start id),
  `decoder_segment_ids`, `decoder_positions`.
- `decoder` (Llama-style): input then target in one sequence. Per row: `input_ids`, `segment_ids`,
  `positions`, `loss_mask` (1 where the token is a target token to predict).

Segment ids count packed examples from 1; 0 is padding. Arrays are int32. How a family tokenizes,
cuts and lays out an example is decided in `flankit.family`; the functions here that take a
`layout` (a family or its name) hand the work to it.

Example:
    >>> rows = encdec_rows([[([5, 6, 1], [7, 1]), ([8, 1], [9, 1])]], 6, 4, pad_id=0, start_id=0)
    >>> rows["decoder_input_ids"][0].tolist(), rows["decoder_segment_ids"][0].tolist()
    ([0, 7, 0, 9], [1, 1, 2, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from flankit.family import ModelFamily

ENCDEC_KEYS = (
    "encoder_input_ids",
    "encoder_segment_ids",
    "encoder_positions",
    "decoder_input_ids",
    "decoder_target_ids",
    "decoder_segment_ids",
    "decoder_positions",
)
DECODER_KEYS = ("input_ids", "segment_ids", "positions", "loss_mask")


def truncate(
    ids: list[int], length: int, eos_id: int | None, keep: str = "start"
) -> tuple[list[int], int]:
    """Cut `ids` to `length` (keeping the final EOS if any); return (ids, tokens dropped)."""
    if len(ids) <= length:
        return ids, 0
    dropped = len(ids) - length
    if keep == "end":
        return ids[-length:], dropped
    if eos_id is not None and ids and ids[-1] == eos_id:
        return ids[: length - 1] + [eos_id], dropped
    return ids[:length], dropped


def encdec_rows(
    rows: Sequence[Sequence[tuple[list[int], list[int]]]],
    input_length: int,
    target_length: int,
    *,
    pad_id: int,
    start_id: int,
) -> dict[str, np.ndarray]:
    """Encoder-decoder arrays for packed rows; each row is a list of (input_ids, target_ids)."""
    n = len(rows)
    out = {
        k: np.full(
            (n, input_length if k.startswith("encoder") else target_length),
            pad_id if "ids" in k and "segment" not in k else 0,
            dtype=np.int32,
        )
        for k in ENCDEC_KEYS
    }
    for r, row in enumerate(rows):
        ei = di = 0
        for seg, (inp, tgt) in enumerate(row, start=1):
            a, b = ei + len(inp), di + len(tgt)
            out["encoder_input_ids"][r, ei:a] = inp
            out["encoder_segment_ids"][r, ei:a] = seg
            out["encoder_positions"][r, ei:a] = np.arange(len(inp))
            out["decoder_target_ids"][r, di:b] = tgt
            out["decoder_input_ids"][r, di] = start_id
            out["decoder_input_ids"][r, di + 1 : b] = tgt[:-1]
            out["decoder_segment_ids"][r, di:b] = seg
            out["decoder_positions"][r, di:b] = np.arange(len(tgt))
            ei, di = a, b
    return out


def decoder_rows(
    rows: Sequence[Sequence[tuple[list[int], list[int]]]], length: int, *, pad_id: int
) -> dict[str, np.ndarray]:
    """Decoder-only arrays for packed rows; each row is a list of (prompt_ids, target_ids)."""
    n = len(rows)
    out = {k: np.zeros((n, length), dtype=np.int32) for k in DECODER_KEYS}
    out["input_ids"][:] = pad_id
    for r, row in enumerate(rows):
        i = 0
        for seg, (prompt, tgt) in enumerate(row, start=1):
            seq = list(prompt) + list(tgt)
            j = i + len(seq)
            out["input_ids"][r, i:j] = seq
            out["segment_ids"][r, i:j] = seg
            out["positions"][r, i:j] = np.arange(len(seq))
            # loss_mask[t] = 1: token t is a target token (predicted from position t-1).
            out["loss_mask"][r, i + len(prompt) : j] = 1
            i = j
    return out


def token_pairs(
    tokenizer, inputs: list[str], targets: list[str], layout: str | ModelFamily
) -> list[tuple[list[int], list[int]]]:
    """Token ids per example, as the family `layout` (a family or its name) lays them out."""
    return _family(layout).token_pairs(tokenizer, inputs, targets)


def fit_example(
    inp: list[int],
    tgt: list[int],
    layout: str | ModelFamily,
    lengths: tuple[int, ...],
    eos_id: int | None,
) -> tuple[list[int], list[int], int, int]:
    """Cut one example to the row lengths: (inputs, targets, input tokens dropped, target tokens dropped)."""
    return _family(layout).fit_example(inp, tgt, lengths, eos_id)


def row_lengths(inp: list[int], tgt: list[int], layout: str | ModelFamily) -> tuple[int, ...]:
    return _family(layout).row_lengths(inp, tgt)


def rows_to_arrays(
    rows, layout: str | ModelFamily, lengths: tuple[int, ...], pad_id: int
) -> dict[str, np.ndarray]:
    """Feature arrays for packed rows in the family's layout."""
    return _family(layout).rows_to_arrays(rows, lengths, pad_id)


def _family(layout: str | ModelFamily) -> ModelFamily:
    from flankit.family import as_family  # flankit.family builds on this module's arrays

    return as_family(layout)
