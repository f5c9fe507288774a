"""A finished build's packed rows, read back for training (`data: {built: DIR}`).

`flankit data build` with a tokenizer writes `tokens/part-NNNNN.safetensors` and, next to them,
`tokens/manifest.json`: the tokenizer (name and a fingerprint of its vocabulary), the layout and
lengths, whether rows are packed, the chunk size and data seed they were packed with, the rows
per shard and the config that defines the examples. The build packs chunk by chunk and shuffles
each chunk's rows exactly as `flankit train` streams the same config (`data/pipeline.py`), so
reading the shards in order gives the batches that streaming would. `check_build` refuses a
build that disagrees with the training run (layout, lengths, tokenizer, seed, chunking), naming
the key.

Example (a fingerprint tells whether two tokenizers give the same ids):
    >>> from flankit.tokenizer import load_tokenizer
    >>> a, b = load_tokenizer("byt5"), load_tokenizer("byt5")
    >>> tokenizer_fingerprint(a) == tokenizer_fingerprint(b), len(tokenizer_fingerprint(a))
    (True, 16)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from flankit.config import from_dict, to_dict
from flankit.errors import FlankitError
from flankit.family import family_named
from flankit.outputs import write_atomic

MANIFEST = "manifest.json"
FORMAT = 1


def tokenizer_fingerprint(tokenizer) -> str:
    """A short hash of a tokenizer's vocabulary and special ids: equal when ids agree."""
    vocab = sorted(tokenizer.get_vocab().items())
    special = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    return hashlib.sha256(json.dumps([vocab, special]).encode()).hexdigest()[:16]


def write_manifest(out: Path, cfg, tokenizer, tokens) -> None:
    """Write `tokens/manifest.json` for a resolved build config `cfg` and its `TokenWriter`."""
    from flankit.data.build import ExamplesConfig
    from flankit.data.pipeline import FeatureConfig

    names = {f.name for f in dataclasses.fields(ExamplesConfig)}
    examples = {k: v for k, v in to_dict(cfg).items() if k in names}
    feats = {f.name: getattr(cfg.features, f.name) for f in dataclasses.fields(FeatureConfig)}
    examples["features"] = feats
    shards = sorted(p.name for p in tokens.folder.glob("part-*.safetensors"))
    manifest = {
        "format": FORMAT,
        "tokenizer": cfg.features.tokenizer,
        "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
        "layout": cfg.features.layout,
        "features": feats,
        "packed": cfg.features.pack,
        "chunk_examples": cfg.chunk_examples,
        "seed": cfg.mixture.seed,
        "rows": int(tokens.stats["rows"]),
        "shards": shards,
        "rows_per_shard": cfg.output.rows_per_shard,
        "examples": examples,
    }
    write_atomic(tokens.folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))


@dataclasses.dataclass(frozen=True)
class Build:
    """A finished build folder and its manifest."""

    folder: Path
    manifest: dict

    def examples(self):
        """The config that defines the build's examples (an `ExamplesConfig`)."""
        from flankit.data.build import ExamplesConfig

        where = str(self.folder / "tokens" / MANIFEST)
        return from_dict(ExamplesConfig, self.manifest["examples"], where=where)

    def tokenizer_source(self) -> str:
        """What to load the build's tokenizer from: its own folder when it trained one."""
        name = self.manifest["tokenizer"]
        return str(self.folder / "tokenizer") if name == "train" else name


