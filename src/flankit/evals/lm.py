"""The one model interface evaluation needs, and its Hugging Face implementation.

`LM` has two calls: `loglikelihood` (sum of log-probabilities of continuations) and `generate`
(greedy or sampled, cut at stop strings; the text is returned as generated, leading and
trailing whitespace included, so it matches lm-evaluation-harness's output token for token). `HFLM` serves encoder-decoder (T5) and decoder-only
(Llama, SmolLM) models: requests are batched longest first, decoder prompts are left-padded, and
prompts longer than `max_input_length` are cut from the left and counted, never silently.

Few-shot prompts of one subtask share a long head (the exemplars). For decoder models `HFLM`
computes the keys and values of a shared head once and reuses them for every request that
starts with it (`share_prefix`). Their generation (`decode.py`) streams every request of a call
through one pool of `decode_batch_size` rows: a sequence leaves when it stops, its text is
handed back at once (`generate_stream`), and the next prompt takes its row. Encoder-decoder
generation uses `generate` with stop strings, one batch at a time.

The model's family (`flankit.family`) picks what differs: whether prompts get special tokens,
whether heads are shared, and which of `encdec_loglikelihood` / `decoder_loglikelihood` and
`encdec_generated` / `decoder_generated` below serve a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from flankit.evals.decode import Prompt, static_cache, stream
from flankit.family import family_of
from flankit.models import ModelSpec, load_pretrained


@dataclass(frozen=True)
class GenRequest:
    prompt: str
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    seed: int = 0


class LM(Protocol):
    name: str

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]: ...

    def generate(self, requests: list[GenRequest]) -> list[str]: ...


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """The text before the first stop string."""
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def _common_length(a: list[int], b: list[int], upto: int) -> int:
    n = min(len(a), len(b), upto)
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def prefix_groups(
    seqs: list[list[int]], keep: list[int], min_prefix: int
) -> list[tuple[int, list[int]]]:
    """Requests that share a token prefix of at least `min_prefix` tokens, as (prefix length, members).

    Request i keeps at least `keep[i]` tokens after the prefix. Requests that share nothing long
    come as groups with prefix length 0.
    """
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    groups: list[tuple[int, list[int]]] = []
    for i in order:
        if groups:
            length, members = groups[-1]
            head = members[0]
            bound = min(len(seqs[i]) - keep[i], length or len(seqs[head]) - keep[head])
            common = _common_length(seqs[head], seqs[i], bound)
            if common >= min_prefix:
                groups[-1] = (common, members + [i])
                continue
        groups.append((0, [i]))
    return groups


class HFLM:
    """A transformers model behind the `LM` interface."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        name: str = "model",
        max_input_length: int | None = None,
        batch_size: int = 8,
        device: str | None = None,
        share_prefix: bool = True,
        min_prefix: int = 64,
        decode_batch_size: int | None = None,
    ) -> None:
        self.model, self.tok, self.name = model.eval(), tokenizer, name
        self.family = family_of(model)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device)
        if max_input_length is None:
            max_input_length = self.family.max_input_length(model.config)
        self.max_input_length = max_input_length
        self.batch_size = batch_size
        # Rows decoded together (decoder models): per-step cost barely grows with rows on a CPU.
        self.decode_batch_size = decode_batch_size or max(batch_size, 32)
        self.share_prefix = share_prefix and self.family.reuses_prefix
        self.min_prefix = min_prefix
        self.truncated = 0
        self.truncated_texts: set[str] = set()  # the prompts cut, so each request is counted
        self._watchable: dict[str, bool] = {}  # stop string -> the tokenizer can spell it
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token

    @classmethod
    def load(cls, spec: ModelSpec, **kw) -> HFLM:
        """Load a pretrained model; bf16 where it will run on a GPU that supports it."""
        on_cuda = (kw.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")).startswith(
            "cuda"
        )
        dtype = torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else None
        model, tok, _ = load_pretrained(spec, dtype=dtype)
        kw.setdefault("name", spec.path + (f"/{spec.gguf_file}" if spec.gguf_file else ""))
        return cls(model, tok, **kw)

    def _encode(self, text: str, limit: int) -> list[int]:
        ids = self.tok(text, add_special_tokens=self.family.prompt_special_tokens)["input_ids"]
        if len(ids) > limit:
            self.truncated += 1
            self.truncated_texts.add(text)
            ids = ids[-limit:]  # keep the end: the question being asked
        return ids

    def _batches(self, idx: list[int], lengths: list[int]):
        order = sorted(idx, key=lambda i: -lengths[i])
        for s in range(0, len(order), self.batch_size):
            yield order[s : s + self.batch_size]

    def _groups(self, seqs: list[list[int]], keep: list[int]) -> list[tuple[int, list[int]]]:
        if not self.share_prefix:
            return [(0, list(range(len(seqs))))]
        return prefix_groups(seqs, keep, self.min_prefix)

    def _prefix_cache(self, prefix: list[int]):
        """The keys and values of a shared prefix (one sequence)."""
        ids = torch.tensor([prefix], device=self.device)
        return self.model(input_ids=ids, use_cache=True).past_key_values

    @torch.no_grad()
    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        ctx = [self._encode(c, self.max_input_length) for c, _ in requests]
        cont = [self.tok(x, add_special_tokens=False)["input_ids"] for _, x in requests]
        return self.family.loglikelihood(self, ctx, cont)

    def _pad(
        self, seqs: list[list[int]], *, left: bool, value: int | None = None
    ) -> dict[str, torch.Tensor]:
        pad = self.tok.pad_token_id if value is None else value
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            if left:
                ids[r, width - len(s) :] = torch.tensor(s)
                mask[r, width - len(s) :] = 1
            else:
                ids[r, : len(s)] = torch.tensor(s)
                mask[r, : len(s)] = 1
        return {"ids": ids.to(self.device), "mask": mask.to(self.device)}

    def generate(self, requests: list[GenRequest]) -> list[str]:
        out = [""] * len(requests)
        for i, text in self.generate_stream(requests):
            out[i] = text
        return out

    @torch.no_grad()
    def generate_stream(self, requests: list[GenRequest]):
        """(request index, text) for each request as soon as it is finished."""
        ids = [self._encode(r.prompt, self.max_input_length) for r in requests]
        for idx, gen in self.family.generated(self, ids, requests):
            for j, i in enumerate(idx):
                text = self.tok.decode(gen[j], skip_special_tokens=True)
                # Whitespace kept: a CoT answer often starts on a new line, and that
                # token is part of the output (lm-eval keeps it too); scoring strips.
                yield i, cut_at_stop(text, requests[i].stop)

    def _watchable_stops(self, stops: list[str]) -> list[str]:
        """The stop strings transformers can watch for while generating. A string the tokenizer
        cannot spell (MGSM's 问题 on a Latin-only vocabulary) cannot be generated either; it is
        still cut from the decoded text by `cut_at_stop`."""
        from transformers import StopStringCriteria

        for s in stops:
            if s not in self._watchable:
                try:
                    StopStringCriteria(self.tok, [s])
                    self._watchable[s] = True
                except ValueError:
                    self._watchable[s] = False
        return [s for s in stops if self._watchable[s]]

    def _gen_kwargs(self, reqs: list[GenRequest]) -> dict:
        first = reqs[0]
        kwargs: dict = {
            "max_new_tokens": max(r.max_new_tokens for r in reqs),
            "pad_token_id": self.tok.pad_token_id,
        }
        stops = self._watchable_stops(sorted({s for r in reqs for s in r.stop}))
        if stops:
            # Each sequence stops at its first stop string; the batch ends when all have.
            kwargs.update(stop_strings=stops, tokenizer=self.tok)
        if first.temperature > 0:
            torch.manual_seed(first.seed)
            kwargs.update(do_sample=True, temperature=first.temperature, top_k=0)
        else:
            kwargs.update(do_sample=False)
        return kwargs


