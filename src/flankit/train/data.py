"""Where a training run's examples come from: the mixture its config streams, or a finished
build (`data.built`), and the rows both give in the same order.

With `data.built`, keys of `data:` that would define the examples again are refused, and the
build's manifest is checked against the run (layout, lengths, tokenizer, data seed, chunking).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from flankit.data.build import ExamplesConfig, load_mixture
from flankit.data.built import Build, BuiltStream, check_build, open_build
from flankit.data.collections import load_collection
from flankit.data.mixtures import Mixture, data_seed
from flankit.data.pipeline import FeatureConfig, PackedStream, pack_texts, render_refs
from flankit.data.sources import BadRows
from flankit.errors import FlankitError
from flankit.family import ModelFamily, as_family
from flankit.train.config import WITH_BUILD, TrainConfig, TrainData, defined_by_build


@dataclass
class RunData:
    """Where a run's examples come from: the mixture its config defines, or a finished build."""

    examples: ExamplesConfig  # what defines them (for data.built, the build's own config)
    mix: Mixture | None
    build: Build | None
    load_report: object = None


def run_data(cfg: TrainConfig) -> RunData:
    """The examples a run trains on; their order follows `data_seed` (the run's seed unless
    `data.mixture.seed` sets it apart)."""
    if cfg.data.built is None:
        mix, report = load_mixture(cfg.data, seed=cfg.seed)
        return RunData(cfg.data, mix, None, report)
    refuse_with_build(cfg.data)
    build = open_build(cfg.data.built)
    return RunData(build.examples(), None, build)


def refuse_with_build(data: TrainData) -> None:
    """With `data.built`, the build defines the examples: a key that would define them again
    is refused (the features and `mixture.seed` stay, and are checked against the build). The
    config loader refuses such a key wherever it is written; this catches one set in code."""
    unset = TrainData()
    for key in defined_by_build():
        if _at(data, key) != _at(unset, key):
            raise FlankitError(
                f"data.{key} is set, but {WITH_BUILD}",
                field=f"data.{key}",
                hint="remove it (the build's config is in its stats.json), or drop data.built "
                "to stream this config",
            )


def _at(config, key: str):
    for part in key.split("."):
        config = getattr(config, part)
    return config


def run_features(cfg: TrainConfig, family: str | ModelFamily) -> FeatureConfig:
    """The features for the model's family; a layout set for another family is refused."""
    family = as_family(family)
    layout = cfg.data.features.layout
    if layout is not None and layout != family.name:
        raise FlankitError(
            f"data.features.layout is {layout}, but the model is {family.name}",
            field="data.features.layout",
            hint=f"remove it (training takes the layout from the model) or set it to {family.name}",
        )
    return replace(cfg.data.features, layout=family.name)


def run_stream(cfg: TrainConfig, data: RunData, tok, feats: FeatureConfig, state):
    """The run's packed rows: streamed from the mixture, or read from the build."""
    if data.build is None:
        render = data.examples.render
        return PackedStream(data.mix, tok, feats, render, cfg.chunk_examples, state=state)
    seed = data_seed(cfg.data.mixture.seed, cfg.seed)
    check_build(
        data.build,
        layout=feats.layout,
        feats=feats,
        tokenizer=tok,
        seed=seed,
        chunk=cfg.chunk_examples,
    )
    return BuiltStream(data.build, state)


def heldout_batches(cfg: TrainConfig, examples, tok, feats: FeatureConfig, batch: int = 8):
    """Fixed held-out rows as feature arrays, `batch` rows each."""
    if not cfg.heldout:
        return []
    bad = BadRows(skip=examples.skip_bad_rows)
    loaded = [(s, load_collection(s, examples.data_root, bad)) for s in cfg.heldout]
    mix = Mixture(loaded, seed=cfg.seed + 1)
    refs = [r for r, _ in zip(mix.every_example_once(), range(cfg.heldout_examples))]
    rows = pack_texts(*render_refs(mix, refs, examples.render), tok, feats)
    family = as_family(feats.layout)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    lengths = family.lengths(feats)
    return [
        family.rows_to_arrays(rows[i : i + batch], lengths, pad) for i in range(0, len(rows), batch)
    ]


def card_config(cfg: TrainConfig, data: RunData) -> TrainConfig:
    """The run's config as its model card tells it: with the build's examples for data.built."""
    if data.build is None:
        return cfg
    examples = {f.name: getattr(data.examples, f.name) for f in fields(ExamplesConfig)}
    return replace(cfg, data=TrainData(**examples, built=cfg.data.built))
