"""The two model families, and everything that differs between them.

`ENCDEC` (T5-like encoder-decoder) and `DECODER` (Llama-like decoder-only) answer the same
questions: how an (input, target) pair of token ids is cut, laid out and packed (and how full a
build's rows come out), which loss trains the model, how an evaluated model encodes prompts,
scores continuations and generates, and which transformers classes load and adapt it. The
layout is written here over the array builders of `data/features.py`; the loss and evaluation
stay in `train/step.py` and `evals/lm.py`, and a family names the functions there that serve
it. No other module tests a family's name.

The names `encdec` and `decoder` are config values (`data.features.layout`); `family_named`
turns one into its family and `family_of` finds a loaded model's.

Example:
    >>> family_named("decoder").row_lengths([5, 6], [7, 1]), ENCDEC.row_lengths([5, 6], [7, 1])
    ((4,), (2, 2))
    >>> ENCDEC.fit_example([5, 6, 7, 1], [8, 1], (3, 2), eos_id=1)
    ([5, 6, 1], [8, 1], 1, 0)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from flankit.data.features import DECODER_KEYS, ENCDEC_KEYS, decoder_rows, encdec_rows, truncate
from flankit.errors import FlankitError

if TYPE_CHECKING:
    import torch

    from flankit.evals.lm import HFLM, GenRequest

Pair = tuple[list[int], list[int]]


class ModelFamily(Protocol):
    """What a model family decides; `ENCDEC` and `DECODER` are the two there are."""

    name: str  # the config value, e.g. data.features.layout
    is_encoder_decoder: bool  # as transformers' `config.is_encoder_decoder`
    feature_keys: tuple[str, ...]  # the arrays of a packed row
    target_key: str  # the array that marks target tokens
    segment_key: str  # the array whose segment ids count a row's examples
    length_keys: tuple[str, ...]  # the `data.features` lengths of a row
    peft_task: str  # the `peft.TaskType` member for LoRA
    auto_model: str  # the transformers Auto class that loads a pretrained model
    prompt_special_tokens: bool  # evaluation prompts get the tokenizer's special tokens
    reuses_prefix: bool  # a prompt head's keys and values can serve every prompt sharing it

    def lengths(self, feats) -> tuple[int, ...]: ...

    def token_pairs(self, tokenizer, inputs: list[str], targets: list[str]) -> list[Pair]: ...

    def fit_example(
        self, inp: list[int], tgt: list[int], lengths: tuple[int, ...], eos_id: int | None
    ) -> tuple[list[int], list[int], int, int]: ...

    def row_lengths(self, inp: list[int], tgt: list[int]) -> tuple[int, ...]: ...

    def rows_to_arrays(
        self, rows: Sequence[Sequence[Pair]], lengths: tuple[int, ...], pad_id: int
    ) -> dict[str, np.ndarray]: ...

    def target_tokens(self, arrays: dict) -> int: ...

    def packing(self, stats: dict, feats) -> dict: ...

    def packing_lines(self, tokens: dict) -> list[str]: ...

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]: ...

    def max_input_length(self, config) -> int: ...

    def loglikelihood(
        self, lm: HFLM, ctx: list[list[int]], cont: list[list[int]]
    ) -> list[float]: ...

    def generated(
        self, lm: HFLM, ids: list[list[int]], requests: list[GenRequest]
    ) -> Iterator[tuple[list[int], object]]: ...


class EncoderDecoder:
    """T5: inputs and targets packed side by side; EOS ends both; the encoder reads the prompt."""

    __slots__ = ()
    name = "encdec"
    is_encoder_decoder = True
    feature_keys = ENCDEC_KEYS
    target_key = "decoder_segment_ids"
    segment_key = "decoder_segment_ids"
    length_keys = ("input_length", "target_length")
    peft_task = "SEQ_2_SEQ_LM"
    auto_model = "AutoModelForSeq2SeqLM"
    prompt_special_tokens = True  # T5's tokenizer ends a prompt with EOS, as in training
    reuses_prefix = False  # encoder attention is bidirectional: a head depends on what follows

    def __repr__(self) -> str:
        return "ENCDEC"

    def lengths(self, feats) -> tuple[int, ...]:
        """(input length, target length) of a packed row."""
        return tuple(getattr(feats, k) for k in self.length_keys)

    def token_pairs(self, tokenizer, inputs: list[str], targets: list[str]) -> list[Pair]:
        from flankit.tokenizer import encode

        eos = tokenizer.eos_token_id
        ins = [ids + [eos] for ids in encode(tokenizer, inputs)]
        return [(i, o + [eos]) for i, o in zip(ins, encode(tokenizer, targets))]

    def fit_example(
        self, inp: list[int], tgt: list[int], lengths: tuple[int, ...], eos_id: int | None
    ) -> tuple[list[int], list[int], int, int]:
        """Inputs and targets each cut to their own length, keeping their start and EOS."""
        inp, di = truncate(inp, lengths[0], eos_id)
        tgt, dt = truncate(tgt, lengths[1], eos_id)
        return inp, tgt, di, dt

    def row_lengths(self, inp: list[int], tgt: list[int]) -> tuple[int, ...]:
        return (len(inp), len(tgt))

    def rows_to_arrays(
        self, rows: Sequence[Sequence[Pair]], lengths: tuple[int, ...], pad_id: int
    ) -> dict[str, np.ndarray]:
        """T5's decoder start id is the pad id."""
        return encdec_rows(rows, lengths[0], lengths[1], pad_id=pad_id, start_id=pad_id)

    def target_tokens(self, arrays: dict) -> int:
        return int((arrays["decoder_segment_ids"] > 0).sum())

    def packing(self, stats: dict, feats) -> dict:
        """How full a build's rows are on each side; the side that fills first sets the rows,
        and the input/target token ratio suggests a target length that fills both."""
        rows = max(stats["rows"], 1)
        eff_in = stats["input_tokens"] / (rows * feats.input_length)
        eff_tgt = stats["target_tokens"] / (rows * feats.target_length)
        ratio = stats["input_tokens"] / max(stats["target_tokens"], 1)
        return {
            "efficiency_inputs": eff_in,
            "efficiency_targets": eff_tgt,
            "filling_side": "inputs" if eff_in >= eff_tgt else "targets",
            "efficiency": max(eff_in, eff_tgt),
            "input_target_token_ratio": ratio,
            "suggested_target_length": int(round(feats.input_length / ratio)) if ratio else None,
        }

    def packing_lines(self, tokens: dict) -> list[str]:
        """The build summary's lines on packing, from `packing`'s numbers."""
        return [
            f"- packing efficiency: inputs {tokens['efficiency_inputs']:.3f}, targets "
            f"{tokens['efficiency_targets']:.3f} (filling side: {tokens['filling_side']})",
            f"- input/target token ratio {tokens['input_target_token_ratio']:.2f}: a target length "
            f"of about {tokens['suggested_target_length']} suits this input length",
        ]

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        from flankit.train.step import encdec_loss

        return encdec_loss(model, batch)

    def max_input_length(self, config) -> int:
        return 2048  # relative positions set no limit of their own

    def loglikelihood(self, lm: HFLM, ctx: list[list[int]], cont: list[list[int]]) -> list[float]:
        from flankit.evals.lm import encdec_loglikelihood

        return encdec_loglikelihood(lm, ctx, cont)

    def generated(
        self, lm: HFLM, ids: list[list[int]], requests: list[GenRequest]
    ) -> Iterator[tuple[list[int], object]]:
        from flankit.evals.lm import encdec_generated

        return encdec_generated(lm, ids, requests)