def encdec_loglikelihood(lm: HFLM, ctx: list[list[int]], cont: list[list[int]]) -> list[float]:
    """Encoder-decoder scores: the encoder reads the context, the decoder the continuation."""
    out = [0.0] * len(ctx)
    for idx in lm._batches(list(range(len(ctx))), [len(c) + len(x) for c, x in zip(ctx, cont)]):
        enc = lm._pad([ctx[i] for i in idx], left=False)
        labels = lm._pad([cont[i] for i in idx], left=False, value=-100)
        logits = lm.model(
            input_ids=enc["ids"],
            attention_mask=enc["mask"],
            labels=labels["ids"].clamp(min=0),
        ).logits
        logp = torch.log_softmax(logits.float(), -1)
        tgt = labels["ids"]
        picked = logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (tgt != -100)
        for j, i in enumerate(idx):
            out[i] = picked[j].sum().item()
    return out


def decoder_loglikelihood(lm: HFLM, ctx: list[list[int]], cont: list[list[int]]) -> list[float]:
    """Decoder-only scores of context + continuation, cut from the left; shared heads once."""
    out = [0.0] * len(ctx)
    seqs = [(c + x)[-lm.max_input_length :] for c, x in zip(ctx, cont)]
    n_cont = [min(len(x), len(s) - 1) for x, s in zip(cont, seqs)]
    lengths = [len(s) for s in seqs]
    for plen, members in lm._groups(seqs, [n + 1 for n in n_cont]):
        cache = None
        if plen:
            cache = lm._prefix_cache(seqs[members[0]][:plen])
        for idx in lm._batches(members, lengths):
            batch = lm._pad([seqs[i][plen:] for i in idx], left=False)
            kwargs = {"use_cache": cache is not None}
            mask = batch["mask"]
            if cache is not None:
                ones = torch.ones(len(idx), plen, dtype=mask.dtype, device=lm.device)
                mask = torch.cat([ones, mask], 1)
                width = batch["ids"].shape[1]
                positions = torch.arange(plen, plen + width, device=lm.device)
                kwargs.update(
                    past_key_values=static_cache(lm.model, len(idx), plen + width, cache),
                    position_ids=positions.expand(len(idx), -1),
                )
            logits = lm.model(input_ids=batch["ids"], attention_mask=mask, **kwargs).logits
            for j, i in enumerate(idx):
                # Logits at suffix position p predict token p + 1; every group leaves at
                # least one context token in the suffix, so the first continuation token
                # is predicted inside it.
                end = len(seqs[i]) - plen - 1
                lp = torch.log_softmax(logits[j, end - n_cont[i] : end].float(), -1)
                tgt = torch.tensor(seqs[i][len(seqs[i]) - n_cont[i] :], device=lm.device)
                out[i] = lp.gather(-1, tgt[:, None]).sum().item()
    return out


def encdec_generated(lm: HFLM, ids: list[list[int]], requests: list[GenRequest]):
    """(request indices, generated ids) per batch, from transformers' `generate`."""
    for idx in lm._batches(list(range(len(ids))), [len(i) for i in ids]):
        batch = lm._pad([ids[i] for i in idx], left=False)
        reqs = [requests[i] for i in idx]
        gen = lm.model.generate(
            input_ids=batch["ids"], attention_mask=batch["mask"], **lm._gen_kwargs(reqs)
        )
        yield idx, gen


def decoder_generated(lm: HFLM, ids: list[list[int]], requests: list[GenRequest]):
    """([request index], [generated ids]) for each request as it finishes: every request goes
    through one streaming pool (`decode.stream`), shared heads computed once, each subtask's
    prompts together and longest first."""
    prompts = []
    for plen, members in lm._groups(ids, [1] * len(ids)):
        for i in sorted(members, key=lambda i: -len(ids[i])):
            prompts.append(Prompt(i, tuple(ids[i][:plen]), ids[i][plen:]))
    for i, gen in stream(lm.model, lm.tok, prompts, requests, rows=lm.decode_batch_size):
        yield [i], [gen]
