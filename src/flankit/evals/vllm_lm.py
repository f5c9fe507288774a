"""A vLLM engine behind the `LM` interface, for decoder-only models on GPUs.

`pip install vllm` (a CUDA build) and `flankit eval --backend vllm --model M ...`. Prompts go in as
token ids, cut from the left at `max_input_length` and counted, as `HFLM` does. Log-likelihoods
come from vLLM's prompt log-probabilities of the continuation tokens; vLLM's prefix caching
shares the few-shot heads between requests.
"""

from __future__ import annotations

from flankit.errors import FlankitError
from flankit.evals.lm import GenRequest, cut_at_stop
from flankit.family import DECODER


class VLLMLM:
    """`LM` on a `vllm.LLM` engine (decoder-only models)."""

    def __init__(
        self,
        path: str,
        *,
        name: str | None = None,
        max_input_length: int | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        seed: int = 0,
        trust_remote_code: bool = False,
        engine=None,
    ) -> None:
        if engine is None:
            try:
                from vllm import LLM
            except ImportError as e:
                raise FlankitError(
                    "the vllm backend needs vLLM", hint="pip install vllm (needs a CUDA GPU)"
                ) from e
            engine = LLM(
                model=path,
                tensor_parallel_size=tensor_parallel_size,
                dtype=dtype,
                seed=seed,
                enable_prefix_caching=True,
                trust_remote_code=trust_remote_code,
            )
        self.engine, self.name = engine, name or path
        self.tok = engine.get_tokenizer()
        limit = engine.llm_engine.model_config.max_model_len
        self.max_input_length = min(max_input_length or limit, limit)
        self.truncated = 0
        self.truncated_texts: set[str] = set()  # the prompts cut, so each request is counted

    def _ids(self, text: str, limit: int) -> list[int]:
        ids = self.tok(text, add_special_tokens=DECODER.prompt_special_tokens)["input_ids"]
        if len(ids) > limit:
            self.truncated += 1
            self.truncated_texts.add(text)
            ids = ids[-limit:]
        return ids

    def generate(self, requests: list[GenRequest]) -> list[str]:
        from vllm import SamplingParams

        prompts, params = [], []
        for r in requests:
            ids = self._ids(r.prompt, self.max_input_length - r.max_new_tokens)
            prompts.append({"prompt_token_ids": ids})
            params.append(
                SamplingParams(
                    max_tokens=r.max_new_tokens,
                    temperature=r.temperature,
                    stop=list(r.stop) or None,
                    seed=r.seed if r.temperature > 0 else None,
                )
            )
        outs = self.engine.generate(prompts, params, use_tqdm=False)
        return [cut_at_stop(o.outputs[0].text, r.stop) for o, r in zip(outs, requests)]

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        from vllm import SamplingParams

        prompts, n_cont = [], []
        for ctx, cont in requests:
            c = self.tok(cont, add_special_tokens=False)["input_ids"]
            ids = (self._ids(ctx, self.max_input_length) + c)[-self.max_input_length :]
            prompts.append({"prompt_token_ids": ids})
            n_cont.append(min(len(c), len(ids) - 1))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        outs = self.engine.generate(prompts, params, use_tqdm=False)
        scores = []
        for o, p, n in zip(outs, prompts, n_cont):
            ids = p["prompt_token_ids"]
            # prompt_logprobs[i] maps token ids to log-probabilities at position i (None at 0);
            # the prompt's own token is always among them.
            scores.append(
                sum(o.prompt_logprobs[i][ids[i]].logprob for i in range(len(ids) - n, len(ids)))
            )
        return scores
