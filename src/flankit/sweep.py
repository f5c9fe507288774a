"""`flankit sweep`: a grid of training runs, each evaluated, collected into one table.

Axes: number of training tasks, model shape, with or without CoT data, collection rates and
seeds. With `pretrain:` (a training config), every shape is first pretrained by that config
(cached by its hash, as the quickstart does) and each run finetunes the pretrained model of its
shape; `num_tasks: 0` then stands for no finetuning at all (the pretrained model evaluated as
it is). Runs are resumable one by one: a run with `eval/results.json` is done and skipped; a run with
checkpoints resumes from its newest one. Results go to `sweep.json`, `sweep.md` and PNG plots
(held-out score against the number of tasks and against parameters, and the CoT ablation).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from flankit.config import from_dict, load_config, to_dict
from flankit.errors import FlankitError
from flankit.evals.runner import EvalConfig
from flankit.periodic_eval import suite_evaluator
from flankit.train.loop import TrainConfig


@dataclass(frozen=True)
class SweepConfig:
    base: str  # a training config (YAML) that every run starts from
    out_dir: str = "runs/sweep"
    num_tasks: list[int] = field(default_factory=list)  # max_tasks of every training collection
    shapes: list[str] = field(default_factory=list)
    cot: list[bool] = field(default_factory=list)  # with / without chain-of-thought renderings
    rates: list[dict[str, float]] = field(default_factory=list)  # collection name -> rate
    seeds: list[int] = field(default_factory=list)  # finetuning seeds (init, data order)
    pretrain: str | None = None  # a training config (YAML) every shape is pretrained with first
    steps: int | None = None
    eval: EvalConfig = field(
        default_factory=lambda: EvalConfig(
            benchmarks=["synthetic"], modes=["direct", "cot"], synthetic_limit=8
        )
    )


@dataclass(frozen=True)
class Run:
    name: str
    num_tasks: int | None
    shape: str | None
    cot: bool | None
    rates: dict[str, float] | None
    seed: int | None = None


def grid(cfg: SweepConfig) -> list[Run]:
    axes = [
        cfg.num_tasks or [None],
        cfg.shapes or [None],
        cfg.cot or [None],
        cfg.rates or [None],
        cfg.seeds or [None],
    ]
    runs = []
    for n, shape, cot, rates, seed in itertools.product(*axes):
        if n == 0 and cot is False:
            continue  # no finetuning: the CoT-data axis does not apply (the `cot` run stands)
        parts = [
            f"tasks{n}" if n is not None else "",
            shape or "",
            ("cot" if cot else "nocot") if cot is not None and n != 0 else "",
            "rates-" + "-".join(f"{k}{v:g}" for k, v in rates.items()) if rates else "",
            f"s{seed}" if seed is not None else "",
        ]
        name = "_".join(p for p in parts if p) or "base"
        runs.append(Run(name, n, shape, cot if n != 0 else None, rates, seed))
    return runs


def run_config(cfg: SweepConfig, base_path: Path, run: Run) -> TrainConfig:
    base = to_dict(load_config(TrainConfig, base_path))
    collections = base["data"]["collections"]
    for c in collections:
        if run.num_tasks is not None:
            c["max_tasks"] = run.num_tasks
        if run.cot is False:  # no chain-of-thought renderings at all
            c["cot"] = 0.0
            c["inversion"] = 0.0
        elif run.cot and not c.get("cot"):  # CoT data added beside direct data, as in the paper
            c["cot"] = 0.5
        if run.rates is not None:
            if c["name"] not in run.rates:
                raise FlankitError(
                    f"sweep rates do not name collection {c['name']!r}", field="rates"
                )
            c["rate"] = run.rates[c["name"]]
    # A collection at rate 0 is left out of the run: a task-count point without it.
    base["data"]["collections"] = [c for c in collections if c.get("rate") != 0]
    if run.shape is not None:
        base["model"]["shape"] = run.shape
        base["model"]["path"] = None
    if run.seed is not None:
        base["seed"] = run.seed
        base["data"].setdefault("mixture", {})["seed"] = run.seed
    if cfg.steps is not None:
        base["steps"] = cfg.steps
    base["out_dir"] = str(Path(cfg.out_dir) / "runs" / run.name)
    return from_dict(TrainConfig, base, where=str(base_path))


def count_params(model_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    with safe_open(str(model_dir / "model.safetensors"), framework="np") as f:
        for key in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
            shape = f.get_slice(key).get_shape()
            n = 1
            for d in shape:
                n *= d
            total += n
    return total


def pretrained_for(cfg: SweepConfig, shape: str | None, *, progress: bool = True) -> Path:
    """The cached pretrained model of `shape` under the sweep's `pretrain` config."""
    from dataclasses import replace

    from flankit.quickstart import pretrained_model

    pcfg = load_config(TrainConfig, cfg.pretrain)
    if shape is not None:
        pcfg = replace(pcfg, model=replace(pcfg.model, shape=shape, path=None))
    path, _ = pretrained_model(pcfg, progress=progress)
    return path