class DecoderOnly:
    """Llama-style: prompt then target in one sequence; only target tokens carry the loss."""

    __slots__ = ()
    name = "decoder"
    is_encoder_decoder = False
    feature_keys = DECODER_KEYS
    target_key = "loss_mask"
    segment_key = "segment_ids"
    length_keys = ("length",)
    peft_task = "CAUSAL_LM"
    auto_model = "AutoModelForCausalLM"
    prompt_special_tokens = False
    reuses_prefix = True  # causal attention: a head's keys and values ignore what follows

    def __repr__(self) -> str:
        return "DECODER"

    def lengths(self, feats) -> tuple[int, ...]:
        """(length,) of a packed row holding prompts and targets together."""
        return tuple(getattr(feats, k) for k in self.length_keys)

    def token_pairs(self, tokenizer, inputs: list[str], targets: list[str]) -> list[Pair]:
        """Targets get a leading space, as they follow the prompt's text; EOS ends them."""
        from flankit.tokenizer import encode

        eos = tokenizer.eos_token_id
        ins = encode(tokenizer, inputs)
        outs = encode(tokenizer, [" " + t for t in targets])
        return [(i, o + [eos]) for i, o in zip(ins, outs)]

    def fit_example(
        self, inp: list[int], tgt: list[int], lengths: tuple[int, ...], eos_id: int | None
    ) -> tuple[list[int], list[int], int, int]:
        """The target first (whole whenever it fits), then the prompt keeps its end: the question."""
        tgt, dt = truncate(tgt, lengths[0], eos_id)
        inp, di = truncate(inp, lengths[0] - len(tgt), None, keep="end")
        return inp, tgt, di, dt

    def row_lengths(self, inp: list[int], tgt: list[int]) -> tuple[int, ...]:
        return (len(inp) + len(tgt),)

    def rows_to_arrays(
        self, rows: Sequence[Sequence[Pair]], lengths: tuple[int, ...], pad_id: int
    ) -> dict[str, np.ndarray]:
        return decoder_rows(rows, lengths[0], pad_id=pad_id)

    def target_tokens(self, arrays: dict) -> int:
        # Position 0 predicts nothing: the loss reads loss_mask from position 1 on.
        return int(arrays["loss_mask"][:, 1:].sum())

    def packing(self, stats: dict, feats) -> dict:
        """How full a build's rows are: prompt and target tokens share one length."""
        rows = max(stats["rows"], 1)
        return {
            "efficiency": (stats["input_tokens"] + stats["target_tokens"]) / (rows * feats.length)
        }

    def packing_lines(self, tokens: dict) -> list[str]:
        return [f"- packing efficiency: {tokens['efficiency']:.3f}"]

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        from flankit.train.step import decoder_loss

        return decoder_loss(model, batch)

    def max_input_length(self, config) -> int:
        return getattr(config, "max_position_embeddings", 2048)

    def loglikelihood(self, lm: HFLM, ctx: list[list[int]], cont: list[list[int]]) -> list[float]:
        from flankit.evals.lm import decoder_loglikelihood

        return decoder_loglikelihood(lm, ctx, cont)

    def generated(
        self, lm: HFLM, ids: list[list[int]], requests: list[GenRequest]
    ) -> Iterator[tuple[list[int], object]]:
        from flankit.evals.lm import decoder_generated

        return decoder_generated(lm, ids, requests)


ENCDEC: ModelFamily = EncoderDecoder()
DECODER: ModelFamily = DecoderOnly()
FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (ENCDEC, DECODER)}


def family_named(name: str) -> ModelFamily:
    """The family a config value names ("encdec" or "decoder")."""
    family = FAMILIES.get(name)
    if family is None:
        raise FlankitError(
            f"unknown model family {name!r}",
            hint=f"use one of {', '.join(FAMILIES)} (encoder-decoder or decoder-only)",
        )
    return family


def as_family(family: str | ModelFamily) -> ModelFamily:
    """A family from either its config name or the family itself."""
    return family if any(family is f for f in FAMILIES.values()) else family_named(family)


def family_of(model_or_config) -> ModelFamily:
    """The family of a transformers model or its config."""
    config = getattr(model_or_config, "config", model_or_config)
    return ENCDEC if getattr(config, "is_encoder_decoder", False) else DECODER
