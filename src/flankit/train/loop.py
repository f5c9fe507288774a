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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal

import torch

from flankit.config import to_dict
from flankit.data.build import DataConfig, load_mixture
from flankit.data.collections import CollectionSpec, load_collection
from flankit.data.mixtures import Mixture
from flankit.data.pipeline import (
    FeatureConfig,
    PackedStream,
    mixture_tokenizer,
    pack_texts,
    render_refs,
)
from flankit.data.sources import BadRows
from flankit.errors import FlankitError
from flankit.evals.runner import EvalConfig
from flankit.models import ModelSpec, apply_lora, build_model, check_vocab, load_pretrained
from flankit.outputs import writable_dir
from flankit.train.adafactor import Adafactor
from flankit.train.checkpoint import list_checkpoints, load_latest, save_checkpoint
from flankit.train.export import export_model
from flankit.train.flex import use_flex
from flankit.train.metrics_log import MetricsLog
from flankit.train.parallel import Parallel, state_megabytes
from flankit.train.segments import use_segments
from flankit.train.step import batch_loss


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adafactor", "adamw"] = "adafactor"
    lr: float = 5e-4
    warmup_steps: int = 0
    weight_decay: float = 0.0
    clip: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """A training run. Hyperparameter defaults follow the paper's Flan-T5 runs (Table 22)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSpec = field(default_factory=lambda: ModelSpec(shape="t5-tiny", tokenizer="train"))
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 1000
    batch_size: int = 64  # packed rows per optimizer step, over all processes
    micro_batch_size: int | None = None  # rows per forward pass; None = the whole local batch
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # segments: attention per packed example (CPU); sdpa: dense block-diagonal masks;
    # flex: FlexAttention block masks (GPU); auto: segments on CPU, sdpa on GPUs
    attention: Literal["auto", "sdpa", "segments", "flex"] = "auto"
    parallel: Literal["ddp", "fsdp"] = "ddp"  # fsdp: parameters sharded over processes (FSDP2)
    seed: int = 0
    out_dir: str = "runs/flankit"
    save_every: int = 500
    keep_last: int = 2
    eval_every: int = 200
    heldout: list[CollectionSpec] = field(default_factory=list)  # tasks for held-out loss
    heldout_examples: int = 256
    eval_suite: EvalConfig | None = None  # a quick evaluation-suite run at every eval_every
    log_every: int = 10
    chunk_examples: int = 2048
    tokenizer_vocab: int = 8000  # when the tokenizer is trained on the mixture
    log_to: list[str] = field(default_factory=lambda: ["jsonl"])  # + tensorboard, wandb

    # Keys of a build's config put at the top of a training one.
    OTHER_COMMANDS_KEYS: ClassVar[dict[str, str]] = {
        **{
            key: f"`flankit data build` (and by `flankit train` as data.{key}), not at the top "
            "of a training config"
            for key in [
                "collections",
                "data_root",
                "mixture",
                "render",
                "decontaminate",
                "features",
                "skip_bad_rows",
            ]
        },
        **{key: "`flankit data build`, not by `flankit train`" for key in ("output", "num_proc")},
    }

    def __post_init__(self) -> None:
        refuse_build_keys(self.data)


# What `flankit data build` reads but training does not: (key, what training uses instead). A
# key set away from DataConfig's default would have no effect, so it is refused, not ignored.
_BUILD_ONLY = (
    ("output", None),
    ("num_proc", None),
    ("batch_size", "batch_size (packed rows per step)"),
    ("features.tokenizer", "model.tokenizer"),
    ("features.vocab_size", "tokenizer_vocab"),
    ("features.pack", None),
    ("features.rows_per_shard", None),
)


def _at(config, key: str):
    for part in key.split("."):
        config = getattr(config, part)
    return config


def refuse_build_keys(data: DataConfig) -> None:
    """Refuse a `data.` key that only `flankit data build` uses, naming it."""
    unset = DataConfig()
    for key, instead in _BUILD_ONLY:
        if _at(data, key) != _at(unset, key):
            raise FlankitError(
                f"data.{key} is used by `flankit data build`, not by `flankit train`",
                field=f"data.{key}",
                hint=f"remove it{f'; training uses {instead}' if instead else ''}",
            )


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


def _tokenizer_and_model(cfg: TrainConfig, mix: Mixture, out: Path, dtype, acc):
    spec = cfg.model
    if spec.path:
        model, tok, family = load_pretrained(spec, dtype=dtype)
        return model, tok, family
    if not spec.shape:
        raise FlankitError(
            "model needs `path` (pretrained) or `shape` (random init)", field="model"
        )
    tok_dir = out / "tokenizer"
    from flankit.tokenizer import load_tokenizer

    if spec.tokenizer in (None, "train"):
        # The main process trains and saves it; the others wait and load the same files.
        if acc.is_main_process and not (tok_dir / "tokenizer.json").exists():
            sample = 4 * cfg.chunk_examples
            mixture_tokenizer(mix, cfg.data.render, cfg.tokenizer_vocab, tok_dir, sample)
        acc.wait_for_everyone()
        tok = load_tokenizer(str(tok_dir))
    else:
        tok = load_tokenizer(spec.tokenizer)
    model, family = build_model(
        spec.shape,
        tok,
        dropout=spec.dropout,
        seed=cfg.seed,
        max_positions=max(cfg.data.features.length, 2048),
    )
    check_vocab(model, tok)
    return model, tok, family


def run_data(cfg: TrainConfig) -> DataConfig:
    """The examples a run trains on: the mixture's order follows the run's seed unless
    `data.mixture.seed` sets it apart."""
    seed = cfg.data.mixture.seed if cfg.data.mixture.seed is not None else cfg.seed
    return replace(cfg.data, mixture=replace(cfg.data.mixture, seed=seed))


def run_features(cfg: TrainConfig, family: str) -> FeatureConfig:
    """The features for the model's family; a layout set for another family is refused."""
    layout = cfg.data.features.layout
    if layout is not None and layout != family:
        raise FlankitError(
            f"data.features.layout is {layout}, but the model is {family}",
            field="data.features.layout",
            hint=f"remove it (training takes the layout from the model) or set it to {family}",
        )
    return replace(cfg.data.features, layout=family)


