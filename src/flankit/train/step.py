"""The loss of one packed batch, for either family, as (sum of token losses, target tokens).

Returning a sum, not a mean, lets the loop normalise by the target tokens of the whole global
batch, so gradient accumulation and data parallelism give the same update as one big batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from flankit.train.masks import causal_mask, cross_mask, encoder_mask


def mask_dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


def encdec_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = mask_dtype(model)
    enc_seg, dec_seg = batch["encoder_segment_ids"], batch["decoder_segment_ids"]
    encoded = model.get_encoder()(
        input_ids=batch["encoder_input_ids"], attention_mask=encoder_mask(enc_seg, dtype)
    )
    out = model(
        encoder_outputs=encoded,
        attention_mask=cross_mask(dec_seg, enc_seg, dtype),
        decoder_input_ids=batch["decoder_input_ids"],
        decoder_attention_mask=causal_mask(dec_seg, dtype),
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
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=causal_mask(seg, mask_dtype(model)),
        position_ids=batch["positions"].long(),
        use_cache=False,  # with a cache object a packed batch silently attends across examples
    )
    labels = batch["input_ids"][:, 1:].long().masked_fill(batch["loss_mask"][:, 1:] == 0, -100)
    logits = out.logits[:, :-1].float()
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return loss, (labels != -100).sum()


def batch_loss(model, batch: dict[str, torch.Tensor], family: str):
    return encdec_loss(model, batch) if family == "encdec" else decoder_loss(model, batch)
