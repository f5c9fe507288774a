"""The training loop: packed batches, Adafactor at a constant learning rate, checkpoints, resume.

Read top to bottom: set up (tokenizer, model, optimizer, data), maybe resume, then for each step
take one global batch of packed rows, split it across processes and micro-batches, normalise the
summed token loss by the global batch's target tokens, step, and now and then evaluate held-out
loss and save. Finished runs are exported as Hugging Face model directories.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from flankit.config import to_dict
from flankit.data.pipeline import mixture_tokenizer
from flankit.errors import FlankitError
from flankit.family import ModelFamily, as_family
from flankit.models import apply_lora, build_model, check_vocab, load_pretrained
from flankit.outputs import writable_dir
from flankit.train.adafactor import Adafactor
from flankit.train.checkpoint import list_checkpoints, load_latest, save_checkpoint
from flankit.train.config import OptimConfig, TrainConfig, TrainData  # noqa: F401 (the run's config)
from flankit.train.data import (
    RunData,
    card_config,
    heldout_batches,
    run_data,
    run_features,
    run_stream,
)
from flankit.train.export import export_model
from flankit.train.flex import use_flex
from flankit.train.metrics_log import MetricsLog
from flankit.train.parallel import Parallel, state_megabytes
from flankit.train.segments import use_segments
from flankit.train.step import batch_loss

# The evaluation a run reaches every `eval_every` steps: (model, tokenizer, step, out_dir) ->
# scores to log (e.g. {"eval/bbh": 31.2}). The orchestration layer builds it (`flankit.periodic_eval`).
Evaluate = Callable[..., dict]


class LossModule(torch.nn.Module):
    """Wraps the model so data parallelism sees one forward per micro-batch."""

    def __init__(self, model, family: str) -> None:
        super().__init__()
        self.model, self.family = model, family

    def forward(self, batch: dict[str, torch.Tensor]):
        return batch_loss(self.model, batch, self.family)


def make_optimizer(params, cfg: OptimConfig):
    if cfg.name == "adafactor":  # constant learning rate, factored second moments, as in the paper
        return Adafactor(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _tokenizer(cfg: TrainConfig, data: RunData, out: Path, acc):
    """The tokenizer of a new model: named, the build's, or trained on the mixture."""
    from flankit.tokenizer import load_tokenizer

    name = cfg.model.tokenizer
    if name not in (None, "train"):
        return load_tokenizer(name)
    if data.build is not None:
        return load_tokenizer(data.build.tokenizer_source())
    tok_dir = out / "tokenizer"
    # The main process trains and saves it; the others wait and load the same files.
    if acc.is_main_process and not (tok_dir / "tokenizer.json").exists():
        sample = 4 * cfg.chunk_examples
        mixture_tokenizer(data.mix, data.examples.render, cfg.vocab_size, tok_dir, sample)
    acc.wait_for_everyone()
    return load_tokenizer(str(tok_dir))


def _tokenizer_and_model(cfg: TrainConfig, data: RunData, out: Path, acc):
    spec = cfg.model
    if spec.path:
        model, tok, family = load_pretrained(spec, dtype=None)
        return model, tok, as_family(family)
    if not spec.shape:
        raise FlankitError(
            "model needs `path` (pretrained) or `shape` (random init)", field="model"
        )
    tok = _tokenizer(cfg, data, out, acc)
    model, family = build_model(
        spec.shape,
        tok,
        dropout=spec.dropout,
        seed=cfg.seed,
        max_positions=max(cfg.data.features.length, 2048),
    )
    check_vocab(model, tok)
    return model, tok, as_family(family)


def _check(cfg: TrainConfig, world: int) -> int:
    if cfg.steps < 1 or cfg.batch_size < 1:
        raise FlankitError("steps and batch_size must be >= 1", field="steps")
    if cfg.batch_size % world:
        raise FlankitError(
            f"batch_size {cfg.batch_size} does not split over {world} processes", field="batch_size"
        )
    local = cfg.batch_size // world
    micro = cfg.micro_batch_size or local
    if local % micro:
        raise FlankitError(
            f"micro_batch_size {micro} must divide the per-process batch {local}",
            field="micro_batch_size",
        )
    return micro


