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
from itertools import chain
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
    if length <= 0:  # (`ids[-0:]` would be all of them)
        return ids[:0], dropped
    if keep == "end":
        return ids[-length:], dropped
    if eos_id is not None and ids and ids[-1] == eos_id:
        return ids[: length - 1] + [eos_id], dropped
    return ids[:length], dropped


def _layout(seqs: list, rows: Sequence[Sequence], length: int):
    """Where each token of `seqs` (one sequence per packed example, row by row) goes: (flat
    index into an (n, length) array, its example's number in the row from 1, its position in
    its example, the example's first token for each token) and the tokens themselves."""
    n = len(rows)
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    row_of = np.repeat(np.arange(n), counts)
    seg_start = np.cumsum(lens) - lens  # in all rows' tokens laid end to end
    row_tokens = np.bincount(row_of, weights=lens, minlength=n).astype(np.int64)
    if n and row_tokens.max(initial=0) > length:
        raise ValueError(f"a packed row holds {row_tokens.max()} tokens, more than {length}")
    row_start = np.cumsum(row_tokens) - row_tokens
    first_of_row = np.cumsum(counts) - counts
    seg = np.arange(len(seqs)) - np.repeat(first_of_row, counts) + 1
    total = int(lens.sum())
    pos = np.arange(total) - np.repeat(seg_start, lens)
    flat = np.repeat(row_of * length + seg_start - row_start[row_of], lens) + pos
    tokens = np.fromiter(chain.from_iterable(seqs), dtype=np.int32, count=total)
    return flat, np.repeat(seg, lens), pos, tokens


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
    # Whole arrays at once: a slice assignment per example costs more than the packing.
    flat, seg, pos, ids = _layout([inp for row in rows for inp, _ in row], rows, input_length)
    out["encoder_input_ids"].reshape(-1)[flat] = ids
    out["encoder_segment_ids"].reshape(-1)[flat] = seg
    out["encoder_positions"].reshape(-1)[flat] = pos
    flat, seg, pos, ids = _layout([tgt for row in rows for _, tgt in row], rows, target_length)
    out["decoder_target_ids"].reshape(-1)[flat] = ids
    # Targets shifted right within each segment, each starting with the decoder start id.
    shifted = np.roll(ids, 1)
    shifted[pos == 0] = start_id
    out["decoder_input_ids"].reshape(-1)[flat] = shifted
    out["decoder_segment_ids"].reshape(-1)[flat] = seg
    out["decoder_positions"].reshape(-1)[flat] = pos
    return out


def decoder_rows(
    rows: Sequence[Sequence[tuple[list[int], list[int]]]], length: int, *, pad_id: int
) -> dict[str, np.ndarray]:
    """Decoder-only arrays for packed rows; each row is a list of (prompt_ids, target_ids)."""
    n = len(rows)
    out = {k: np.zeros((n, length), dtype=np.int32) for k in DECODER_KEYS}
    out["input_ids"][:] = pad_id
    seqs = [list(prompt) + list(tgt) for row in rows for prompt, tgt in row]
    flat, seg, pos, ids = _layout(seqs, rows, length)
    prompt_lens = np.fromiter(
        (len(prompt) for row in rows for prompt, _ in row), dtype=np.int64, count=len(seqs)
    )
    out["input_ids"].reshape(-1)[flat] = ids
    out["segment_ids"].reshape(-1)[flat] = seg
    out["positions"].reshape(-1)[flat] = pos
    # loss_mask[t] = 1: token t is a target token (predicted from position t-1).
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    out["loss_mask"].reshape(-1)[flat] = pos >= np.repeat(prompt_lens, lens)
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