def run_sweep(cfg: SweepConfig, *, progress: bool = True) -> list[dict]:
    """Train and evaluate every run of the grid that is not done yet; return all rows."""
    from dataclasses import replace

    from flankit.evals.lm import HFLM
    from flankit.evals.runner import evaluate
    from flankit.models import ModelSpec
    from flankit.train.checkpoint import list_checkpoints
    from flankit.train.loop import train

    base_path = Path(cfg.base)
    runs = grid(cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i, run in enumerate(runs, start=1):
        tcfg = run_config(cfg, base_path, run)
        run_dir = Path(tcfg.out_dir)
        if (run_dir / "eval" / "results.json").exists():
            print(f"[{i}/{len(runs)}] {run.name}: done, skipped")
            continue
        model_dir = run_dir / "final"
        if cfg.pretrain:
            pre = pretrained_for(cfg, run.shape, progress=progress)
            tcfg = replace(tcfg, model=replace(tcfg.model, path=str(pre), shape=None))
            if run.num_tasks == 0:
                model_dir = pre
        print(f"[{i}/{len(runs)}] {run.name}: training {tcfg.steps} steps")
        if run.num_tasks != 0 and not (model_dir / "model.safetensors").exists():
            resume = bool(list_checkpoints(run_dir / "checkpoints"))
            train(tcfg, resume=resume, progress=progress, evaluate=suite_evaluator(tcfg))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "model_dir.txt").write_text(str(model_dir))
        lm = HFLM.load(ModelSpec(path=str(model_dir)), max_input_length=512, batch_size=32)
        lm.name = run.name
        evaluate(lm, cfg.eval, run_dir / "eval", progress=progress)
        (run_dir / "sweep_run.json").write_text(json.dumps(to_dict(run)))
    rows = collect([out])
    write_report(rows, out)
    return rows


def collect(folders: list[Path]) -> list[dict]:
    """One row per finished run found under the given sweep folders."""
    from flankit.report import read_sweep_json

    rows = []
    for folder in folders:
        metas = sorted(Path(folder).glob("runs/*/sweep_run.json"))
        if not metas and (Path(folder) / "sweep.json").exists():  # a committed study's results
            rows += read_sweep_json(Path(folder) / "sweep.json")
        for meta in metas:
            run_dir = meta.parent
            run = json.loads(meta.read_text())
            pointer = run_dir / "model_dir.txt"
            model_dir = Path(pointer.read_text()) if pointer.exists() else run_dir / "final"
            train_info = json.loads((model_dir / "flankit_train.json").read_text())
            row = {
                **run,
                "params": count_params(model_dir),
                "train_loss": train_info["record"].get("loss")
                if run.get("num_tasks") != 0
                else None,
                "sweep": str(folder),
            }
            row.update(split_scores(run_dir / "eval" / "samples.jsonl"))
            rows.append(row)
    return rows


def split_scores(samples: Path) -> dict[str, float]:
    """Accuracy on held-in and held-out families, by prompting mode and by shots and mode
    (`held_out/zs_direct`), with item counts (`n/...`) and random-guess accuracy (`chance/...`)."""
    from flankit.evals.metrics import grouped_stats

    def keys(s: dict) -> list[str]:
        parts = s["subtask"].split("/")
        split, mode = parts[0], s["mode"]
        shot = [f"{split}/{parts[2]}_{mode}"] if len(parts) == 3 else []
        return [f"{split}/{mode}", f"{split}/all", *shot]

    return grouped_stats(samples, keys)


def write_report(rows: list[dict], out: Path) -> None:
    from flankit.report import study_plots, sweep_markdown, sweep_plots

    (out / "sweep.json").write_text(json.dumps(rows, indent=1))
    plots = sweep_plots(rows, out)
    if any(r.get("seed") is not None for r in rows):
        plots += study_plots(rows, out)
    (out / "sweep.md").write_text(sweep_markdown(rows, plots))


def load_sweep_config(path: str, overrides: list[str]) -> SweepConfig:
    """The sweep config, with `base` and `pretrain` found beside it when relative."""
    from dataclasses import replace

    cfg = load_config(SweepConfig, path, overrides)
    for name in ("base", "pretrain"):
        value = getattr(cfg, name)
        if value is None:
            continue
        if not Path(value).is_absolute() and not Path(value).exists():
            candidate = Path(path).parent / value
            if candidate.exists():
                cfg = replace(cfg, **{name: str(candidate)})
        if not Path(getattr(cfg, name)).exists():
            raise FlankitError(f"sweep {name} config not found", file=value, field=name)
    return cfg
