"""Batched decoding for decoder-only models that lets finished sequences leave the batch.

With a plain `generate`, a batch runs until its longest sequence ends: one rambling CoT answer
keeps every finished row in the forward pass to the token limit. Here a row leaves the batch
(and the key/value cache) as soon as it produces an end-of-sequence token, reaches its own
token limit, or its text contains one of its stop strings; the rest go on with a smaller batch.
The cache is preallocated (`StaticCache`), so a step writes in place instead of growing tensors.

Greedy steps take the argmax, as `generate` does; sampled ones draw from softmax(logits / T)
with a generator seeded by the request, so a path is reproducible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from flankit.evals.lm import GenRequest


def static_cache(model, batch: int, length: int, prefix=None):
    """A preallocated cache of `length` positions, holding `prefix`'s keys and values (a cache
    of one sequence) for each of `batch` rows when given."""
    from transformers import StaticCache

    cache = StaticCache(config=model.config, max_cache_len=length)
    if prefix is not None:
        for i, layer in enumerate(prefix.layers):
            keys = layer.keys.expand(batch, -1, -1, -1).contiguous()
            cache.update(keys, layer.values.expand(batch, -1, -1, -1).contiguous(), i)
    return cache


def _stopped(text: str, stops: tuple[str, ...]) -> bool:
    return any(s in text for s in stops)


@torch.no_grad()
def decode(model, tok, input_ids, mask, reqs: list[GenRequest], prefix=None) -> list[list[int]]:
    """Generated token ids for each row of a left-padded batch.

    `input_ids`/`mask` are the whole prompts ([shared prefix][padding][suffix] when `prefix`, the
    cache of the shared prefix, is given); positions follow the mask.
    """
    n, width = input_ids.shape
    max_new = max(r.max_new_tokens for r in reqs)
    past = prefix.get_seq_length() if prefix is not None else 0
    cache = static_cache(model, n, width + max_new, prefix)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    eos = _eos_ids(model, tok)
    first = reqs[0]
    gen = None
    if first.temperature > 0:
        gen = torch.Generator(device=input_ids.device).manual_seed(first.seed)
    logits = model(
        input_ids=input_ids[:, past:],
        attention_mask=mask,
        position_ids=positions[:, past:],
        past_key_values=cache,
        use_cache=True,
    ).logits[:, -1]
    alive = list(range(n))
    out: list[list[int]] = [[] for _ in range(n)]
    next_pos = positions[:, -1] + 1
    for _ in range(max_new):
        if first.temperature > 0:
            probs = torch.softmax(logits.float() / first.temperature, -1)
            nxt = torch.multinomial(probs, 1, generator=gen)[:, 0]
        else:
            nxt = logits.argmax(-1)
        keep = []
        for j, row in enumerate(alive):
            t = int(nxt[j])
            if t in eos:
                continue
            out[row].append(t)
            r = reqs[row]
            if len(out[row]) >= r.max_new_tokens:
                continue
            if r.stop and _stopped(tok.decode(out[row][-64:]), r.stop):
                continue
            keep.append(j)
        if not keep:
            break
        if len(keep) < len(alive):
            index = torch.tensor(keep, device=input_ids.device)
            cache.reorder_cache(index)
            mask, nxt, next_pos = mask[index], nxt[index], next_pos[index]
            alive = [alive[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones(len(alive), 1)], 1)
        logits = model(
            input_ids=nxt[:, None],
            attention_mask=mask,
            position_ids=next_pos[:, None],
            past_key_values=cache,
            use_cache=True,
        ).logits[:, -1]
        next_pos = next_pos + 1
    return out


def _eos_ids(model, tok) -> set[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    return ids
