"""The writers of a build's shards: rendered rows (`data/`) and packed token rows (`tokens/`).

Each shard is written to a temporary name, fsynced and renamed, so a crash never leaves a half
shard. Token rows are packed chunk by chunk and each chunk's rows shuffled, exactly as `flankit
train` streams the same mixture (`data/pipeline.py`).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from flankit.data.pipeline import feature_lengths, pack_pairs, shuffle_chunk
from flankit.family import family_named


def json_line(row: dict) -> str:
    """One row of a jsonl shard, newline included."""
    return json.dumps(row, ensure_ascii=False) + "\n"


class ShardWriter:
    """Writes rows to numbered shards atomically (temporary name, then rename)."""

    def __init__(self, folder: Path, fmt: str, shard_size: int) -> None:
        self.folder, self.fmt, self.shard_size = folder, fmt, shard_size
        folder.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        self.shards = 0

    def add(self, rows: list) -> None:
        """Add rows: dicts, or for jsonl their `json_line`s."""
        self.rows.extend(rows)
        while len(self.rows) >= self.shard_size:
            self._write(self.rows[: self.shard_size])
            self.rows = self.rows[self.shard_size :]

    def close(self) -> None:
        if self.rows:
            self._write(self.rows)
            self.rows = []

    def _write(self, rows: list[dict]) -> None:
        path = self.folder / f"part-{self.shards:05d}.{self.fmt}"
        tmp = path.with_suffix(path.suffix + ".tmp")
        if self.fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(r if isinstance(r, str) else json_line(r) for r in rows)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
            pa.default_memory_pool().release_unused()  # else RSS grows with every shard
        _fsync(tmp)
        os.replace(tmp, path)
        self.shards += 1


_COUNTED = (
    "input_tokens",
    "target_tokens",
    "truncated_inputs",
    "dropped_input_tokens",
    "truncated_targets",
    "dropped_target_tokens",
)


class TokenWriter:
    """Packs token ids into fixed-length rows and writes safetensors shards.

    Rows are packed chunk by chunk of `chunk_examples` examples and each chunk's rows shuffled,
    exactly as `flankit train` streams the same mixture (`data/pipeline.py`), so a run reading
    these shards (`data.built`) trains on the same batches as one streaming the config."""

    def __init__(
        self,
        folder: Path,
        feats,
        tokenizer,
        out,
        seed: int,
        chunk: int,
    ) -> None:
        self.folder, self.feats, self.rows_per_shard = folder, feats, out.rows_per_shard
        self.family = family_named(feats.layout)
        folder.mkdir(parents=True, exist_ok=True)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.eos = tokenizer.eos_token_id
        self.lengths = feature_lengths(feats)
        self.seed, self.chunk = seed, chunk
        self.pending: list[tuple[list[int], list[int]]] = []  # fitted, not yet packed
        self.chunk_start = 0  # index in the stream of pending[0]
        self.ready: list[list[tuple[list[int], list[int]]]] = []
        self.shards = 0
        self.stats = Counter()

    def add(self, pairs: list[tuple[list[int], list[int]]]) -> None:
        fit, lengths, eos, pending = self.family.fit_example, self.lengths, self.eos, self.pending
        # Plain ints per batch (a Counter update per example costs more), added to the stats
        # in the order the keys first occur, as stats.json lists them.
        counts, order = [0] * 6, [0, 1]
        for inp, tgt in pairs:
            inp, tgt, di, dt = fit(inp, tgt, lengths, eos)
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
            pending.append((inp, tgt))
        if pairs:
            self.stats["examples"] += len(pairs)
            for i in order:
                self.stats[_COUNTED[i]] += counts[i]
        while len(self.pending) >= self.chunk:
            self._pack(self.chunk)
        self._drain(final=False)

    def _pack(self, n: int) -> None:
        chunk, self.pending = self.pending[:n], self.pending[n:]
        if self.feats.pack:
            self.ready += shuffle_chunk(pack_pairs(chunk, self.feats), self.seed, self.chunk_start)
        else:
            self.ready += [[pair] for pair in chunk]
        self.chunk_start += n

    def close(self) -> None:
        if self.pending:
            self._pack(len(self.pending))
        self._drain(final=True)

    def _drain(self, final: bool) -> None:
        n = self.rows_per_shard
        while len(self.ready) >= n or (final and self.ready):
            rows, self.ready = self.ready[:n], self.ready[n:]
            self._write(rows)

    def _write(self, rows) -> None:
        from safetensors.numpy import save_file

        arrays = self.family.rows_to_arrays(rows, self.lengths, self.pad)
        self.stats["rows"] += len(rows)
        path = self.folder / f"part-{self.shards:05d}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(arrays, str(tmp), metadata={"layout": self.feats.layout})
        _fsync(tmp)
        os.replace(tmp, path)
        self.shards += 1

    def report(self) -> dict:
        packing = self.family.packing(self.stats, self.feats)
        return {
            "layout": self.feats.layout,
            "packed": self.feats.pack,
            **dict(self.stats),
            **packing,
        }


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
