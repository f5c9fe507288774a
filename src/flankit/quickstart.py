"""`flankit quickstart`: the whole system in one command, offline, on a laptop CPU.

1. A mixture of the embedded synthetic suite's held-in families (no download).
2. A small T5 trained from scratch on it (a tokenizer trained on the same text).
3. The untrained and the trained model evaluated on held-in and held-out families, zero- and
   few-shot, direct and chain of thought.
4. `report.md` (tables) and PNG plots in the output folder.

`--data CONFIG` trains on a data config of your own instead; `--model PATH` starts from a
pretrained model (hub id or directory) instead of a random one.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from flankit.config import load_config
from flankit.data.build import DataConfig, FeatureConfig, RenderConfig
from flankit.data.collections import CollectionSpec
from flankit.models import ModelSpec
from flankit.train.loop import OptimConfig, TrainConfig


def quickstart_config(
    out: Path, *, steps: int, data: str | None, model: str | None, shape: str, seed: int
) -> TrainConfig:
    if data:
        data_cfg = load_config(DataConfig, data)
    else:
        data_cfg = DataConfig(collections=[CollectionSpec(name="synthetic", examples_per_task=400)])
    data_cfg = replace(
        data_cfg,
        features=FeatureConfig(input_length=256, target_length=64),
        render=RenderConfig(max_shots=3, fewshot_budget=200),
    )
    spec = (
        ModelSpec(path=model, dropout=0.0)
        if model
        else ModelSpec(shape=shape, tokenizer="train", dropout=0.0)
    )
    return TrainConfig(
        data=data_cfg,
        model=spec,
        optim=OptimConfig(name="adafactor", lr=2e-3),
        steps=steps,
        batch_size=16,
        seed=seed,
        out_dir=str(out / "model"),
        save_every=max(steps // 4, 1),
        eval_every=max(steps // 10, 1),
        heldout=[CollectionSpec(name="synthetic", split="eval", examples_per_task=8)],
        heldout_examples=248,
        tokenizer_vocab=1000,
        chunk_examples=1024,
        log_every=10,
    )


def _untrained_lm(cfg: TrainConfig, out: Path):
    """The model the run started from: the same shape, seed and tokenizer, before any step."""
    from flankit.evals.lm import HFLM
    from flankit.models import build_model, load_pretrained
    from flankit.tokenizer import load_tokenizer

    if cfg.model.path:
        model, tok, _ = load_pretrained(cfg.model)
    else:
        tok = load_tokenizer(str(out / "model" / "tokenizer"))
        model, _ = build_model(cfg.model.shape, tok, dropout=0.0, seed=cfg.seed)
    return HFLM(model, tok, name="untrained", max_input_length=512, batch_size=32, device="cpu")


def summarize(samples_path: Path) -> dict[str, float]:
    """Accuracy by held-in/held-out x zs/fs x direct/cot from a samples.jsonl."""
    from flankit.evals.metrics import grouped_accuracy

    def keys(s: dict) -> list[str]:
        split, _, shot = s["subtask"].split("/")
        return [f"{split} {shot} {s['mode']}", f"{split} all"]

    return grouped_accuracy(samples_path, keys)


def run(
    out: str | Path = "out/quickstart",
    *,
    steps: int = 300,
    data: str | None = None,
    model: str | None = None,
    shape: str = "t5-tiny",
    seed: int = 0,
    eval_limit: int = 12,
    progress: bool = True,
) -> dict:
    """Train and evaluate; return the summary (also written to out/quickstart.json)."""
    from flankit.evals.lm import HFLM
    from flankit.evals.runner import EvalConfig, evaluate
    from flankit.train.loop import train

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = quickstart_config(out, steps=steps, data=data, model=model, shape=shape, seed=seed)
    resume = (out / "model" / "checkpoints").exists()
    say = print if progress else (lambda *a, **k: None)
    say(f"[1/3] training {model or shape} for {steps} steps -> {out / 'model'}")
    result = train(cfg, resume=resume, progress=progress)
    ev_cfg = EvalConfig(
        benchmarks=["synthetic"], modes=["direct", "cot"], synthetic_limit=eval_limit
    )
    say("[2/3] evaluating the untrained and the trained model on held-in and held-out families")
    before = evaluate(_untrained_lm(cfg, out), ev_cfg, out / "eval_untrained", progress=progress)
    final = Path(result["final"])
    trained = HFLM.load(
        ModelSpec(path=str(final)),
        name="trained",
        max_input_length=512,
        batch_size=32,
        device="cpu",
    )
    after = evaluate(trained, ev_cfg, out / "eval_trained", progress=progress)
    say("[3/3] writing the report")
    table_before = summarize(out / "eval_untrained" / "samples.jsonl")
    table_after = summarize(out / "eval_trained" / "samples.jsonl")
    summary = {
        "steps": result["steps"],
        "final_loss": result["loss"],
        "heldout_loss": result["heldout_loss"],
        "untrained": table_before,
        "trained": table_after,
        "held_out_margin": table_after.get("held_out all", 0.0)
        - table_before.get("held_out all", 0.0),
        "held_in_margin": table_after.get("held_in all", 0.0)
        - table_before.get("held_in all", 0.0),
        "seconds": round(time.perf_counter() - t0, 1),
        "model": str(final),
        "scores": {"untrained": before["scores"], "trained": after["scores"]},
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=1))
    from flankit.report import quickstart_plots, quickstart_report

    plots = quickstart_plots(summary, out / "model" / "metrics.jsonl", out)
    (out / "report.md").write_text(quickstart_report(summary, plots))
    say(
        f"held-out families: {table_before.get('held_out all', 0):.1f}% untrained -> "
        f"{table_after.get('held_out all', 0):.1f}% trained ({summary['held_out_margin']:+.1f} points); "
        f"held-in: {table_before.get('held_in all', 0):.1f}% -> {table_after.get('held_in all', 0):.1f}%"
    )
    say(f"done in {summary['seconds']:.0f} s. Report: {out / 'report.md'}; model: {final}")
    return summary