def open_build(folder: str | Path) -> Build:
    """A finished build at `folder` (its stats.json written last), with packed token shards."""
    folder = Path(folder)
    if not (folder / "stats.json").exists():
        raise FlankitError(
            f"{folder}: not a finished build (no stats.json)",
            field="data.built",
            hint="run `flankit data build CONFIG --out DIR` with features.tokenizer set, to the end",
        )
    path = folder / "tokens" / MANIFEST
    if not path.exists():
        raise FlankitError(
            "the build has no token shards (it was built without features.tokenizer)",
            file=str(folder),
            field="data.built",
            hint="rebuild it with features.tokenizer set (a hub id, a folder, byt5 or train)",
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise FlankitError(f"unknown manifest format {manifest.get('format')!r}", file=str(path))
    if not manifest["packed"]:
        raise FlankitError(
            "the build's rows are not packed (features.pack: false); training reads packed rows",
            file=str(path),
            field="data.built",
            hint="rebuild it with features.pack: true",
        )
    return Build(folder, manifest)


def check_build(build: Build, *, layout: str, feats, tokenizer, seed: int, chunk: int) -> None:
    """Refuse a build whose rows differ from what this training run would stream."""
    m, where = build.manifest, str(build.folder / "tokens" / MANIFEST)
    if m["layout"] != layout:
        raise FlankitError(
            f"the build's layout is {m['layout']}, but the model is {layout}",
            file=where,
            field="model",
            hint=f"rebuild with features.layout: {layout}, or train a {m['layout']} model",
        )
    for key in family_named(layout).length_keys:
        if m["features"][key] != getattr(feats, key):
            raise FlankitError(
                f"data.features.{key} is {getattr(feats, key)}, the build's is {m['features'][key]}",
                file=where,
                field=f"data.features.{key}",
                hint=f"set data.features.{key}={m['features'][key]} or rebuild",
            )
    if m["tokenizer_fingerprint"] != tokenizer_fingerprint(tokenizer):
        raise FlankitError(
            f"the build's tokens come from tokenizer {m['tokenizer']!r}, not the model's",
            file=where,
            field="model.tokenizer",
            hint="train with the build's tokenizer (model.tokenizer unset or train, for a new "
            "model) or rebuild with the model's",
        )
    if m["seed"] != seed:
        raise FlankitError(
            f"the run's data seed is {seed}, the build was shuffled with seed {m['seed']}",
            file=where,
            field="seed",
            hint=f"set seed={m['seed']}, or data.mixture.seed={m['seed']} to keep the build's "
            "order with another initialisation",
        )
    if m["chunk_examples"] != chunk:
        raise FlankitError(
            f"chunk_examples is {chunk}, the build packed chunks of {m['chunk_examples']}",
            file=where,
            field="chunk_examples",
            hint=f"set chunk_examples={m['chunk_examples']}",
        )


class BuiltStream:
    """Packed rows read in order from a build's shards, round and round; resumable by `state()`.

    `next_batch(n)` gives feature arrays like `PackedStream.next_batch`."""

    def __init__(self, build: Build, state: dict | None = None) -> None:
        self.build = build
        m = build.manifest
        self.family = family_named(m["layout"])
        self.shards = [build.folder / "tokens" / name for name in m["shards"]]
        self.rows = int(m["rows"])
        if not self.rows:
            raise FlankitError("the build holds no rows", file=str(build.folder))
        self.per_shard = int(m["rows_per_shard"])
        if state is not None and "built_row" not in state:
            raise FlankitError(
                "the checkpoint's data position is a streamed mixture's, not a build's",
                field="data.built",
                hint="resume with the data config the run started with",
            )
        self._pos = int(state["built_row"]) if state else 0
        self.examples_seen = int(state.get("examples_seen", 0)) if state else 0
        self._cache: tuple[int, dict] | None = None

    def _shard(self, i: int) -> dict[str, np.ndarray]:
        if self._cache is None or self._cache[0] != i:
            from safetensors.numpy import load_file

            self._cache = (i, load_file(str(self.shards[i])))
        return self._cache[1]

    def next_batch(self, n: int) -> dict[str, np.ndarray]:
        parts = []
        while sum(len(p[self.family.segment_key]) for p in parts) < n:
            need = n - sum(len(p[self.family.segment_key]) for p in parts)
            row = self._pos % self.rows  # after the last row, start over (another epoch)
            shard, offset = divmod(row, self.per_shard)
            arrays = self._shard(shard)
            take = min(need, len(arrays[self.family.segment_key]) - offset)
            parts.append({k: v[offset : offset + take] for k, v in arrays.items()})
            self._pos += take
        batch = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        self.examples_seen += int(batch[self.family.segment_key].max(axis=1).sum())
        return batch

    def state(self) -> dict:
        return {"built_row": self._pos, "examples_seen": self.examples_seen}
