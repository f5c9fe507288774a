"""Streaming decoding for decoder-only models: a pool of rows, refilled as rows finish.

With a plain `generate`, a batch runs until its longest sequence ends: one rambling CoT answer
keeps every finished row in the forward pass to the token limit. Here every pending request of
a call goes through one pool of `rows` rows (continuous batching): a row leaves as soon as it
produces an end-of-sequence token, reaches its own token limit, or its text contains one of its
stop strings, its request is handed back at once (`stream` yields it), and the next prompts take
the free rows. Prompts that share a few-shot head (one subtask's exemplars) reuse its keys and
values, computed once.

The pool's keys and values live in preallocated tensors. All rows write their next token at the
same slot; a joining row's prompt is placed right before that slot, and slots that are not its
own are masked out, so positions (which follow each row's own tokens) and attention are what a
single-sequence `generate` computes. When the slots run out, the rows are shifted left past the
slots no active row uses.

A shared head is not copied into the rows: the pool holds only each row's rest of the prompt and
its output, and a step attends to each head once for all the rows that share it (one matrix
product over the head's keys), then merges that with the row's own slots by their softmax
normalisers. So the slots every row reads are as wide as the longest rest, not the longest
few-shot prompt: rows of a 240-token subtask no longer read past a 770-token one's head.

Greedy steps take the argmax, as `generate` does; sampled ones draw from softmax(logits / T)
with one generator seeded by the first request, so a call is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from flankit.errors import FlankitError

if TYPE_CHECKING:
    from flankit.evals.lm import GenRequest


# Shift the rows left once this many leading slots are unused by every active row (attention
# runs over all slots up to the write position).
COMPACT_AFTER = 128
POOL_ATTENTION = "flankit_pool"  # the attention a pool step runs (`_pool_attention`)


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


class SlotCache:
    """Keys and values in preallocated tensors `[rows, heads, slots, dim]`, one pair per layer.

    A forward pass of `q` tokens writes them at slots `write .. write + q` of every row and
    attends over slots `0 .. write + q` (the caller's 4-D mask says which are each row's own).
    """

    def __init__(self, layers: int, rows: int, slots: int) -> None:
        self.rows, self.slots, self.write = rows, slots, 0
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers

    def update(self, keys, values, layer_idx: int, *args, **kwargs):
        if self.keys[layer_idx] is None:
            shape = (self.rows, keys.shape[1], self.slots, keys.shape[-1])
            self.keys[layer_idx] = keys.new_zeros(shape)
            self.values[layer_idx] = values.new_zeros((*shape[:3], values.shape[-1]))
        end = self.write + keys.shape[2]
        self.keys[layer_idx][:, :, self.write : end] = keys
        self.values[layer_idx][:, :, self.write : end] = values
        return self.keys[layer_idx][:, :, :end], self.values[layer_idx][:, :, :end]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.write


def _additive(allowed: torch.Tensor, dtype) -> torch.Tensor:
    """A boolean `[rows, queries, keys]` mask as the additive 4-D mask attention takes."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    low = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, low)[:, None]


def _softmax_parts(scores: torch.Tensor, values: torch.Tensor):
    """Attention over one set of keys, unnormalised: (max score, sum of exp, weighted values)."""
    top = scores.amax(-1, keepdim=True)
    p = torch.exp(scores - top)
    return top, p.sum(-1, keepdim=True), torch.matmul(p.to(values.dtype), values).float()


@dataclass
class _Heads:
    """The shared heads of one pool step: (row indices, head cache) per head, and the layers
    that attended to them (a model whose attention bypasses transformers' interface would
    silently ignore them)."""

    groups: list[tuple[torch.Tensor, SlotCache]]
    calls: int = 0


def _pool_attention(module, query, key, value, attention_mask, scaling=None, pool_heads=None, **kw):
    """One decoding step's attention: each row's own slots (`key`, `value`, `attention_mask`)
    and the keys and values of its shared head (`pool_heads`). Each head is read once for all
    its rows; the two parts are merged by their softmax normalisers, which gives softmax over
    the concatenated keys."""
    rows, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    rep = heads // kv_heads
    scale = scaling if scaling is not None else dim**-0.5
    q = query.reshape(rows, kv_heads, rep, dim)
    scores = torch.matmul(q, key.transpose(-1, -2)).float() * scale + attention_mask
    top, total, weighted = _softmax_parts(scores, value)
    out = weighted / total
    pool_heads.calls += 1
    for index, head in pool_heads.groups:
        n, layer = len(index), module.layer_idx
        hk = head.keys[layer][0, :, : head.write]  # [kv_heads, head length, dim]
        hv = head.values[layer][0, :, : head.write]
        qg = q[index].transpose(0, 1).reshape(kv_heads, n * rep, dim)
        h_scores = torch.matmul(qg, hk.transpose(-1, -2)).float() * scale
        h_top, h_total, h_weighted = (
            t.reshape(kv_heads, n, rep, -1).transpose(0, 1) for t in _softmax_parts(h_scores, hv)
        )
        both = torch.maximum(h_top, top[index])
        a, b = torch.exp(h_top - both), torch.exp(top[index] - both)
        out[index] = (h_weighted * a + weighted[index] * b) / (h_total * a + total[index] * b)
    out = out.to(query.dtype).reshape(rows, heads, 1, dim).transpose(1, 2).contiguous()
    return out, None


