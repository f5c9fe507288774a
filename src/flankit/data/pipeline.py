"""The one data pipeline: mixture refs -> render -> tokenize -> fit -> pack.

`flankit data build` and `flankit train` both take their rendered text, their tokenizer and
their packed rows from here, so the two cannot drift apart. The mixture stream is cut into
chunks of `chunk_examples` examples; each chunk is rendered, tokenized and best-fit packed on
its own, so a chunk can be rebuilt from the stream position at its start. The saved position is
(stream state at the chunk start, rows already consumed), so a resumed run sees exactly the
rows an uninterrupted run would: none skipped, none repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np

from flankit.data.features import fit_example, row_lengths, rows_to_arrays, token_pairs
from flankit.data.mixtures import Mixture
from flankit.data.packing import BestFitPacker
from flankit.data.tasks import render_example
from flankit.errors import FlankitError
from flankit.family import family_named
from flankit.progress import bar, phase


@dataclass(frozen=True)
class RenderConfig:
    max_shots: int = 5
    fewshot_budget: int = 1920


@dataclass(frozen=True)
class FeatureConfig:
    """The layout and lengths of packed rows (what training and a build agree on)."""

    # None: encdec for a build; for training, the model family's layout
    layout: Literal["encdec", "decoder"] | None = None
    input_length: int = 2048
    target_length: int = 512
    length: int = 2048  # decoder layout


def feature_lengths(feats: FeatureConfig) -> tuple[int, ...]:
    return family_named(feats.layout).lengths(feats)


def render_refs(mix: Mixture, refs, render: RenderConfig) -> tuple[list[str], list[str]]:
    """The (inputs, targets) texts of mixture refs, rendered with the mixture's seed."""
    inputs, targets = [], []
    for r in refs:
        out = render_example(
            mix.tasks[r.task],
            r.index,
            r.variant,
            seed=mix.seed,
            epoch=r.epoch,
            max_shots=render.max_shots,
            fewshot_budget=render.fewshot_budget,
        )
        inputs.append(out.inputs)
        targets.append(out.targets)
    return inputs, targets


def mixture_tokenizer(
    mix: Mixture,
    render: RenderConfig,
    vocab_size: int,
    out_dir: Path,
    sample: int,
    *,
    progress: bool = False,
):
    """Train a T5-style tokenizer on the first `sample` rendered examples of the mixture's
    stream (at most 20,000) and save it to `out_dir`: the one place random-init runs and builds
    get a tokenizer of their own."""
    from flankit.tokenizer import train_tokenizer

    n = min(20_000, sample)
    texts: list[str] = []
    refs = islice(mix.stream(), n)
    with bar("build", "tokenizer sample", n, unit="ex", enabled=progress) as shown:
        for batch in iter(lambda: list(islice(refs, 1024)), []):
            for pair in zip(*render_refs(mix, batch, render)):
                texts += pair
            shown.update(len(batch))
    with phase("build", "training the tokenizer", enabled=progress):
        return train_tokenizer(texts, vocab_size, out_dir)


def pack_texts(
    inputs, targets, tokenizer, feats: FeatureConfig
) -> list[list[tuple[list[int], list[int]]]]:
    """Tokenize, fit and best-fit pack one chunk of texts into rows (in a fixed order)."""
    lengths = feature_lengths(feats)
    pairs = [
        fit_example(i, t, feats.layout, lengths, tokenizer.eos_token_id)[:2]
        for i, t in token_pairs(tokenizer, inputs, targets, feats.layout)
    ]
    return pack_pairs(pairs, feats)


def pack_pairs(pairs: list, feats: FeatureConfig) -> list[list[tuple[list[int], list[int]]]]:
    """Best-fit pack one chunk of fitted (input ids, target ids) pairs into rows."""
    packer = BestFitPacker(feature_lengths(feats), buffer_size=len(pairs) + 1)
    packer.add_many([row_lengths(i, t, feats.layout) for i, t in pairs])
    return [[pairs[j] for j in row] for row in packer.finish()]


def shuffle_chunk(rows: list, seed: int, chunk_start: int) -> list:
    """A chunk's packed rows in the order training takes them: best-fit emits rows roughly by
    size, so they are shuffled (by the data seed and the chunk's first example) so that batches
    are alike in composition. The build writes its shards in this order too."""
    order = np.random.default_rng([seed, 5, chunk_start]).permutation(len(rows))
    return [rows[i] for i in order]


class PackedStream:
    """An endless source of packed rows; `state()` / `PackedStream(..., state=...)` resume it."""

    def __init__(
        self,
        mix: Mixture,
        tokenizer,
        feats: FeatureConfig,
        render: RenderConfig,
        chunk_examples: int = 2048,
        state: dict | None = None,
    ) -> None:
        self.mix, self.tok, self.feats, self.render = mix, tokenizer, feats, render
        self.chunk = chunk_examples
        self.lengths = feature_lengths(feats)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        if state and "chunk_start" not in state:
            raise FlankitError(
                "the checkpoint's data position is a build's (data.built), not a streamed mixture's",
                field="data.built",
                hint="resume with the data config the run started with",
            )
        start = state["chunk_start"] if state else None
        self._stream = mix.stream(state=start)
        self._rows: list = []
        self._pos = 0
        self._chunk_start = None
        # Part of the saved state, so a resumed run's `examples` continue where they stopped.
        self.examples_seen = int(state.get("examples_seen", 0)) if state else 0
        if state:
            self._next_chunk()
            self._pos = int(state["pos"])

    def _next_chunk(self) -> None:
        self._chunk_start = self._stream.state()
        refs = list(islice(self._stream, self.chunk))
        rows = pack_texts(*render_refs(self.mix, refs, self.render), self.tok, self.feats)
        self._rows = shuffle_chunk(rows, self.mix.seed, self._chunk_start["step"])
        self._pos = 0

    def state(self) -> dict:
        return {
            "chunk_start": self._chunk_start,
            "pos": self._pos,
            "examples_seen": self.examples_seen,
        }

    def next_rows(self, n: int) -> list:
        out = []
        while len(out) < n:
            if self._pos >= len(self._rows):
                self._next_chunk()
            take = self._rows[self._pos : self._pos + n - len(out)]
            out.extend(take)
            self._pos += len(take)
        self.examples_seen += sum(len(r) for r in out)
        return out

    def next_batch(self, n: int) -> dict[str, np.ndarray]:
        """The feature arrays of the next `n` packed rows."""
        return self.arrays(self.next_rows(n))

    def arrays(self, rows) -> dict[str, np.ndarray]:
        return rows_to_arrays(rows, self.feats.layout, self.lengths, self.pad)
