"""The one model interface evaluation needs, and its Hugging Face implementation.

`LM` has two calls: `loglikelihood` (sum of log-probabilities of continuations) and `generate`
(greedy or sampled, cut at stop strings). `HFLM` serves encoder-decoder (T5) and decoder-only
(Llama, SmolLM) models: requests are batched longest first, decoder prompts are left-padded, and
prompts longer than `max_input_length` are cut from the left and counted, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from flankit.models import ModelSpec, family_of, load_pretrained


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
    ) -> None:
        self.model, self.tok, self.name = model.eval(), tokenizer, name
        self.family = family_of(model)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device)
        if max_input_length is None:
            max_input_length = (
                2048
                if self.family == "encdec"
                else getattr(model.config, "max_position_embeddings", 2048)
            )
        self.max_input_length = max_input_length
        self.batch_size = batch_size
        self.truncated = 0
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
        ids = self.tok(text, add_special_tokens=self.family == "encdec")["input_ids"]
        if len(ids) > limit:
            self.truncated += 1
            ids = ids[-limit:]  # keep the end: the question being asked
        return ids

    def _batches(self, n: int, lengths: list[int]):
        order = sorted(range(n), key=lambda i: -lengths[i])
        for s in range(0, n, self.batch_size):
            yield order[s : s + self.batch_size]

    @torch.no_grad()
    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        out = [0.0] * len(requests)
        ctx = [self._encode(c, self.max_input_length) for c, _ in requests]
        cont = [self.tok(x, add_special_tokens=False)["input_ids"] for _, x in requests]
        for idx in self._batches(len(requests), [len(c) + len(x) for c, x in zip(ctx, cont)]):
            if self.family == "encdec":
                enc = self._pad([ctx[i] for i in idx], left=False)
                labels = self._pad([cont[i] for i in idx], left=False, value=-100)
                logits = self.model(
                    input_ids=enc["ids"],
                    attention_mask=enc["mask"],
                    labels=labels["ids"].clamp(min=0),
                ).logits
                logp = torch.log_softmax(logits.float(), -1)
                tgt = labels["ids"]
                picked = logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (tgt != -100)
                for j, i in enumerate(idx):
                    out[i] = picked[j].sum().item()
            else:
                seqs = [(ctx[i] + cont[i])[-self.max_input_length :] for i in idx]
                batch = self._pad(seqs, left=False)
                logits = self.model(
                    input_ids=batch["ids"], attention_mask=batch["mask"], use_cache=False
                ).logits
                logp = torch.log_softmax(logits[:, :-1].float(), -1)
                nxt = batch["ids"][:, 1:]
                tok_lp = logp.gather(-1, nxt.unsqueeze(-1)).squeeze(-1)
                for j, i in enumerate(idx):
                    n_cont, n_seq = len(cont[i]), len(seqs[j])
                    out[i] = tok_lp[j, n_seq - 1 - n_cont : n_seq - 1].sum().item()
        return out

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

    @torch.no_grad()
    def generate(self, requests: list[GenRequest]) -> list[str]:
        out = [""] * len(requests)
        ids = [self._encode(r.prompt, self.max_input_length) for r in requests]
        for idx in self._batches(len(requests), [len(i) for i in ids]):
            first = requests[idx[0]]
            batch = self._pad([ids[i] for i in idx], left=self.family == "decoder")
            kwargs = {
                "max_new_tokens": max(requests[i].max_new_tokens for i in idx),
                "pad_token_id": self.tok.pad_token_id,
            }
            if first.temperature > 0:
                torch.manual_seed(first.seed)
                kwargs.update(do_sample=True, temperature=first.temperature, top_k=0)
            else:
                kwargs.update(do_sample=False)
            gen = self.model.generate(
                input_ids=batch["ids"], attention_mask=batch["mask"], **kwargs
            )
            if self.family == "decoder":
                gen = gen[:, batch["ids"].shape[1] :]
            for j, i in enumerate(idx):
                text = self.tok.decode(gen[j], skip_special_tokens=True)
                out[i] = cut_at_stop(text, requests[i].stop).strip()
        return out