def _register_pool_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(POOL_ATTENTION, _pool_attention)


def shares_heads(model) -> bool:
    """Whether a pool step may attend to shared heads apart (`_pool_attention`): plain softmax
    attention through transformers' attention interface, no sliding window or logit cap."""
    cfg = model.config
    plain = getattr(cfg, "_attn_implementation", None) in ("sdpa", "eager")
    special = ("sliding_window", "attn_logit_softcapping", "use_alibi", "alibi")
    return plain and not any(getattr(cfg, k, None) for k in special)


def _dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


def _head(model, head: list[int], pad: int, device) -> SlotCache:
    """The keys and values of one shared head (one row)."""
    cache = _prefill(model, None, [head], pad, device)[0]
    cache.write = len(head)
    return cache


@torch.no_grad()
def _prefill(model, head: SlotCache | None, rests: list[list[int]], pad: int, device):
    """Keys and values of `[head][padding][rest]` for each prompt, their key mask, next
    positions, and the logits of each prompt's last token."""
    n, plen = len(rests), (head.write if head is not None else 0)
    width = max(len(r) for r in rests)
    ids = torch.full((n, width), pad, dtype=torch.long)
    own = torch.zeros((n, plen + width), dtype=torch.bool)
    own[:, :plen] = True
    for j, r in enumerate(rests):
        ids[j, width - len(r) :] = torch.tensor(r)
        own[j, plen + width - len(r) :] = True
    ids, own = ids.to(device), own.to(device)
    cache = SlotCache(model.config.num_hidden_layers, n, plen + width)
    if head is not None:
        for i, (k, v) in enumerate(zip(head.keys, head.values)):
            cache.keys[i] = k.new_zeros((n, k.shape[1], plen + width, k.shape[3]))
            cache.values[i] = v.new_zeros((n, v.shape[1], plen + width, v.shape[3]))
            cache.keys[i][:, :, :plen] = k[:, :, :plen]
            cache.values[i][:, :, :plen] = v[:, :, :plen]
    cache.write = plen
    q = torch.arange(plen, plen + width, device=device)
    k = torch.arange(plen + width, device=device)
    # Each query sees its row's own earlier tokens; a padding query sees itself, so no row
    # of the softmax is empty (its keys and values are never attended to).
    allowed = (own[:, None, :] & (k[None, None, :] <= q[None, :, None])) | (
        k[None, None, :] == q[None, :, None]
    )
    positions = (own.long().cumsum(-1) - 1).clamp(min=0)[:, plen:]
    logits = model(
        input_ids=ids,
        attention_mask=_additive(allowed, _dtype(model)),
        position_ids=positions,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits[:, -1]
    return cache, own, positions[:, -1] + 1, logits


@dataclass
class Prompt:
    """One request's prompt: its index, the shared head's token ids (may be empty) and the rest."""

    index: int
    head: tuple[int, ...]
    rest: list[int]


class _Pool:
    """The rows being decoded: their slots in one `SlotCache`, masks, positions and outputs."""

    def __init__(self, model, rows: int, slots: int, device) -> None:
        self.model, self.device = model, device
        self.cache = SlotCache(model.config.num_hidden_layers, rows, slots)
        self.own = torch.zeros((rows, slots), dtype=torch.bool, device=device)
        self.pos = torch.zeros(rows, dtype=torch.long, device=device)
        self.last = torch.zeros(rows, dtype=torch.long, device=device)
        self.start = [0] * rows
        self.req: list[int | None] = [None] * rows  # request index per row (None: free)
        self.out: list[list[int]] = [[] for _ in range(rows)]
        self.head: list[SlotCache | None] = [None] * rows  # a shared head kept apart, per row

    @property
    def rows(self) -> int:
        return self.cache.rows

    def free(self) -> list[int]:
        return [b for b, r in enumerate(self.req) if r is None]

    def active(self) -> list[int]:
        return [b for b, r in enumerate(self.req) if r is not None]

    def release(self, b: int) -> None:
        self.req[b], self.out[b], self.head[b] = None, [], None
        self.own[b] = False

    def _shift(self, by: int) -> None:
        """Move every row's slots by `by` (left when negative)."""
        c, w = self.cache, self.cache.write
        src, dst = (slice(-by, w), slice(0, w + by)) if by < 0 else (slice(0, w), slice(by, w + by))
        for t in (*c.keys, *c.values):
            if t is not None:
                t[:, :, dst] = t[:, :, src].clone()
        self.own[:, dst] = self.own[:, src].clone()
        if by > 0:
            self.own[:, :by] = False
        self.start = [s + by for s in self.start]
        c.write = w + by

    def compact(self) -> None:
        """Drop the slots before the earliest active row's first one."""
        act = self.active()
        first = min((self.start[b] for b in act), default=self.cache.write)
        if first > 0:
            self._shift(-first)

    def place(
        self, rows: list[int], part: SlotCache, own: torch.Tensor, pos, head: SlotCache | None
    ) -> None:
        """Put prefilled prompts (`part`, whose slots end where the pool writes next) in `rows`;
        with `head`, only their slots after it (the step attends to the head apart)."""
        skip = head.write if head is not None else 0
        width = part.slots - skip
        if self.cache.write < width:
            self._shift(width - self.cache.write)
        w = self.cache.write
        index = torch.tensor(rows, device=self.device)
        for i in range(len(part.keys)):
            if self.cache.keys[i] is None:
                k, v = part.keys[i], part.values[i]
                self.cache.keys[i] = k.new_zeros(
                    (self.rows, k.shape[1], self.cache.slots, k.shape[3])
                )
                self.cache.values[i] = v.new_zeros(
                    (self.rows, v.shape[1], self.cache.slots, v.shape[3])
                )
            self.cache.keys[i][index, :, w - width : w] = part.keys[i][:, :, skip:]
            self.cache.values[i][index, :, w - width : w] = part.values[i][:, :, skip:]
        self.own[index] = False
        self.own[index, w - width : w] = own[:, skip:]
        self.pos[index] = pos
        for b in rows:
            self.start[b], self.head[b] = w - width, head

    def keep(self, rows: list[int]) -> None:
        """Shrink the pool to `rows` (when nothing is left to refill the others)."""
        index = torch.tensor(rows, device=self.device)
        c = self.cache
        for lists in (c.keys, c.values):
            for i, t in enumerate(lists):
                if t is not None:
                    lists[i] = t.index_select(0, index)
        c.rows = len(rows)
        self.own, self.pos, self.last = self.own[index], self.pos[index], self.last[index]
        self.start = [self.start[b] for b in rows]
        self.req = [self.req[b] for b in rows]
        self.out = [self.out[b] for b in rows]
        self.head = [self.head[b] for b in rows]

    def _heads(self) -> _Heads | None:
        """The shared heads the active rows attend to apart, with their rows."""
        groups: dict[int, tuple[SlotCache, list[int]]] = {}
        for b in self.active():
            if self.head[b] is not None:
                groups.setdefault(id(self.head[b]), (self.head[b], []))[1].append(b)
        if not groups:
            return None
        return _Heads([(torch.tensor(b, device=self.device), h) for h, b in groups.values()])

    @torch.no_grad()
    def step(self) -> torch.Tensor:
        """One token for every row; the logits of the next."""
        if self.cache.write == self.cache.slots:
            self.compact()
        w = self.cache.write
        self.own[:, w] = True  # free rows see their own slot only: no empty softmax row
        heads = self._heads()
        extra = {"pool_heads": heads} if heads else {}
        cfg = self.model.config
        impl = cfg._attn_implementation
        if heads:
            cfg._attn_implementation = POOL_ATTENTION
        try:
            logits = self.model(
                input_ids=self.last[:, None],
                attention_mask=_additive(self.own[:, None, : w + 1], _dtype(self.model)),
                position_ids=self.pos[:, None],
                cache=self.cache,
                use_cache=True,
                logits_to_keep=1,
                **extra,
            ).logits[:, -1]
        finally:
            cfg._attn_implementation = impl
        if heads and heads.calls != cfg.num_hidden_layers:
            raise FlankitError(
                f"{type(self.model).__name__}: {heads.calls} of {cfg.num_hidden_layers} layers "
                "attended to the shared few-shot heads; decode with share_prefix=False"
            )
        self.cache.write = w + 1
        self.pos += 1
        return logits


def _stopped(text: str, stops: tuple[str, ...]) -> bool:
    return any(s in text for s in stops)


class _Stream:
    """One `stream` call: the pool, the prompts still to start, and the shared heads in use."""

    def __init__(self, model, tok, prompts: list[Prompt], reqs: list[GenRequest], rows: int):
        self.model, self.tok, self.reqs = model, tok, reqs
        self.device = next(model.parameters()).device
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        self.eos = _eos_ids(model, tok)
        first = reqs[prompts[0].index]
        self.temperature = first.temperature
        self.gen = None
        if first.temperature > 0:
            self.gen = torch.Generator(device=self.device).manual_seed(first.seed)
        max_new = max(reqs[p.index].max_new_tokens for p in prompts)
        self.apart = shares_heads(model)  # heads attended to apart, not copied into rows
        if self.apart:
            _register_pool_attention()
        slots = max(len(p.rest) + (0 if self.apart else len(p.head)) for p in prompts) + max_new
        self.pool = _Pool(model, min(rows, len(prompts)), slots, self.device)
        self.heads: dict[tuple[int, ...], SlotCache] = {}
        self.left: dict[tuple[int, ...], int] = {}  # prompts still to start, per head
        for p in prompts:
            self.left[p.head] = self.left.get(p.head, 0) + 1
        self.queue = list(reversed(prompts))
        self.refill_at = max(1, self.pool.rows // 8)  # free rows worth a prefill

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        if self.gen is None:
            return logits.argmax(-1)
        probs = torch.softmax(logits.float() / self.temperature, -1)
        return torch.multinomial(probs, 1, generator=self.gen)[:, 0]

    def accept(self, b: int, t: int) -> bool:
        """Record token `t` for row `b`; whether the row goes on."""
        pool, r = self.pool, self.reqs[self.pool.req[b]]
        if t in self.eos:
            return False
        pool.out[b].append(t)
        if len(pool.out[b]) >= r.max_new_tokens:
            return False
        return not (r.stop and _stopped(self.tok.decode(pool.out[b][-64:]), r.stop))

    def head(self, head: tuple[int, ...]) -> SlotCache | None:
        if head and head not in self.heads:
            self.heads[head] = _head(self.model, list(head), self.pad, self.device)
        return self.heads.get(head)

    def start(self, free: list[int]) -> list[int]:
        """Start the next prompts in the `free` rows; the rows done at their first token."""
        take = [self.queue.pop() for _ in range(min(len(free), len(self.queue)))]
        by_head: dict[tuple[int, ...], list[Prompt]] = {}
        for p in take:
            by_head.setdefault(p.head, []).append(p)
        done = []
        for head, group in by_head.items():
            rests = [p.rest for p in group]
            shared = self.head(head)
            part, own, pos, logits = _prefill(self.model, shared, rests, self.pad, self.device)
            self.left[head] -= len(group)
            if not self.left[head]:
                self.heads.pop(head, None)
            rows, free = free[: len(group)], free[len(group) :]
            self.pool.place(rows, part, own, pos, shared if self.apart else None)
            nxt = self.choose(logits)
            for j, b in enumerate(rows):
                self.pool.req[b], self.pool.out[b] = group[j].index, []
                self.pool.last[b] = nxt[j]
                if not self.accept(b, int(nxt[j])):
                    done.append(b)
        return done

    def step(self) -> list[int]:
        """One token for every active row; the rows done."""
        nxt = self.choose(self.pool.step())
        done = []
        for b in self.pool.active():
            self.pool.last[b] = nxt[b]
            if not self.accept(b, int(nxt[b])):
                done.append(b)
        return done

    def tidy(self) -> None:
        """Shrink the pool once nothing is left to start; drop slots no active row uses."""
        pool = self.pool
        act = pool.active()
        # Finished rows still cost a step each; copying the rest out costs about one step.
        if not self.queue and act and pool.rows - len(act) >= max(1, pool.rows // 8):
            pool.keep(act)
            act = pool.active()
        if min((pool.start[b] for b in act), default=0) >= COMPACT_AFTER:
            pool.compact()

    def run(self) -> Iterator[tuple[int, list[int]]]:
        pool = self.pool
        while self.queue or pool.active():
            free = pool.free()
            if self.queue and len(free) >= min(self.refill_at, len(self.queue)):
                done = self.start(free)
            else:
                done = self.step()
            for b in done:
                yield pool.req[b], pool.out[b]
                pool.release(b)
            self.tidy()


@torch.no_grad()
def stream(
    model, tok, prompts: list[Prompt], reqs: list[GenRequest], *, rows: int = 32
) -> Iterator[tuple[int, list[int]]]:
    """(request index, generated token ids) for every prompt, each as soon as it is finished.

    Prompts start in the order given (keep those of one head together, and longest first
    within it). `reqs` is indexed by `Prompt.index`; sampling follows the first prompt's
    temperature and seed.
    """
    if prompts:
        yield from _Stream(model, tok, prompts, reqs, rows).run()


def _eos_ids(model, tok) -> set[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    return ids