def _check_engine(cfg: TrainConfig, acc, micro: int, resume: bool) -> None:
    """Check what the loop needs from the distributed engine accelerate launched it with; for
    DeepSpeed ZeRO (configs/accelerate/deepspeed_zero2_8gpu.yaml), also tell it the per-process
    batch (it has no dataloader to read it from)."""
    if acc.distributed_type == "FSDP":
        raise FlankitError(
            "flankit shards the model itself (FSDP2, with a shard-aware Adafactor and whole-weight "
            "checkpoints), so accelerate's FSDP plugin is not used",
            hint="set parallel=fsdp in the train config and launch with a multi-GPU config "
            "(configs/accelerate/ddp_8gpu.yaml)",
        )
    conflicts = [  # (field, clashes, what) for parallel=fsdp
        ("model.lora", cfg.model.lora is not None, "LoRA (it trains few weights: use ddp)"),
        (
            "eval_suite",
            cfg.eval_suite is not None,
            "eval_suite (it needs whole weights on one process: evaluate best/ or final/ with "
            "`flankit eval`)",
        ),
        ("parallel", acc.distributed_type == "DEEPSPEED", "a DeepSpeed launch (it shards itself)"),
    ]
    for name, clashes, what in conflicts:
        if cfg.parallel == "fsdp" and clashes:
            raise FlankitError(f"parallel=fsdp cannot be combined with {what}", field=name)
    if acc.distributed_type != "DEEPSPEED":
        return
    if cfg.optim.name == "adafactor":
        raise FlankitError(
            "Adafactor cannot run under DeepSpeed ZeRO: ZeRO flattens parameters into 1-D "
            "partitions, which removes Adafactor's factored second moments",
            field="optim.name",
            hint="use optim.name=adamw with DeepSpeed, or DDP (configs/accelerate/ddp_8gpu.yaml)",
        )
    if micro != cfg.batch_size // acc.num_processes:
        raise FlankitError(
            "DeepSpeed steps the optimizer inside each backward pass, so each process takes one "
            "micro-batch per step",
            field="micro_batch_size",
            hint=f"set micro_batch_size to {cfg.batch_size // acc.num_processes} (or null)",
        )
    ds_config = acc.state.deepspeed_plugin.deepspeed_config
    ds_config["train_micro_batch_size_per_gpu"] = micro  # rows per process per step
    ds_config["train_batch_size"] = cfg.batch_size
    clip = ds_config.get("gradient_clipping", 0.0)
    if float(clip or 0.0) != float(cfg.optim.clip or 0.0):
        raise FlankitError(
            f"DeepSpeed clips gradients at {clip}, the config asks for {cfg.optim.clip}",
            field="optim.clip",
            hint="make optim.clip and the accelerate config's gradient_clipping agree",
        )
    if resume:
        raise FlankitError(
            "resuming under DeepSpeed ZeRO is not supported: each process holds only its part "
            "of the optimizer state, and flankit's checkpoints keep one optimizer state",
            hint="final/ and best/ are complete Hugging Face models: start a new run from one "
            "(model.path=...)",
        )


@dataclass
class _Run:
    """What the loop works with, set up once by `_setup`."""

    cfg: TrainConfig
    acc: object
    par: Parallel
    autocast: _Autocast
    micro: int
    out: Path
    data: RunData
    model: torch.nn.Module
    tok: object
    family: ModelFamily
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    stream: object
    heldout: list
    log: MetricsLog
    step: int
    best: dict
    record: dict
    state_mb: float | None = None

    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoints"


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    evaluate: Evaluate | None = None,
) -> dict:
    """Run (or resume) training; return a summary with the exported model paths.

    `evaluate(model, tokenizer, step, out_dir) -> scores` runs at every `eval_every` step (the
    orchestration layer builds it from `eval_suite`: `flankit.periodic_eval.suite_evaluator`).
    """
    if cfg.eval_suite is not None and evaluate is None:
        raise FlankitError(
            "eval_suite is set, but train() was given no evaluation to run",
            field="eval_suite",
            hint="pass evaluate=flankit.periodic_eval.suite_evaluator(cfg)",
        )
    run = _setup(cfg, resume)
    bar = _bar(cfg.steps, run.step, progress and run.acc.is_main_process)
    meter = _Throughput()
    if run.heldout and run.step == 0:
        run.log.write({"step": 0, "heldout_loss": _heldout_loss(run)})
    run.module.train()
    while run.step < cfg.steps:
        mean_loss, tokens = _train_step(run, run.stream.next_batch(cfg.batch_size))
        run.step += 1
        meter.tokens += tokens
        run.record = {
            "step": run.step,
            "loss": mean_loss,
            "lr": run.scheduler.get_last_lr()[0],
            "examples": run.stream.examples_seen,
            "state_mb_per_process": run.state_mb,
        }
        evaluated = _maybe_evaluate(run, evaluate)
        _log_step(run, meter, bar, evaluated)
        if run.step % cfg.save_every == 0 or run.step == cfg.steps:
            _save(run, mean_loss)
    bar.close()
    run.log.close()
    final = run.out / "final"
    _export(run, final)
    run.acc.wait_for_everyone()
    return {
        "final": str(final),
        "best": str(run.out / "best") if run.heldout else None,
        "steps": run.step,
        "processes": run.acc.num_processes,
        "loss": run.record["loss"],
        "heldout_loss": run.record.get("heldout_loss"),
        "best_step": run.best["step"],
    }


