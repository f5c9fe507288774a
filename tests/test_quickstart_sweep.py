import json

import pytest

from flankit.cli import main
from flankit.quickstart import run


@pytest.mark.slow
def test_shortened_quickstart_end_to_end(tmp_path, monkeypatch):
    # No ../shared needed: point the data root at an empty folder to prove it.
    monkeypatch.setenv("FLANKIT_DATA", str(tmp_path / "no-data-here"))
    summary = run(tmp_path / "qs", steps=30, eval_limit=2, progress=False)
    out = tmp_path / "qs"
    for name in (
        "report.md",
        "quickstart.json",
        "accuracy.png",
        "training.png",
        "model/final/model.safetensors",
        "eval_untrained/results.json",
        "eval_trained/results.json",
    ):
        assert (out / name).exists(), name
    assert set(summary["trained"]) >= {
        "held_in all",
        "held_out all",
        "held_out zs direct",
        "held_in fs cot",
    }
    assert summary["steps"] == 30 and summary["untrained"]["held_out all"] <= 1.0
    report = (out / "report.md").read_text()
    assert "held-out, all" in report and "![accuracy](accuracy.png)" in report
    metrics = [json.loads(line) for line in open(out / "model" / "metrics.jsonl")]
    assert metrics[0]["step"] == 0 and metrics[-1]["heldout_loss"] < metrics[0]["heldout_loss"]


BASE = """
data:
  collections: [{name: synthetic, examples_per_task: 30}]
  features: {input_length: 128, target_length: 32}
  render: {max_shots: 1, fewshot_budget: 60}
model: {shape: t5-tiny, tokenizer: train, dropout: 0.0}
tokenizer_vocab: 300
steps: 3
batch_size: 4
save_every: 3
chunk_examples: 64
"""


def test_sweep_grid_resume_and_report(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text(
        f"base: base.yaml\nout_dir: {tmp_path / 'sw'}\nnum_tasks: [2, 4]\nshapes: [t5-tiny]\ncot: [true, false]\n"
        "eval: {benchmarks: [synthetic], modes: [direct], synthetic_limit: 1}\n"
    )
    assert main(["sweep", str(tmp_path / "sweep.yaml"), "-q"]) == 0
    rows = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert sorted(r["name"] for r in rows) == [
        "tasks2_t5-tiny_cot",
        "tasks2_t5-tiny_nocot",
        "tasks4_t5-tiny_cot",
        "tasks4_t5-tiny_nocot",
    ]
    assert all(r["params"] > 0 and "held_out/direct" in r for r in rows)
    cfg = json.loads((tmp_path / "sw/runs/tasks2_t5-tiny_nocot/config.json").read_text())
    assert (
        cfg["data"]["collections"][0]["max_tasks"] == 2
        and cfg["data"]["collections"][0]["cot"] == 0.0
    )
    capsys.readouterr()
    assert main(["sweep", str(tmp_path / "sweep.yaml"), "-q"]) == 0  # everything done: all skipped
    assert capsys.readouterr().out.count("done, skipped") == 4
    assert main(["report", str(tmp_path / "sw"), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "sweep.md").read_text()
    assert (
        "tasks4_t5-tiny_cot" in md
        and (tmp_path / "rep" / "tasks.png").exists()
        and (tmp_path / "rep" / "cot_ablation.png").exists()
    )