def _heldout_rows(cfg: TrainConfig, tok, family: str) -> list:
    if not cfg.heldout:
        return []
    bad = BadRows(skip=cfg.data.skip_bad_rows)
    loaded = [(s, load_collection(s, cfg.data.data_root, bad)) for s in cfg.heldout]
    mix = Mixture(loaded, seed=cfg.seed + 1)
    refs = [r for r, _ in zip(mix.every_example_once(), range(cfg.heldout_examples))]
    feats = run_features(cfg, family)
    return pack_texts(*render_refs(mix, refs, cfg.data.render), tok, feats)


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


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> dict:  # noqa: C901
    """Run (or resume) training; return a summary with the exported model paths."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    bf16 = cfg.precision == "bf16" or (
        cfg.precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    # bf16 through torch.autocast rather than Accelerator(mixed_precision=...): accelerate's state
    # is a per-process singleton, and sweeps train several runs, with either precision, in one process.
    acc = Accelerator(cpu=not torch.cuda.is_available())
    autocast = _Autocast(acc.device.type, bf16)
    micro = _check(cfg, acc.num_processes)
    _check_engine(cfg, acc, micro, resume)
    # One process has nothing to shard; it trains the whole model.
    par = Parallel(
        cfg.parallel == "fsdp" and acc.num_processes > 1, acc.process_index, acc.num_processes
    )
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints"
    if not resume and list_checkpoints(ckpt_dir):
        raise FlankitError(
            f"{out} already holds checkpoints",
            hint="pass --resume to continue, or choose another out_dir",
        )
    writable_dir(out)
    set_seed(cfg.seed)

    mix, load_report = load_mixture(run_data(cfg))
    model, tok, family = _tokenizer_and_model(cfg, mix, out, None, acc)
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
    feats = run_features(cfg, family)
    module = LossModule(model, family)
    if par.sharded:  # before the optimizer, which must hold the sharded parameters
        par.shard(module, acc.device)
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg.optim)
    stream_state, step, best = None, 0, {"loss": math.inf, "step": None}
    record: dict = {"step": 0, "loss": math.nan}
    if resume:
        state = load_latest(ckpt_dir, model, optimizer, par)
        if state is not None:
            step, stream_state, best = state["step"], state["data"], state["best"]
            record = {
                "step": step,
                "loss": state.get("loss", math.nan),
            }  # if nothing is left to run
            acc.print(f"resumed from {state['checkpoint']} (step {step})")
    stream = PackedStream(mix, tok, feats, cfg.data.render, cfg.chunk_examples, state=stream_state)
    heldout = _heldout_rows(cfg, tok, family)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / cfg.optim.warmup_steps) if cfg.optim.warmup_steps else 1.0,
        last_epoch=step - 1 if step else -1,
    )
    if not par.sharded:
        module, optimizer = acc.prepare(module, optimizer)
    if acc.is_main_process:
        (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    log = MetricsLog(out, cfg.log_to, to_dict(cfg), enabled=acc.is_main_process, start_step=step)
    bar = _bar(cfg.steps, step, progress and acc.is_main_process)
    rank, world = acc.process_index, acc.num_processes
    t_last, tokens_since, shown_tps = time.perf_counter(), 0, 0.0
    state_mb = None
    if heldout and step == 0:
        log.write(
            {
                "step": 0,
                "heldout_loss": evaluate_loss(
                    acc.unwrap_model(module), heldout, stream, family, acc
                ),
            }
        )
    module.train()
    while step < cfg.steps:
        rows = stream.next_rows(cfg.batch_size)
        arrays = stream.arrays(rows)
        target_key = "decoder_segment_ids" if family == "encdec" else "loss_mask"
        global_tokens = int(_target_tokens(arrays, family))
        local = {k: torch.from_numpy(v[rank::world]).long() for k, v in arrays.items()}
        n_local = local[target_key].shape[0]
        loss_total = 0.0
        for start in range(0, n_local, micro):
            batch = {k: v[start : start + micro].to(acc.device) for k, v in local.items()}
            last = start + micro >= n_local
            with par.gradient_sync(module, last), autocast():
                loss_sum, _ = module(batch)
                # Normalise by the global batch's target tokens; DDP averages over processes.
                loss = loss_sum * world / max(global_tokens, 1)
                acc.backward(loss)
            loss_total += loss_sum.detach().item()
        loss_total = acc.reduce(torch.tensor(loss_total, device=acc.device), reduction="sum").item()
        mean_loss = loss_total / max(global_tokens, 1)
        if not math.isfinite(mean_loss):
            last_ok = list_checkpoints(ckpt_dir)
            raise FlankitError(
                f"loss became {mean_loss} at step {step + 1}; stopping",
                hint=f"the last good checkpoint is {last_ok[-1] if last_ok else 'none'}; lower the learning rate or use fp32",
            )
        if cfg.optim.clip:
            acc.clip_grad_norm_(module.parameters(), cfg.optim.clip)
        optimizer.step()
        scheduler.step()
        if state_mb is None:  # measured once, with gradients and optimizer state in place
            state_mb = state_megabytes(model, optimizer)
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_since += global_tokens
        record = {
            "step": step,
            "loss": mean_loss,
            "lr": scheduler.get_last_lr()[0],
            "examples": stream.examples_seen,
            "state_mb_per_process": state_mb,
        }
        evaluating = step % cfg.eval_every == 0 or step == cfg.steps
        evaluated = evaluating and (bool(heldout) or cfg.eval_suite is not None)
        if heldout and evaluating:
            record["heldout_loss"] = evaluate_loss(
                acc.unwrap_model(module), heldout, stream, family, acc
            )
            if record["heldout_loss"] < best["loss"]:
                best = {"loss": record["heldout_loss"], "step": step}
                _export(par, model, tok, out / "best", cfg, record, load_report)
        if cfg.eval_suite is not None and evaluating and acc.is_main_process:
            record.update(quick_eval(acc.unwrap_model(module).model, tok, cfg, out, step, acc))
        if step % cfg.log_every == 0 or step == cfg.steps or evaluated:
            now = time.perf_counter()
            record["target_tokens_per_s"] = tokens_since / max(now - t_last, 1e-9)
            t_last, tokens_since = now, 0
            log.write(record)
        if "target_tokens_per_s" in record:
            shown_tps = record["target_tokens_per_s"]
        else:  # between log lines, the rate since the last one (not 0 until the first)
            shown_tps = tokens_since / max(time.perf_counter() - t_last, 1e-9)
        bar.set_postfix(
            loss=f"{mean_loss:.3f}",
            lr=f"{record['lr']:.1e}",
            tok_s=f"{shown_tps:,.0f}",
            **({"heldout": f"{record['heldout_loss']:.3f}"} if "heldout_loss" in record else {}),
        )
        bar.update(1)
        if step % cfg.save_every == 0 or step == cfg.steps:
            acc.wait_for_everyone()
            save_checkpoint(
                ckpt_dir,
                step,
                model,
                optimizer,
                {"data": stream.state(), "best": best, "loss": mean_loss},
                keep=cfg.keep_last,
                par=par,
            )
    bar.close()
    log.close()
    final = out / "final"
    _export(par, model, tok, final, cfg, record, load_report)
    acc.wait_for_everyone()
    return {
        "final": str(final),
        "best": str(out / "best") if heldout else None,
        "steps": step,
        "processes": acc.num_processes,
        "loss": record["loss"],
        "heldout_loss": record.get("heldout_loss"),
        "best_step": best["step"],
    }


def _export(par: Parallel, model, tok, folder: Path, cfg, record, load_report) -> None:
    """Every process calls it (under `fsdp` the weights are gathered); the main one writes."""
    weights = par.full_weights(model)
    if par.is_main:
        export_model(model, tok, folder, cfg, record, load_report, state_dict=weights)


def quick_eval(model, tok, cfg: TrainConfig, out: Path, step: int, acc) -> dict:
    """Run the configured evaluation suite on the current weights; scores as `eval/<name>`."""
    from flankit.evals.lm import HFLM
    from flankit.evals.runner import evaluate

    suite = cfg.eval_suite
    lm = HFLM(model, tok, name=f"step-{step}", batch_size=suite.batch_size, device=str(acc.device))
    results = evaluate(lm, suite, out / "evals" / f"step-{step:07d}", progress=False)
    model.train()
    scores = {f"eval/{name}": s["macro"] for name, s in results["scores"].items()}
    if results["normalized"].get("complete"):
        scores["eval/normalized_average"] = results["normalized"]["average"]
    return scores


def _target_tokens(arrays, family: str) -> int:
    if family == "encdec":
        return int((arrays["decoder_segment_ids"] > 0).sum())
    return int(arrays["loss_mask"][:, 1:].sum())


@torch.no_grad()
def evaluate_loss(
    module: LossModule,
    rows: list,
    stream: PackedStream,
    family: str,
    acc,
    batch: int = 8,
) -> float:
    """Mean token loss on fixed held-out rows (dropout off)."""
    module.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), batch):
        arrays = stream.arrays(rows[i : i + batch])
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
