"""The GPU figures in one call: training throughput and MFU, FlexAttention against dense masks,
evaluation decoding, and a one-GPU FSDP2 run.

    bash benchmarks/gpu.sh              # on a CUDA machine; writes gpu_results.{json,md} to $OUT
    bash benchmarks/gpu.sh --dry-run    # tiny shapes on CPU, seconds: checks every section runs

Everything runs on what travels with the source tree: randomly initialised models of real shapes
(T5-base, a Llama-3.2-1B-shaped decoder), random token ids packed into 2048/512 rows by
flankit's own packer, and a tokenizer trained on the repository's README. Nothing is downloaded.

Sections, each in its own try/except so one failure is recorded and the rest still run, under one
time budget (a section that would start too late is recorded as skipped):
- `train`: steps/s, tokens/s, MFU and peak memory for each model with `attention=sdpa` (dense
  additive masks) and `attention=flex` (block-sparse masks, compiled FlexAttention), fp32 weights
  under bf16 autocast and flankit's Adafactor, as `flankit train` runs them. MFU counts the
  weights' matrix products only (6 x parameters x positions per step, embedding lookups excluded,
  attention scores not counted) against `--peak-tflops` (790: an H200's measured bf16 rate).
- `flex_check`: the loss and every gradient of one packed batch with FlexAttention against the
  dense-mask path (fp32, both families; on CPU the forward only: FlexAttention has no CPU backward).
- `decode`: generated tokens/s of flankit's `HFLM.generate` (prefix reuse, rows leaving the batch)
  against plain `model.generate` on the same few-shot prompts, and whether their texts agree.
- `fsdp`: FSDP2 (`parallel: fsdp`'s sharding) on one process against the unsharded model: the
  same losses, tokens/s, state memory.

The results file is rewritten after every section, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flankit.data.features import rows_to_arrays  # noqa: E402
from flankit.data.packing import BestFitPacker  # noqa: E402

SECTIONS = ("train", "flex_check", "decode", "fsdp")
# Llama-3.2-1B's shape: 1.24B parameters with its 128k vocabulary, tied embeddings.
LLAMA_1B = dict(
    vocab_size=128256,
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    rope_theta=500000.0,
    tie_word_embeddings=True,
)
LLAMA_TINY = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    tie_word_embeddings=True,
)


@dataclass(frozen=True)
class Plan:
    """Shapes and step counts for one run: full size on a GPU, tiny for `--dry-run`."""

    device: str
    dry_run: bool
    t5_shape: str = "t5-base"
    t5_vocab: int = 32128
    llama: dict = field(default_factory=lambda: LLAMA_1B)
    input_length: int = 2048
    target_length: int = 512
    rows: int = 8
    warmup: int = 3
    steps: int = 10
    check_shape_t5: str = "t5-small"
    check_llama: dict = field(default_factory=lambda: dict(LLAMA_1B, num_hidden_layers=2))
    check_rows: int = 2
    decode_shape: str = "llama-small"  # SmolLM2-135M's shape
    decode_requests: int = 64
    decode_new_tokens: int = 128
    decode_batch: int = 16
    fsdp_shape: str = "t5-small"
    fsdp_steps: int = 6
    peak_tflops: float = 790.0

    @classmethod
    def make(cls, dry_run: bool, peak_tflops: float) -> Plan:
        device = "cuda" if torch.cuda.is_available() and not dry_run else "cpu"
        if not dry_run:
            return cls(device=device, dry_run=False, peak_tflops=peak_tflops)
        return cls(
            device=device,
            dry_run=True,
            t5_shape="t5-tiny",
            t5_vocab=512,
            llama=LLAMA_TINY,
            input_length=128,
            target_length=32,
            rows=2,
            warmup=1,
            steps=1,
            check_shape_t5="t5-tiny",
            check_llama=LLAMA_TINY,
            decode_shape="llama-tiny",
            decode_requests=6,
            decode_new_tokens=6,
            decode_batch=4,
            fsdp_shape="t5-tiny",
            fsdp_steps=2,
            peak_tflops=peak_tflops,
        )


class Budget:
    """Seconds left of the run's budget; sections that need more than is left are skipped."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


class _Vocab:
    """What `build_model` reads from a tokenizer (its size and special ids): random-token
    benchmarks need no real one."""

    def __init__(self, size: int) -> None:
        self.size, self.pad_token_id, self.eos_token_id, self.bos_token_id = size, 0, 1, None

    def __len__(self) -> int:
        return self.size


