"""The config of a training run (`flankit train CONFIG`): every key is used by training.

`data:` defines the examples (an `ExamplesConfig`: collections, mixture, render, features), or
names a finished build to read them from (`data: {built: DIR}`). Keys that only `flankit data
build` uses, and renamed keys, are refused with the key to use (`OTHER_COMMANDS_KEYS`,
`MOVED_KEYS`, see `flankit.config`). One `seed` sets the initialisation and the data order;
`data.mixture.seed` sets the order apart where given (`flankit.data.mixtures.data_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar, Literal

from flankit.data.build import ExamplesConfig, MixtureConfig
from flankit.data.collections import CollectionSpec
from flankit.errors import FlankitError
from flankit.evals.suite import EvalConfig
from flankit.models import ModelSpec


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adafactor", "adamw"] = "adafactor"
    lr: float = 5e-4
    warmup_steps: int = 0
    weight_decay: float = 0.0
    clip: float = 1.0


@dataclass(frozen=True)
class TrainData(ExamplesConfig):
    """The examples of a run: streamed from this config, or read from a build (`built`)."""

    built: str | None = None  # a finished `flankit data build` folder with tokens/


def defined_by_build() -> list[str]:
    """The `data.` keys that a build defines, so `data.built` refuses them (the features and
    mixture.seed stay: they are checked against the build)."""
    keys = [f"mixture.{f.name}" for f in fields(MixtureConfig) if f.name != "seed"]
    keys += [f.name for f in fields(ExamplesConfig) if f.name not in ("features", "mixture")]
    return keys


WITH_BUILD = "data.built reads examples a build has defined"
_BUILD = "`flankit data build`, not by `flankit train`"
VOCAB_SIZE = 8000


@dataclass(frozen=True)
class TrainConfig:
    """A training run. Hyperparameter defaults follow the paper's Flan-T5 runs (Table 22)."""

    data: TrainData = field(default_factory=TrainData)
    model: ModelSpec = field(default_factory=lambda: ModelSpec(shape="t5-tiny", tokenizer="train"))
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 1000
    batch_size: int = 64  # packed rows per optimizer step, over all processes
    micro_batch_size: int | None = None  # rows per forward pass; None = the whole local batch
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # segments: attention per packed example (CPU); sdpa: dense block-diagonal masks;
    # flex: FlexAttention block masks (GPU); auto: segments on CPU, sdpa on GPUs
    attention: Literal["auto", "sdpa", "segments", "flex"] = "auto"
    parallel: Literal["ddp", "fsdp"] = "ddp"  # fsdp: parameters sharded over processes (FSDP2)
    seed: int = 0  # initialisation and data order (unless data.mixture.seed is set)
    out_dir: str = "runs/flankit"
    save_every: int = 500
    keep_last: int = 2
    eval_every: int = 200
    heldout: list[CollectionSpec] = field(default_factory=list)  # tasks for held-out loss
    heldout_examples: int = 256
    eval_suite: EvalConfig | None = None  # a quick evaluation-suite run at every eval_every
    log_every: int = 10
    chunk_examples: int = 2048
    vocab_size: int = (
        VOCAB_SIZE  # when the tokenizer is trained on the mixture (model.tokenizer: train)
    )
    log_to: list[str] = field(default_factory=lambda: ["jsonl"])  # + tensorboard, wandb

    OTHER_COMMANDS_KEYS: ClassVar[dict[str, str]] = {
        # Keys of a build's config put at the top of a training one.
        **{
            key: f"`flankit data build` (and by `flankit train` as data.{key}), not at the top "
            "of a training config"
            for key in [
                "collections",
                "data_root",
                "mixture",
                "render",
                "decontaminate",
                "features",
                "skip_bad_rows",
            ]
        },
        **{key: _BUILD for key in ("output", "num_proc", "built")},
        # What only a build writes: in `data:` it would have no effect.
        **{
            f"data.{key}": _BUILD
            for key in ("output", "num_proc", "batch_size", "features.pack", "chunk_examples")
        },
        "data.features.rows_per_shard": _BUILD,
    }
    EXCLUSIVE_KEYS: ClassVar[dict] = {
        "data.built": (WITH_BUILD, [f"data.{key}" for key in defined_by_build()])
    }
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "tokenizer_vocab": "vocab_size",
        "data.features.tokenizer": "model.tokenizer",
        "data.features.vocab_size": "vocab_size",
        "data.seed": "seed",
    }

    def __post_init__(self) -> None:
        trains_tokenizer = (
            self.model.path is None
            and self.model.tokenizer in (None, "train")
            and self.data.built is None
        )
        if self.vocab_size != VOCAB_SIZE and not trains_tokenizer:
            raise FlankitError(
                "vocab_size is used only when a run trains its tokenizer (a new model, "
                "model.tokenizer: train, no data.built)",
                field="vocab_size",
                hint="remove it: this run's tokenizer is "
                + ("the build's" if self.data.built else "the model's or model.tokenizer"),
            )
