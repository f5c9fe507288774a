"""The streaming pool's two attention paths on the same prompts, alternated: shared few-shot
heads attended to apart (the default) against heads copied into every row.

    python benchmarks/bench_decode_paths.py HEADS ROWS_PER_HEAD HEAD_LEN REST_LEN NEW_TOKENS
    python benchmarks/bench_decode_paths.py 3 8 600 40 12    # BBH-direct-like
    python benchmarks/bench_decode_paths.py 1 8 900 60 96    # MGSM-like

Random-token prompts on SmolLM2-135M (unpacked under ~/.cache/flankit/smollm2/hf, as
bench_eval.py does), one thread; each path runs twice, alternating, and the ratio of the medians
is printed.
"""

import statistics
import sys
import time
from pathlib import Path

import torch

from flankit.evals import decode
from flankit.evals.lm import GenRequest


class _Tok:
    pad_token_id = 0
    eos_token_id = None


def main(heads: int, per: int, head_len: int, rest_len: int, new: int) -> None:
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(Path.home() / ".cache/flankit/smollm2/hf").eval()
    model.generation_config.eos_token_id = None  # every request runs to NEW_TOKENS
    g = torch.Generator().manual_seed(0)
    prompts = []
    for _ in range(heads):
        head = tuple(torch.randint(100, 40000, (head_len,), generator=g).tolist())
        for j in range(per):
            rest = torch.randint(100, 40000, (rest_len + j,), generator=g).tolist()
            prompts.append(decode.Prompt(len(prompts), head, rest))
    reqs = [GenRequest("", new) for _ in prompts]
    apart = decode.shares_heads
    times: dict[str, list[float]] = {"apart": [], "copied": []}
    for mode in ("apart", "copied", "apart", "copied"):
        decode.shares_heads = apart if mode == "apart" else (lambda m: False)
        t = time.perf_counter()
        dict(decode.stream(model, _Tok(), prompts, reqs, rows=32))
        times[mode].append(time.perf_counter() - t)
        print(f"{mode}: {times[mode][-1]:.1f} s", flush=True)
    decode.shares_heads = apart
    a, c = (statistics.median(times[k]) for k in ("apart", "copied"))
    print(f"heads apart {a:.1f} s, copied {c:.1f} s: {c / a:.2f}x")


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:6]))
