"""The writers of a build's shards: rendered rows (`data/`) and packed token rows (`tokens/`).

Each shard is written to a temporary name, fsynced and renamed, so a crash never leaves a half
shard. Token rows are packed chunk by chunk and each chunk's rows shuffled (`data/chunks.py`),
exactly as `flankit train` streams the same mixture (`data/pipeline.py`).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from flankit.data.chunks import ChunkPacker, PackedChunk
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


class TokenWriter:
    """Writes packed token rows to safetensors shards of `rows_per_shard` rows each.

    Rows are packed chunk by chunk of `chunk_examples` examples and each chunk's rows shuffled
    (`data/chunks.py`), exactly as `flankit train` streams the same mixture (`data/pipeline.py`),
    so a run reading these shards (`data.built`) trains on the same batches as one streaming the
    config. A build's workers pack the chunks (`packer.pack`) and hand them to `add_chunk`, in
    stream order; `add` packs token pairs here instead."""

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
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.packer = ChunkPacker(feats, feats.pack, tokenizer.eos_token_id, pad, seed)
        self.chunk = chunk
        self.pending: list[tuple[list[int], list[int]]] = []  # given to `add`, not yet packed
        self.chunk_start = 0  # index in the stream of the next chunk's first example
        self.ready: list[dict[str, np.ndarray]] = []  # packed arrays not yet in a shard
        self.ready_rows = 0
        self.shards = 0
        self.stats = Counter()

    def add(self, pairs: list[tuple[list[int], list[int]]]) -> None:
        """Add the next examples' (input ids, target ids); each full chunk is packed."""
        self.pending.extend(pairs)
        while len(self.pending) >= self.chunk:
            self._pack(self.chunk)

    def _pack(self, n: int) -> None:
        chunk, self.pending = self.pending[:n], self.pending[n:]
        self.add_chunk(self.packer.pack(chunk, self.chunk_start))

    def add_chunk(self, chunk: PackedChunk) -> None:
        """Add the next chunk of the stream, packed; write every shard it fills."""
        self.stats.update(chunk.stats)  # new keys in the chunk's order, as stats.json lists them
        self.chunk_start += chunk.stats.get("examples", 0)
        if chunk.rows:
            self.ready.append(chunk.arrays)
            self.ready_rows += chunk.rows
        self._drain(final=False)

    def close(self) -> None:
        if self.pending:
            self._pack(len(self.pending))
        self._drain(final=True)

    def _drain(self, final: bool) -> None:
        n = self.rows_per_shard
        if self.ready_rows < n and not (final and self.ready_rows):
            return
        keys = self.ready[0].keys()
        arrays = {k: np.concatenate([a[k] for a in self.ready]) for k in keys}
        start = 0
        while self.ready_rows - start >= n or (final and start < self.ready_rows):
            self._write({k: v[start : start + n] for k, v in arrays.items()})
            start = min(start + n, self.ready_rows)
        self.ready_rows -= start
        self.ready = [{k: v[start:] for k, v in arrays.items()}] if self.ready_rows else []

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        from safetensors.numpy import save_file

        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        self.stats["rows"] += len(next(iter(arrays.values())))
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
