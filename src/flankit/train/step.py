"""The loss of one packed batch, for either family, as (sum of token losses, target tokens).

Returning a sum, not a mean, lets the loop normalise by the target tokens of the whole global
batch, so gradient accumulation and data parallelism give the same update as one big batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from flankit.family import ModelFamily, as_family
from flankit.train import flex, segments
from flankit.train.masks import causal_mask, cross_mask, encoder_mask


def mask_dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


def encdec_masks(model, enc_seg, dec_seg) -> tuple:
    """(encoder, decoder, cross) masks: BlockMasks under FlexAttention, example spans under
    segment attention, else additive."""
    if segments.is_segments(model):
        return (
            segments.span_mask(enc_seg, enc_seg, "self"),
            segments.span_mask(dec_seg, dec_seg, "causal"),
            segments.span_mask(dec_seg, enc_seg, "cross"),
        )
    if flex.is_flex(model):
        return (
            flex.encoder_block_mask(enc_seg),
            flex.causal_block_mask(dec_seg),
            flex.cross_block_mask(dec_seg, enc_seg),
        )
    dtype = mask_dtype(model)
    return (
        encoder_mask(enc_seg, dtype),
        causal_mask(dec_seg, dtype),
        cross_mask(dec_seg, enc_seg, dtype),
    )


def encdec_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    enc_seg, dec_seg = batch["encoder_segment_ids"], batch["decoder_segment_ids"]
    enc_mask, dec_mask, x_mask = encdec_masks(model, enc_seg, dec_seg)
    encoded = model.get_encoder()(input_ids=batch["encoder_input_ids"], attention_mask=enc_mask)
    out = model(
        encoder_outputs=encoded,
        attention_mask=x_mask,
        decoder_input_ids=batch["decoder_input_ids"],
        decoder_attention_mask=dec_mask,
        use_cache=False,
    )
    labels = batch["decoder_target_ids"].long().masked_fill(dec_seg == 0, -100)
    logits = out.logits.float()
    loss = F.cross_entropy(
        logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100, reduction="sum"
    )
    return loss, (labels != -100).sum()


def decoder_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    seg = batch["segment_ids"]
    if segments.is_segments(model):
        mask = segments.span_mask(seg, seg, "causal")
    elif flex.is_flex(model):
        mask = flex.causal_block_mask(seg)
    else:
        mask = causal_mask(seg, mask_dtype(model))
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=mask,
        position_ids=batch["positions"].long(),
        use_cache=False,  # with a cache object a packed batch silently attends across examples
    )
    labels = batch["input_ids"][:, 1:].long().masked_fill(batch["loss_mask"][:, 1:] == 0, -100)
    logits = out.logits[:, :-1].float()
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return loss, (labels != -100).sum()


def batch_loss(model, batch: dict[str, torch.Tensor], family: str | ModelFamily):
    """The family's loss (`family`: a family or its name)."""
    return as_family(family).loss(model, batch)