# ---- models and batches -----------------------------------------------------------------------


def t5_model(shape: str, vocab: int, device: str, seed: int = 0):
    from flankit.models import build_model

    with torch.device(device):
        model, _ = build_model(shape, _Vocab(vocab), dropout=0.0, seed=seed)
    return model


def llama_model(shape: dict, device: str, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(**shape, max_position_embeddings=4096, pad_token_id=0, eos_token_id=1)
    with torch.device(device):
        return LlamaForCausalLM(cfg)


def packed_batch(layout: str, lengths: tuple[int, ...], rows: int, vocab: int, seed: int) -> dict:
    """`rows` packed rows of random-token examples with Flan-like skewed lengths (lognormal,
    inputs ~4x targets), through flankit's best-fit packer and feature arrays."""
    rng = np.random.default_rng(seed)
    scale = lengths[0] / 8
    examples = []
    while True:
        n_in = int(np.clip(rng.lognormal(np.log(scale), 0.8), 4, lengths[0] // 2))
        n_out = int(np.clip(n_in / 4 * rng.lognormal(0, 0.5), 2, lengths[-1] // 2))
        inp = rng.integers(2, vocab, n_in).tolist()
        tgt = rng.integers(2, vocab, n_out).tolist() + [1]
        if layout == "decoder":
            inp = inp[: lengths[0] - len(tgt)]
        examples.append((inp, tgt))
        if len(examples) >= rows * 12 and len(examples) % 16 == 0:
            caps = [
                (len(i), len(t)) if layout == "encdec" else (len(i) + len(t),) for i, t in examples
            ]
            packer = BestFitPacker(lengths, buffer_size=len(caps) + 1)
            packer.add_many(caps)
            packed = [r for r in packer.finish()][:rows]
            if len(packed) == rows:
                break
    chosen = [[examples[j] for j in row] for row in packed]
    arrays = rows_to_arrays(chosen, layout, lengths, 0)
    return {k: torch.from_numpy(v).long() for k, v in arrays.items()}


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def matmul_params(model, family: str) -> tuple[int, int]:
    """(parameters applied per encoder position, per decoder position), embeddings excluded
    (a lookup) and the output head included (a matrix product)."""
    head = model.get_output_embeddings().weight.numel()
    emb = {id(p) for p in model.get_input_embeddings().parameters()}
    if family == "encdec":
        enc = sum(p.numel() for p in model.encoder.parameters() if id(p) not in emb)
        dec = sum(p.numel() for p in model.decoder.parameters() if id(p) not in emb)
        return enc, dec + head
    body = sum(p.numel() for n, p in model.model.named_parameters() if id(p) not in emb)
    return 0, body + head


def step_flops(model, family: str, batch: dict) -> float:
    enc, dec = matmul_params(model, family)
    if family == "encdec":
        return 6.0 * (
            enc * batch["encoder_input_ids"].numel() + dec * batch["decoder_input_ids"].numel()
        )
    return 6.0 * dec * batch["input_ids"].numel()


def target_tokens(batch: dict, family: str) -> int:
    if family == "encdec":
        return int((batch["decoder_segment_ids"] > 0).sum())
    return int(batch["loss_mask"][:, 1:].sum())


def autocast(device: str, enabled: bool):
    return torch.autocast(device, dtype=torch.bfloat16) if enabled else nullcontext()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ---- sections ---------------------------------------------------------------------------------


def _family_model(plan: Plan, family: str, device: str, small: bool = False):
    if family == "encdec":
        return t5_model(plan.check_shape_t5 if small else plan.t5_shape, plan.t5_vocab, device)
    return llama_model(plan.check_llama if small else plan.llama, device)


def _lengths(plan: Plan, family: str) -> tuple[int, ...]:
    if family == "encdec":
        return (plan.input_length, plan.target_length)
    return (plan.input_length,)


def train_one(plan: Plan, family: str, attention: str) -> dict:
    """Throughput of `flankit train`'s step (loss, backward, Adafactor) on packed rows."""
    from flankit.train.adafactor import Adafactor
    from flankit.train.flex import use_flex
    from flankit.train.step import batch_loss

    dev = plan.device
    model = _family_model(plan, family, dev)
    if attention == "flex":
        use_flex(model)
    model.train()
    opt = Adafactor(model.parameters(), lr=1e-3)
    vocab = model.config.vocab_size
    batches = [
        to_device(packed_batch(family, _lengths(plan, family), plan.rows, vocab, s), dev)
        for s in range(2)
    ]
    backward = not (attention == "flex" and dev == "cpu")  # no CPU backward for FlexAttention
    if dev == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t_start, t0, first, tgt, loss = time.perf_counter(), None, None, 0, None
    for i in range(plan.warmup + plan.steps):
        if i == plan.warmup:
            sync(dev)
            t0, tgt = time.perf_counter(), 0
        b = batches[i % 2]
        with torch.set_grad_enabled(backward), autocast(dev, dev == "cuda"):
            loss, n = batch_loss(model, b, family)
        if backward:
            (loss / n).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        tgt += target_tokens(b, family)
        if i == 0:
            sync(dev)
            first = time.perf_counter() - t_start
    sync(dev)
    seconds = time.perf_counter() - t0
    positions = sum(v.numel() for k, v in batches[0].items() if k.endswith("input_ids"))
    flops = step_flops(model, family, batches[0]) * plan.steps / seconds
    return {
        "model": plan.t5_shape
        if family == "encdec"
        else "llama-1b"
        if not plan.dry_run
        else "llama-tiny",
        "attention": attention,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "rows": plan.rows,
        "lengths": list(_lengths(plan, family)),
        "backward": backward,
        "steps": plan.steps,
        "step_s": seconds / plan.steps,
        "first_step_s": first,
        "tokens_per_s": positions * plan.steps / seconds,
        "target_tokens_per_s": tgt / seconds,
        "tflops": flops / 1e12,
        "mfu": flops / (plan.peak_tflops * 1e12) if dev == "cuda" else None,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else None,
        "loss": float(loss.detach()) / max(1, int(n)),
    }


def section_train(plan: Plan, budget: Budget, need: float) -> dict:
    runs, errors = [], []
    for family in ("encdec", "decoder"):
        for attention in ("sdpa", "flex"):
            name = f"{family}/{attention}"
            if budget.left() < need:
                errors.append({"run": name, "skipped": "time budget"})
                continue
            try:
                runs.append(train_one(plan, family, attention))
                print(f"train {name}: {runs[-1]}", flush=True)
            except Exception as exc:  # record it and go on: one GPU call is all there is
                errors.append(_error(name, exc))
            _free(plan.device)
    return {"runs": runs, "errors": errors}


def _grads(model, plan: Plan, family: str, batch: dict, backward: bool):
    from flankit.train.step import batch_loss

    model.zero_grad(set_to_none=True)
    with torch.set_grad_enabled(backward):
        loss, n = batch_loss(model, batch, family)
    if backward:
        (loss / n).backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()) / int(n), grads


def flex_check_one(plan: Plan, family: str) -> dict:
    """One packed batch, fp32: FlexAttention's loss and gradients against the dense masks'."""
    from flankit.train.flex import use_flex

    dev = plan.device
    model = _family_model(plan, family, dev, small=True)
    model.train()
    batch = to_device(
        packed_batch(family, _lengths(plan, family), plan.check_rows, model.config.vocab_size, 7),
        dev,
    )
    backward = dev == "cuda"
    dense_loss, dense = _grads(model, plan, family, batch, backward)
    use_flex(model)
    flex_loss, flex = _grads(model, plan, family, batch, backward)
    worst, worst_name = 0.0, None
    for name, g in dense.items():
        rel = float((g - flex[name]).abs().max() / g.abs().max().clamp(min=1e-12))
        if rel > worst:
            worst, worst_name = rel, name
    rel_loss = abs(flex_loss - dense_loss) / abs(dense_loss)
    return {
        "family": family,
        "dense_loss": dense_loss,
        "flex_loss": flex_loss,
        "loss_rel_diff": rel_loss,
        "gradients_compared": len(dense),
        "max_grad_rel_diff": worst if backward else None,
        "worst_param": worst_name,
        # fp32 on both paths; FlexAttention's kernel may use TF32 products on a GPU.
        "ok": rel_loss < 1e-3 and (not backward or (len(dense) == len(flex) and worst < 1e-2)),
    }


def section_flex_check(plan: Plan, budget: Budget, need: float) -> dict:
    runs, errors = [], []
    for family in ("encdec", "decoder"):
        try:
            runs.append(flex_check_one(plan, family))
            print(f"flex_check {family}: {runs[-1]}", flush=True)
        except Exception as exc:
            errors.append(_error(family, exc))
        _free(plan.device)
    return {"runs": runs, "errors": errors}


def _decode_prompts(plan: Plan) -> tuple[list[str], list[str]]:
    """(tokenizer corpus, prompts): a few-shot head of README paragraphs shared by every prompt
    (as a BBH subtask's exemplars are), then a question of its own."""
    lines = [x.strip() for x in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()]
    lines = [x for x in lines if len(x) > 20]
    head = "\n\n".join(f"Q: {a}\nA: {b}" for a, b in zip(lines[0:12:2], lines[1:12:2]))
    prompts = [
        f"{head}\n\nQ: {lines[(7 * i) % len(lines)]}\nA:" for i in range(plan.decode_requests)
    ]
    return lines, prompts


def _plain_generate(model, tok, prompts: list[str], plan: Plan) -> list[str]:
    """What a user would otherwise write: batched, left-padded `generate` with stop strings."""
    from flankit.evals.lm import cut_at_stop

    tok.padding_side = "left"
    out = []
    for s in range(0, len(prompts), plan.decode_batch):
        enc = tok(prompts[s : s + plan.decode_batch], return_tensors="pt", padding=True)
        enc = {k: v.to(plan.device) for k, v in enc.items()}
        gen = model.generate(
            **enc,
            max_new_tokens=plan.decode_new_tokens,
            do_sample=False,
            stop_strings=["\nQ:"],
            tokenizer=tok,
            pad_token_id=tok.pad_token_id,
        )
        for row in gen[:, enc["input_ids"].shape[1] :]:
            out.append(cut_at_stop(tok.decode(row, skip_special_tokens=True), ("\nQ:",)).strip())
    return out


def section_decode(plan: Plan, budget: Budget, need: float) -> dict:
    from flankit.evals.lm import HFLM, GenRequest
    from flankit.models import build_model
    from flankit.tokenizer import train_tokenizer

    dev = plan.device
    lines, prompts = _decode_prompts(plan)
    tok = train_tokenizer(lines * 4, vocab_size=600 if plan.dry_run else 4000)
    with torch.device(dev):
        model, _ = build_model(plan.decode_shape, tok, seed=0)
    if dev == "cuda":
        model = model.to(torch.bfloat16)  # as HFLM.load loads a model for a GPU
    model.eval()
    lm = HFLM(model, tok, batch_size=plan.decode_batch, device=dev)
    reqs = [GenRequest(p, plan.decode_new_tokens, stop=("\nQ:",)) for p in prompts]
    lm.generate(reqs[:2])  # warm-up: kernels, allocator
    sync(dev)
    t0 = time.perf_counter()
    ours = lm.generate(reqs)
    sync(dev)
    t_ours = time.perf_counter() - t0
    with torch.no_grad():
        _plain_generate(model, tok, prompts[:2], plan)
        sync(dev)
        t0 = time.perf_counter()
        plain = _plain_generate(model, tok, prompts, plan)
        sync(dev)
    t_plain = time.perf_counter() - t0
    n_new = sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in ours)
    prompt_tokens = sum(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    return {
        "model": plan.decode_shape,
        "dtype": str(next(model.parameters()).dtype),
        "requests": len(prompts),
        "batch_size": plan.decode_batch,
        "max_new_tokens": plan.decode_new_tokens,
        "mean_prompt_tokens": prompt_tokens / len(prompts),
        "generated_tokens": n_new,  # re-encoded output texts (cut at the stop string)
        "flankit_s": t_ours,
        "generate_s": t_plain,
        "flankit_tokens_per_s": n_new / t_ours,
        "speedup": t_plain / t_ours,
        "same_text": sum(a == b for a, b in zip(ours, plain)) / len(prompts),
    }


class _LossModule(torch.nn.Module):
    """The loss wrapper `flankit train` shards: one forward per micro-batch."""

    def __init__(self, model, family: str) -> None:
        super().__init__()
        self.model, self.family = model, family

    def forward(self, batch: dict):
        from flankit.train.step import batch_loss

        return batch_loss(self.model, batch, self.family)


def _fsdp_run(plan: Plan, sharded: bool, batches: list[dict]) -> dict:
    from flankit.train.adafactor import Adafactor
    from flankit.train.parallel import Parallel, state_megabytes

    dev = plan.device
    model = t5_model(plan.fsdp_shape, plan.t5_vocab, dev, seed=1)
    module = _LossModule(model, "encdec")
    if sharded:
        Parallel(sharded=True, rank=0, world=1).shard(module, torch.device(dev))
    opt = Adafactor(model.parameters(), lr=1e-3)
    losses, state, t0, tgt = [], None, None, 0
    for i, b in enumerate(batches):
        if i == 1:
            sync(dev)
            t0, tgt = time.perf_counter(), 0
        with autocast(dev, dev == "cuda"):
            loss, n = module(b)
        (loss / n).backward()
        if state is None:
            state = state_megabytes(model, opt)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()) / int(n))
        tgt += target_tokens(b, "encdec")
    sync(dev)
    return {
        "losses": losses,
        "state_mb": state,
        "target_tokens_per_s": tgt / (time.perf_counter() - t0),
    }


def section_fsdp(plan: Plan, budget: Budget, need: float) -> dict:
    import torch.distributed as dist

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if plan.device == "cuda" else "gloo", rank=0, world_size=1)
    try:
        if plan.device == "cuda":
            torch.cuda.set_device(0)
        lengths = (plan.input_length // 4, plan.target_length // 4)
        batches = [
            to_device(
                packed_batch("encdec", lengths, plan.rows, plan.t5_vocab, 100 + s), plan.device
            )
            for s in range(plan.fsdp_steps + 1)
        ]
        whole = _fsdp_run(plan, False, batches)
        _free(plan.device)
        sharded = _fsdp_run(plan, True, batches)
    finally:
        if started:
            dist.destroy_process_group()
    diff = max(abs(a - b) for a, b in zip(whole["losses"], sharded["losses"]))
    return {
        "model": plan.fsdp_shape,
        "lengths": list(lengths),
        "backend": "nccl" if plan.device == "cuda" else "gloo",
        "whole": whole,
        "fsdp": sharded,
        "max_loss_diff": diff,
        "ok": diff < 1e-3,
    }


# ---- driver -----------------------------------------------------------------------------------


def _error(name: str, exc: BaseException) -> dict:
    return {
        "run": name,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": traceback.format_exc(),
    }


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def environment(plan: Plan) -> dict:
    import transformers

    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    env = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "device": torch.cuda.get_device_name(0)
        if plan.device == "cuda"
        else platform.processor() or "cpu",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "commit": commit,
        "dry_run": plan.dry_run,
    }
    if plan.device == "cuda":
        env["cuda"] = torch.version.cuda
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return env


# Seconds a section needs at least (GPU, dry run): one that would start later is skipped.
NEEDS = {"train": (45, 2), "flex_check": (30, 2), "decode": (40, 2), "fsdp": (30, 2)}
RUNNERS = {
    "train": section_train,
    "flex_check": section_flex_check,
    "decode": section_decode,
    "fsdp": section_fsdp,
}


def _fmt(x, spec: str = ",.0f") -> str:
    return "" if x is None else format(x, spec)


def markdown(results: dict) -> str:
    env, sec = results["environment"], results["sections"]
    out = [
        f"GPU benchmark: {env['device']}, {env['date_utc']} UTC, torch {env['torch']}, "
        f"transformers {env['transformers']}, commit {env['commit'] or '?'}"
        + (" (dry run: tiny shapes, CPU)" if env["dry_run"] else ""),
        "",
    ]
    train = sec.get("train", {})
    if train.get("runs"):
        out += [
            "| model | attention | rows | tokens/s | target tokens/s | TFLOP/s | MFU | peak GiB | first step s |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in train["runs"]:
            out.append(
                f"| {r['model']} ({r['params_m']}M) | {r['attention']}{'' if r['backward'] else ' (fwd only)'} "
                f"| {r['rows']} x {'/'.join(map(str, r['lengths']))} | {_fmt(r['tokens_per_s'])} "
                f"| {_fmt(r['target_tokens_per_s'])} | {_fmt(r['tflops'], '.1f')} "
                f"| {_fmt(r['mfu'], '.1%')} | {_fmt(r['peak_gib'], '.1f')} | {_fmt(r['first_step_s'], '.1f')} |"
            )
        out.append("")
    flex = sec.get("flex_check", {})
    if flex.get("runs"):
        out += [
            "| FlexAttention vs dense masks | loss rel. diff | max grad rel. diff | ok |",
            "|---|---:|---:|---|",
        ]
        for r in flex["runs"]:
            grad = (
                "forward only"
                if r["max_grad_rel_diff"] is None
                else f"{r['max_grad_rel_diff']:.2e}"
            )
            out.append(f"| {r['family']} | {r['loss_rel_diff']:.2e} | {grad} | {r['ok']} |")
        out.append("")
    dec = sec.get("decode", {})
    if "flankit_s" in dec:
        out += [
            f"Decoding ({dec['model']}, {dec['dtype']}, {dec['requests']} requests of ~"
            f"{dec['mean_prompt_tokens']:.0f} prompt tokens, batch {dec['batch_size']}, at most "
            f"{dec['max_new_tokens']} new): flankit {dec['flankit_s']:.2f} s "
            f"({dec['flankit_tokens_per_s']:,.0f} tokens/s), plain generate {dec['generate_s']:.2f} s, "
            f"{dec['speedup']:.2f}x; same text {dec['same_text']:.0%}",
            "",
        ]
    fsdp = sec.get("fsdp", {})
    if "fsdp" in fsdp:
        out += [
            f"FSDP2, 1 process ({fsdp['backend']}, {fsdp['model']}): max loss difference to the "
            f"whole model {fsdp['max_loss_diff']:.2e}; target tokens/s whole "
            f"{fsdp['whole']['target_tokens_per_s']:,.0f}, sharded {fsdp['fsdp']['target_tokens_per_s']:,.0f}; "
            f"state {fsdp['whole']['state_mb']:.0f} / {fsdp['fsdp']['state_mb']:.0f} MB",
            "",
        ]
    for name, s in sec.items():
        for e in s.get("errors", []) + ([s] if "error" in s else []):
            run = e.get("run", name)
            label = name if run == name else f"{name} {run}"
            out.append(f"- {label}: {e.get('error') or 'skipped: ' + e.get('skipped', '')}")
    return "\n".join(out) + "\n"


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "gpu_results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, default=str))
    tmp.replace(out / "gpu_results.json")
    (out / "gpu_results.md").write_text(markdown(results))


def failures(results: dict) -> list[str]:
    """Sections with an error, a skipped run or a failed check."""
    bad = []
    for name, s in results["sections"].items():
        entries = s.get("errors", []) + ([s] if "error" in s else [])
        if any("error" in e or "skipped" in e for e in entries):
            bad.append(name)
        elif any(r.get("ok") is False for r in s.get("runs", [])) or s.get("ok") is False:
            bad.append(f"{name} (check failed)")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes on CPU (seconds)")
    ap.add_argument("--out", default="gpu-results", help="folder for gpu_results.json / .md")
    ap.add_argument("--budget", type=float, default=None, help="seconds for all sections")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated, run in order")
    ap.add_argument("--peak-tflops", type=float, default=790.0, help="bf16 peak for MFU")
    args = ap.parse_args(argv)
    plan = Plan.make(args.dry_run, args.peak_tflops)
    if plan.device == "cpu" and not plan.dry_run:
        print("no CUDA device: run with --dry-run on CPU", file=sys.stderr)
        return 2
    default = 120 if plan.dry_run else 420
    budget = Budget(default if args.budget is None else args.budget)
    torch.set_float32_matmul_precision("highest")
    results = {"environment": environment(plan), "plan": asdict(plan), "sections": {}}
    out = Path(args.out)
    for name in [s.strip() for s in args.sections.split(",") if s.strip()]:
        if name not in RUNNERS:
            ap.error(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
        need = NEEDS[name][1 if plan.dry_run else 0]
        t0 = time.perf_counter()
        if budget.left() < need:
            results["sections"][name] = {
                "skipped": "time budget",
                "errors": [{"run": name, "skipped": "time budget"}],
            }
        else:
            try:
                results["sections"][name] = RUNNERS[name](plan, budget, need)
            except Exception as exc:
                results["sections"][name] = _error(name, exc)
            results["sections"][name]["seconds"] = time.perf_counter() - t0
        _free(plan.device)
        write(results, out)
        print(f"[{name}] {results['sections'][name].get('seconds', 0):.1f} s", flush=True)
    print(markdown(results))
    bad = failures(results)
    if bad:
        print("failed: " + ", ".join(bad), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
