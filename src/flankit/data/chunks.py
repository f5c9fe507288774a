"""One packing chunk of a build: fit, pack, shuffle and lay out its examples as feature arrays.

A build cuts the mixture stream into chunks of `chunk_examples` examples, as `flankit train`
does (`data/pipeline.py`). `ChunkPacker.pack` turns one chunk's token pairs into the family's
int32 arrays and the chunk's token counts. It is the one definition both a build's worker
processes and `TokenWriter.add` use; its result pickles cheaply (arrays, not lists of ints).

Example:
    >>> from flankit.data.pipeline import FeatureConfig
    >>> feats = FeatureConfig(layout="encdec", input_length=4, target_length=2)
    >>> packer = ChunkPacker(feats, packed=True, eos=1, pad=0, seed=0)
    >>> chunk = packer.pack([([5, 1], [7, 1]), ([6, 6, 6, 6, 1], [8, 1])], chunk_start=0)
    >>> chunk.rows, chunk.stats["truncated_inputs"], chunk.arrays["encoder_input_ids"].shape
    (2, 1, (2, 4))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flankit.data.pipeline import FeatureConfig, feature_lengths, pack_pairs, shuffle_chunk
from flankit.family import family_named

Pair = tuple[list[int], list[int]]

# The token counts of a chunk; `stats` holds them in the order they first occur, which is the
# order stats.json lists them in.
COUNTED = (
    "input_tokens",
    "target_tokens",
    "truncated_inputs",
    "dropped_input_tokens",
    "truncated_targets",
    "dropped_target_tokens",
)


@dataclass(frozen=True)
class PackedChunk:
    """A chunk's feature arrays, shape (rows, length) each, and its token counts."""

    arrays: dict[str, np.ndarray]
    stats: dict[str, int]

    @property
    def rows(self) -> int:
        return len(next(iter(self.arrays.values())))


@dataclass(frozen=True)
class ChunkPacker:
    """How a build turns one chunk of (input ids, target ids) pairs into packed rows."""

    feats: FeatureConfig
    packed: bool  # False: one example per row, in stream order
    eos: int | None
    pad: int
    seed: int  # the data seed, which with the chunk's start orders its packed rows

    def pack(self, pairs: list[Pair], chunk_start: int) -> PackedChunk:
        """The chunk starting at stream position `chunk_start`: each example fitted to the
        lengths (truncations counted), best-fit packed, the rows shuffled and laid out."""
        family, lengths, eos = (
            family_named(self.feats.layout),
            feature_lengths(self.feats),
            self.eos,
        )
        # Plain ints (a Counter update per example costs more), kept in first-occurrence order.
        counts, order = [0] * 6, [0, 1]
        fitted = []
        for inp, tgt in pairs:
            inp, tgt, di, dt = family.fit_example(inp, tgt, lengths, eos)
            counts[0] += len(inp)
            counts[1] += len(tgt)
            if di:
                order += [2, 3] if not counts[2] else []
                counts[2] += 1
                counts[3] += di
            if dt:
                order += [4, 5] if not counts[4] else []
                counts[4] += 1
                counts[5] += dt
            fitted.append((inp, tgt))
        stats = {"examples": len(pairs), **{COUNTED[i]: counts[i] for i in order}} if pairs else {}
        if self.packed:
            rows = shuffle_chunk(pack_pairs(fitted, self.feats), self.seed, chunk_start)
        else:
            rows = [[pair] for pair in fitted]
        return PackedChunk(family.rows_to_arrays(rows, lengths, self.pad), stats)
