"""The evaluation a training run reaches at every `eval_every` step: its `eval_suite`.

The orchestration layer (`flankit train`, quickstart, sweeps) builds it and passes it to
`flankit.train.loop.train(..., evaluate=...)`; the training loop itself never imports the
evaluation code.
"""

from __future__ import annotations

from pathlib import Path


def suite_evaluator(cfg):
    """`evaluate(model, tokenizer, step, out_dir) -> {"eval/<name>": score}` for a training
    config's `eval_suite`, or None when it sets none."""
    suite = cfg.eval_suite
    if suite is None:
        return None

    def evaluate(model, tok, step: int, out_dir: Path) -> dict:
        from flankit.evals.lm import HFLM
        from flankit.evals.runner import evaluate as run_suite

        device = str(next(model.parameters()).device)
        lm = HFLM(model, tok, name=f"step-{step}", batch_size=suite.batch_size, device=device)
        results = run_suite(lm, suite, Path(out_dir) / "evals" / f"step-{step:07d}", progress=False)
        scores = {f"eval/{name}": s["macro"] for name, s in results["scores"].items()}
        if results["normalized"].get("complete"):
            scores["eval/normalized_average"] = results["normalized"]["average"]
        return scores

    return evaluate
