"""`flankit quickstart`: the paper's comparison in miniature, offline, on a laptop CPU.

1. Pretraining: a small T5 learns a miniature world (`flankit.data.world`) from span-corruption
   rows of its text. It is an ordinary `flankit train` run with its own config
   (`pretrain_config`, the same as `configs/train/world_pretrain.yaml`), cached under the flankit
   cache folder by the config's hash, so it is paid for once.
2. Instruction finetuning: the pretrained model finetuned on the world's held-in families.
3. Evaluation: the pretrained model prompted zero- and few-shot (the paper's "PaLM" column) and
   the finetuned one (its "Flan" column) on held-in and held-out families, direct and CoT,
   with binomial standard errors.
4. `report.md` (the comparison table first), `comparison.png`, and `quickstart.json`.

`--data CONFIG` finetunes on a data config of your own instead; `--model PATH` starts from a
pretrained model of your own (hub id or directory) instead of pretraining on the world.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

from flankit.config import load_config, to_dict
from flankit.data.build import FeatureConfig, RenderConfig
from flankit.data.collections import CollectionSpec
from flankit.evals.runner import EvalConfig
from flankit.models import ModelSpec
from flankit.periodic_eval import suite_evaluator
from flankit.train.loop import OptimConfig, TrainConfig, TrainData

HEADLINE = "held_out zs direct"  # questions listing their answer options, as MMLU's do
NO_OPTIONS = "held_out zsnoopt direct"
# People per family evaluated by default: all 16 of the world (about 10 s for both models on 2
# CPU cores); a smaller `eval_limit` evaluates fewer (`--eval-limit 0`: everyone).
EVAL_PEOPLE = 16


def cache_dir() -> Path:
    """The flankit cache folder ($FLANKIT_CACHE, else ~/.cache/flankit)."""
    return Path(os.environ.get("FLANKIT_CACHE", Path.home() / ".cache" / "flankit"))


def pretrain_config(*, shape: str = "t5-tiny", steps: int = 200, seed: int = 0) -> TrainConfig:
    """Span-corruption pretraining on the world's text (configs/train/world_pretrain.yaml)."""
    return TrainConfig(
        data=TrainData(
            collections=[
                CollectionSpec(name="world_text", examples_per_task=4000, objective="salient_span")
            ],
            features=FeatureConfig(input_length=256, target_length=64),
            render=RenderConfig(max_shots=0, fewshot_budget=0),
        ),
        model=ModelSpec(shape=shape, tokenizer="train", dropout=0.0),
        optim=OptimConfig(name="adafactor", lr=1e-3),
        steps=steps,
        batch_size=16,
        seed=seed,
        out_dir="runs/world_pretrain",
        save_every=300,
        eval_every=100,
        heldout=[
            CollectionSpec(
                name="world_text", split="eval", examples_per_task=64, objective="salient_span"
            )
        ],
        heldout_examples=64,
        vocab_size=1000,
        chunk_examples=1024,
        log_every=10,
    )


# Keys that decide only where a run writes and how often it saves, logs or measures held-out
# loss: none of them changes the weights (tests/test_world.py trains twice to check).
OBSERVING_KEYS = ("out_dir", "save_every", "keep_last", "eval_every", "log_every", "log_to")


def config_hash(cfg: TrainConfig) -> str:
    """Identifies a pretraining run by everything that changes its weights."""
    raw = to_dict(cfg)
    for key in OBSERVING_KEYS:
        raw.pop(key, None)
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16]


def cache_key(cfg: TrainConfig) -> str:
    """The cache folder's name: the config hash and the number of CPU threads torch uses. The
    same config trains bitwise-identical weights with the same thread count, but not across
    counts (a CPU matmul's sums run in another order: a 1-thread and a 2-thread run differ by
    about 1e-6 after 6 steps, and more later), so a run cached by one is not reused by another."""
    import torch

    return f"{config_hash(cfg)}-t{torch.get_num_threads()}"


def pretrained_model(cfg: TrainConfig, *, progress: bool = True) -> tuple[Path, bool]:
    """The pretrained model folder for `cfg`, training it first unless cached; (path, cached)."""
    from flankit.train.checkpoint import list_checkpoints
    from flankit.train.loop import train

    run_dir = cache_dir() / "pretrain" / cache_key(cfg)
    final = run_dir / "final"
    if (final / "model.safetensors").exists():
        return final, True
    train(
        replace(cfg, out_dir=str(run_dir)),
        resume=bool(list_checkpoints(run_dir / "checkpoints")),
        progress=progress,
        evaluate=suite_evaluator(cfg),
    )
    return final, False