def _setup(cfg: TrainConfig, resume: bool) -> _Run:
    """The engine, data, model, optimizer and stream of a run, resumed if asked."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    bf16 = cfg.precision == "bf16" or (
        cfg.precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    # bf16 through torch.autocast rather than Accelerator(mixed_precision=...): accelerate's state
    # is a per-process singleton, and sweeps train several runs, with either precision, in one process.
    acc = Accelerator(cpu=not torch.cuda.is_available())
    micro = _check(cfg, acc.num_processes)
    _check_engine(cfg, acc, micro, resume)
    # One process has nothing to shard; it trains the whole model.
    par = Parallel(
        cfg.parallel == "fsdp" and acc.num_processes > 1, acc.process_index, acc.num_processes
    )
    out = Path(cfg.out_dir)
    if not resume and list_checkpoints(out / "checkpoints"):
        raise FlankitError(
            f"{out} already holds checkpoints",
            hint="pass --resume to continue, or choose another out_dir",
        )
    writable_dir(out)
    set_seed(cfg.seed)
    data = run_data(cfg)
    model, tok, family = _tokenizer_and_model(cfg, data, out, acc)
    model = _adapt(cfg, model, family, acc)
    feats = run_features(cfg, family)
    module = LossModule(model, family)
    if par.sharded:  # before the optimizer, which must hold the sharded parameters
        par.shard(module, acc.device)
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg.optim)
    stream_state, step, best = None, 0, {"loss": math.inf, "step": None}
    record: dict = {"step": 0, "loss": math.nan}
    state = load_latest(out / "checkpoints", model, optimizer, par) if resume else None
    if state is not None:
        step, stream_state, best = state["step"], state["data"], state["best"]
        record = {"step": step, "loss": state.get("loss", math.nan)}  # if nothing is left to run
        acc.print(f"resumed from {state['checkpoint']} (step {step})")
    stream = run_stream(cfg, data, tok, feats, stream_state)
    heldout = heldout_batches(cfg, data.examples, tok, feats)
    warmup = cfg.optim.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0,
        last_epoch=step - 1 if step else -1,
    )
    if not par.sharded:
        module, optimizer = acc.prepare(module, optimizer)
    if acc.is_main_process:
        (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    log = MetricsLog(out, cfg.log_to, to_dict(cfg), enabled=acc.is_main_process, start_step=step)
    autocast = _Autocast(acc.device.type, bf16)
    return _Run(
        cfg, acc, par, autocast, micro, out, data, model, tok, family, module, optimizer,
        scheduler, stream, heldout, log, step, best, record,
    )  # fmt: skip


def _adapt(cfg: TrainConfig, model, family: ModelFamily, acc):
    """The model with the configured attention kernel and LoRA adapters."""
    if cfg.attention == "flex":
        if acc.device.type != "cuda":
            raise FlankitError(
                "attention: flex needs a CUDA GPU (PyTorch's FlexAttention has no CPU backward)",
                field="attention",
                hint="use attention=segments (or sdpa) on CPU; it applies the same masks",
            )
        use_flex(model)
    elif cfg.attention == "segments" or (cfg.attention == "auto" and acc.device.type == "cpu"):
        use_segments(model)
    if cfg.model.lora is not None:
        model = apply_lora(model, cfg.model.lora, family)
    return model


def _train_step(run: _Run, arrays: dict) -> tuple[float, int]:
    """One optimizer step on a global batch: (mean token loss, the batch's target tokens)."""
    acc, rank, world, micro = run.acc, run.acc.process_index, run.acc.num_processes, run.micro
    global_tokens = run.family.target_tokens(arrays)
    local = {k: torch.from_numpy(v[rank::world]).long() for k, v in arrays.items()}
    n_local = local[run.family.target_key].shape[0]
    loss_total = 0.0
    for start in range(0, n_local, micro):
        batch = {k: v[start : start + micro].to(acc.device) for k, v in local.items()}
        last = start + micro >= n_local
        with run.par.gradient_sync(run.module, last), run.autocast():
            loss_sum, _ = run.module(batch)
            # Normalise by the global batch's target tokens; DDP averages over processes.
            acc.backward(loss_sum * world / max(global_tokens, 1))
        loss_total += loss_sum.detach().item()
    loss_total = acc.reduce(torch.tensor(loss_total, device=acc.device), reduction="sum").item()
    mean_loss = loss_total / max(global_tokens, 1)
    if not math.isfinite(mean_loss):
        last_ok = list_checkpoints(run.ckpt_dir)
        raise FlankitError(
            f"loss became {mean_loss} at step {run.step + 1}; stopping",
            hint=f"the last good checkpoint is {last_ok[-1] if last_ok else 'none'}; lower the "
            "learning rate or use fp32",
        )
    if run.cfg.optim.clip:
        acc.clip_grad_norm_(run.module.parameters(), run.cfg.optim.clip)
    run.optimizer.step()
    run.scheduler.step()
    if run.state_mb is None:  # measured once, with gradients and optimizer state in place
        run.state_mb = state_megabytes(run.model, run.optimizer)
    run.optimizer.zero_grad(set_to_none=True)
    return mean_loss, global_tokens


def _maybe_evaluate(run: _Run, evaluate: Evaluate | None) -> bool:
    """At an evaluation step: held-out loss (exporting best/ when it improves) and the
    evaluation callback; whether anything was evaluated."""
    cfg, step = run.cfg, run.step
    if not (step % cfg.eval_every == 0 or step == cfg.steps):
        return False
    if run.heldout:
        run.record["heldout_loss"] = _heldout_loss(run)
        if run.record["heldout_loss"] < run.best["loss"]:
            run.best = {"loss": run.record["heldout_loss"], "step": step}
            _export(run, run.out / "best")
    if evaluate is not None and run.acc.is_main_process:
        model = run.acc.unwrap_model(run.module).model
        run.record.update(evaluate(model, run.tok, step, run.out))
        model.train()
    return bool(run.heldout) or evaluate is not None


def _log_step(run: _Run, meter: _Throughput, bar, evaluated: bool) -> None:
    """Write the step's record at log steps (with the throughput since the last one); show it."""
    cfg, record = run.cfg, run.record
    if run.step % cfg.log_every == 0 or run.step == cfg.steps or evaluated:
        record["target_tokens_per_s"] = meter.rate(reset=True)
        run.log.write(record)
    shown_tps = record.get("target_tokens_per_s", meter.rate())
    bar.set_postfix(
        loss=f"{record['loss']:.3f}",
        lr=f"{record['lr']:.1e}",
        tok_s=f"{shown_tps:,.0f}",
        **({"heldout": f"{record['heldout_loss']:.3f}"} if "heldout_loss" in record else {}),
    )
    bar.update(1)


def _save(run: _Run, loss: float) -> None:
    run.acc.wait_for_everyone()
    save_checkpoint(
        run.ckpt_dir,
        run.step,
        run.model,
        run.optimizer,
        {"data": run.stream.state(), "best": run.best, "loss": loss},
        keep=run.cfg.keep_last,
        par=run.par,
    )


def _export(run: _Run, folder: Path) -> None:
    """Every process calls it (under `fsdp` the weights are gathered); the main one writes."""
    weights = run.par.full_weights(run.model)
    if run.par.is_main:
        cfg = card_config(run.cfg, run.data)
        export_model(
            run.model, run.tok, folder, cfg, run.record, run.data.load_report, state_dict=weights
        )


def _heldout_loss(run: _Run) -> float:
    return evaluate_loss(run.acc.unwrap_model(run.module), run.heldout, run.acc)


class _Throughput:
    """Target tokens per second since the last reset."""

    def __init__(self) -> None:
        self.start, self.tokens = time.perf_counter(), 0

    def rate(self, reset: bool = False) -> float:
        now = time.perf_counter()
        rate = self.tokens / max(now - self.start, 1e-9)
        if reset:
            self.start, self.tokens = now, 0
        return rate


@torch.no_grad()
def evaluate_loss(module: LossModule, batches: list[dict], acc) -> float:
    """Mean token loss on fixed held-out batches of feature arrays (dropout off)."""
    module.eval()
    total, count = 0.0, 0
    for arrays in batches:
        b = {k: torch.from_numpy(v).long().to(acc.device) for k, v in arrays.items()}
        loss_sum, n = module(b)
        total += loss_sum.item()
        count += int(n)
    module.train()
    return total / max(count, 1)


class _Autocast:
    """bf16 autocast on the given device type, or nothing."""

    def __init__(self, device_type: str, enabled: bool) -> None:
        self.device_type, self.enabled = device_type, enabled

    def __call__(self):
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.enabled)


def _bar(total: int, start: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=start,
        unit="step",
        desc="train",
        disable=not enabled,
        dynamic_ncols=True,
    )