def pretraining_seconds(final: Path) -> float | None:
    """How long the cached pretraining run took: from its config.json (written when training
    starts) to its exported weights."""
    start, end = final.parent / "config.json", final / "model.safetensors"
    if not (start.exists() and end.exists()):
        return None
    return round(end.stat().st_mtime - start.stat().st_mtime, 1)


def finetune_config(
    out: Path, pretrained: str, *, steps: int, data: str | None, seed: int, rehearsal: float = 0.5
) -> TrainConfig:
    """Instruction finetuning of the pretrained model on the world's held-in families."""
    if data:
        data_cfg = load_config(TrainData, data)
    else:
        # Half the rows rehearse the pretraining text: a 1M-parameter model finetuned on the
        # held-in families alone overwrites what it knew about everything else (see STUDY.md).
        data_cfg = TrainData(
            collections=[
                CollectionSpec(name="world", examples_per_task=400, rate=1 - rehearsal),
                CollectionSpec(
                    name="world_text",
                    examples_per_task=4000,
                    objective="salient_span",
                    rate=rehearsal,
                ),
            ]
            if rehearsal
            else [CollectionSpec(name="world", examples_per_task=400)]
        )
    data_cfg = replace(
        data_cfg,
        features=FeatureConfig(input_length=256, target_length=64),
        render=RenderConfig(max_shots=3, fewshot_budget=200),
    )
    return TrainConfig(
        data=data_cfg,
        model=ModelSpec(path=pretrained, dropout=0.0),
        optim=OptimConfig(name="adafactor", lr=1e-3),
        steps=steps,
        batch_size=16,
        seed=seed,
        out_dir=str(out / "model"),
        save_every=max(steps // 2, 1),
        eval_every=max(steps // 4, 1),
        heldout=[CollectionSpec(name="world", split="eval", examples_per_task=8)],
        heldout_examples=64,
        chunk_examples=1024,
        log_every=10,
    )


def _cells(samples_path: Path) -> dict[str, dict[tuple, tuple[bool, float]]]:
    """Per "split shot mode" cell (and "split all"): item key -> (correct, chance)."""
    cells: dict[str, dict[tuple, tuple[bool, float]]] = {}
    with open(samples_path, encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            split, _, shot = s["subtask"].split("/")
            item = (s["subtask"], s["id"], s["mode"])
            for key in (f"{split} {shot} {s['mode']}", f"{split} all"):
                cells.setdefault(key, {})[item] = (bool(s["correct"]), s.get("chance", 0.0))
    return cells


def cell_counts(samples_path: Path) -> dict[str, dict]:
    """Per "split shot mode" cell (and "split all"): n, correct, accuracy (%), its binomial SE
    (%) and the chance accuracy (%) of a random well-formed answer."""
    out = {}
    for key, items in sorted(_cells(samples_path).items()):
        n, k = len(items), sum(c for c, _ in items.values())
        p = k / n
        out[key] = {
            "n": n,
            "correct": k,
            "acc": 100.0 * p,
            "se": 100.0 * math.sqrt(p * (1 - p) / n),
            "chance": 100.0 * sum(ch for _, ch in items.values()) / n,
        }
    return out


def gains(before_samples: Path, after_samples: Path) -> dict[str, dict]:
    """Finetuned minus pretrained per cell, paired on the items both models answered: the
    per-item difference d = correct_after - correct_before (-1, 0 or 1) has mean `gain` and
    standard error sd(d)/sqrt(n), and the 95% interval is gain +- 1.96 SE (the normal
    approximation to McNemar's comparison). `won`/`lost`: items only the finetuned / only the
    pretrained model answered correctly. Pairing removes the items both get right or both get
    wrong from the noise, so it is tighter than treating the two accuracies as independent
    (`se_independent`, kept for comparison)."""
    out = {}
    before = _cells(before_samples)
    for key, cell in _cells(after_samples).items():
        items = {i: c for i, (c, _) in cell.items()}
        was = {i: c for i, (c, _) in before.get(key, {}).items()}
        shared = [i for i in items if i in was]
        if not shared:
            continue
        d = [int(items[i]) - int(was[i]) for i in shared]
        n = len(d)
        mean = sum(d) / n
        var = sum((x - mean) ** 2 for x in d) / max(n - 1, 1)
        se = 100.0 * math.sqrt(var / n)
        pa, pb = sum(items[i] for i in shared) / n, sum(was[i] for i in shared) / n
        g = 100.0 * mean
        out[key] = {
            "gain": g,
            "se": se,
            "low": g - 1.96 * se,
            "high": g + 1.96 * se,
            "n": n,
            "won": sum(x == 1 for x in d),
            "lost": sum(x == -1 for x in d),
            "se_independent": 100.0
            * math.hypot(math.sqrt(pa * (1 - pa) / n), math.sqrt(pb * (1 - pb) / n)),
        }
    return out


def _load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages when the run ends (shared machines time slower)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _lm(path: str | Path, name: str):
    from flankit.evals.lm import HFLM

    return HFLM.load(
        ModelSpec(path=str(path)), name=name, max_input_length=512, batch_size=32, device="cpu"
    )


def run(
    out: str | Path = "out/quickstart",
    *,
    steps: int = 200,
    pretrain_steps: int = 200,
    data: str | None = None,
    model: str | None = None,
    shape: str = "t5-tiny",
    seed: int = 0,
    eval_limit: int | None = EVAL_PEOPLE,
    rehearsal: float = 0.5,
    progress: bool = True,
) -> dict:
    """Pretrain (or reuse the cached run), finetune, evaluate both; return the summary (also
    written to out/quickstart.json)."""
    from flankit.evals.runner import evaluate
    from flankit.train.loop import train

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = print if progress else (lambda *a, **k: None)
    cached = False
    if model:
        base = model
        say(f"[1/4] pretrained model given: {model}")
    else:
        pcfg = pretrain_config(shape=shape, steps=pretrain_steps, seed=seed)
        say(f"[1/4] pretraining {shape} on the world's text for {pretrain_steps} steps (cached)")
        path, cached = pretrained_model(pcfg, progress=progress)
        base = str(path)
        say(f"      {'reused' if cached else 'trained'}: {path}")
    t_pre = time.perf_counter() - t0
    cfg = finetune_config(out, base, steps=steps, data=data, seed=seed, rehearsal=rehearsal)
    say(f"[2/4] instruction finetuning for {steps} steps -> {out / 'model'}")
    resume = (out / "model" / "checkpoints").exists()
    result = train(cfg, resume=resume, progress=progress, evaluate=suite_evaluator(cfg))
    ev = EvalConfig(
        benchmarks=["world", "world_cloze"], modes=["direct", "cot"], world_limit=eval_limit
    )
    t_fin = time.perf_counter() - t0 - t_pre
    say("[3/4] evaluating the pretrained and the finetuned model")
    evaluate(_lm(base, "pretrained"), ev, out / "eval_pretrained", progress=progress)
    final = Path(result["final"])
    evaluate(_lm(final, "finetuned"), ev, out / "eval_finetuned", progress=progress)
    t_eval = time.perf_counter() - t0 - t_pre - t_fin
    say("[4/4] writing the report")
    pre_samples = out / "eval_pretrained" / "samples.jsonl"
    fin_samples = out / "eval_finetuned" / "samples.jsonl"
    before, after = cell_counts(pre_samples), cell_counts(fin_samples)
    diff = gains(pre_samples, fin_samples)
    summary = {
        "pretrain_steps": None if model else pretrain_steps,
        "pretrain_cached": cached,
        "pretrain_seconds": round(t_pre, 1),
        "finetune_seconds": round(t_fin, 1),
        "eval_seconds": round(t_eval, 1),
        "load_average": _load_average(),
        "pretrain_seconds_cold": None if model else pretraining_seconds(Path(base)),
        "steps": result["steps"],
        "rehearsal": None if data else rehearsal,
        "shape": None if model else shape,
        "final_loss": result["loss"],
        "heldout_loss": result["heldout_loss"],
        "pretrained": before,
        "finetuned": after,
        "gain": diff,
        "headline": HEADLINE,
        "seconds": round(time.perf_counter() - t0, 1),
        "model": str(final),
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=1))
    from flankit.report import quickstart_comparison_plot, quickstart_comparison_report

    plots = quickstart_comparison_plot(summary, out)
    (out / "report.md").write_text(quickstart_comparison_report(summary, plots))
    for key, label in ((HEADLINE, "with options"), (NO_OPTIONS, "without options")):
        h, g = summary["pretrained"].get(key), diff.get(key)
        if h and g:
            say(
                f"held-out families, zero-shot direct, {label}: {h['acc']:.1f}% pretrained -> "
                f"{after[key]['acc']:.1f}% finetuned ({g['gain']:+.1f} points, 95% CI "
                f"{g['low']:+.1f} to {g['high']:+.1f}; chance {after[key]['chance']:.1f}; "
                f"n={after[key]['n']})"
            )
    say(f"done in {summary['seconds']:.0f} s. Report: {out / 'report.md'}; model: {final}")
    return summary
