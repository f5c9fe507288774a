import json

import pytest

from flankit.cli import main
from flankit.quickstart import run


@pytest.mark.slow
def test_shortened_quickstart_end_to_end(tmp_path, monkeypatch):
    # No ../shared needed: point the data root at an empty folder to prove it.
    monkeypatch.setenv("FLANKIT_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / "cache"))
    summary = run(tmp_path / "qs", steps=20, pretrain_steps=20, eval_limit=2, progress=False)
    out = tmp_path / "qs"
    for name in (
        "report.md",
        "quickstart.json",
        "comparison.png",
        "model/final/model.safetensors",
        "eval_pretrained/results.json",
        "eval_finetuned/results.json",
    ):
        assert (out / name).exists(), name
    # The pretraining run is a flankit run in the cache, keyed by its config's hash.
    pre = list((tmp_path / "cache" / "pretrain").glob("*/final/model.safetensors"))
    assert len(pre) == 1 and not summary["pretrain_cached"]
    cells = {f"{s} {shot} {m}" for s in ("held_in", "held_out") for shot in ("zs", "fs") for m in ("direct", "cot")}  # fmt: skip
    assert cells <= set(summary["finetuned"]) and cells <= set(summary["pretrained"])
    h = summary["finetuned"]["held_out zs direct"]
    assert h["n"] == 2 * 5 and 0 <= h["se"] <= 50 and h["chance"] > 0
    g = summary["gain"]["held_out zs direct"]
    assert g["low"] <= g["gain"] <= g["high"]
    assert summary["steps"] == 20 and summary["pretrain_steps"] == 20
    report = (out / "report.md").read_text()
    assert report.index("| families |") < report.index("![comparison](comparison.png)")
    assert "pretrained" in report and "95% CI" in report
    metrics = [json.loads(line) for line in open(out / "model" / "metrics.jsonl")]
    assert metrics[0]["step"] == 0 and metrics[-1]["heldout_loss"] < metrics[0]["heldout_loss"]
    # A second run reuses the cached pretrained model.
    again = run(tmp_path / "qs2", steps=2, pretrain_steps=20, eval_limit=1, progress=False)
    assert again["pretrain_cached"]


BASE = """
data:
  collections: [{name: synthetic, examples_per_task: 30}]
  features: {input_length: 128, target_length: 32}
  render: {max_shots: 1, fewshot_budget: 60}
model: {shape: t5-tiny, tokenizer: train, dropout: 0.0}
vocab_size: 300
steps: 3
batch_size: 4
save_every: 3
chunk_examples: 64
"""


@pytest.mark.slow
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


PRETRAIN = """
data:
  collections: [{name: world_text, examples_per_task: 40, objective: salient_span}]
  features: {input_length: 64, target_length: 16}
  render: {max_shots: 0, fewshot_budget: 0}
model: {shape: t5-tiny, tokenizer: train, dropout: 0.0}
vocab_size: 300
steps: 2
batch_size: 4
save_every: 2
chunk_examples: 64
"""
WORLD_BASE = """
data:
  collections: [{name: world, examples_per_task: 10}]
  features: {input_length: 64, target_length: 16}
  render: {max_shots: 1, fewshot_budget: 40}
model: {shape: t5-tiny, dropout: 0.0}
steps: 2
batch_size: 4
save_every: 2
chunk_examples: 64
"""


@pytest.mark.slow
def test_world_sweep_pretrains_once_per_shape_and_reports_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("FLANKIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "pre.yaml").write_text(PRETRAIN)
    (tmp_path / "base.yaml").write_text(WORLD_BASE)
    (tmp_path / "sweep.yaml").write_text(
        f"base: base.yaml\npretrain: pre.yaml\nout_dir: {tmp_path / 'sw'}\nnum_tasks: [0, 2]\n"
        "seeds: [0, 1]\neval: {benchmarks: [world], modes: [direct], world_limit: 1}\n"
    )
    assert main(["sweep", str(tmp_path / "sweep.yaml"), "-q"]) == 0
    assert len(list((tmp_path / "cache" / "pretrain").glob("*/final/model.safetensors"))) == 1
    rows = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert sorted(r["name"] for r in rows) == ["tasks0_s0", "tasks0_s1", "tasks2_s0", "tasks2_s1"]
    cfg = json.loads((tmp_path / "sw/runs/tasks2_s1/config.json").read_text())
    assert cfg["seed"] == 1 and cfg["model"]["path"].endswith("final")
    assert not (tmp_path / "sw/runs/tasks0_s0/final").exists()  # evaluated as pretrained
    assert all("held_out/zs_direct" in r and r["n/held_out/zs_direct"] == 5 for r in rows)
    from flankit.report import study_table

    table = study_table(rows, "tasks")
    assert len(table) == 4 and "0 (pretrained only)" in table[2] and "| 2 |" in table[3]
    assert (tmp_path / "sw" / "study_tasks.png").exists()


def test_gains_are_paired_on_items(tmp_path):
    from flankit.quickstart import cell_counts, gains

    def write(name, correct):
        rows = [
            {"subtask": "held_out/pet/zs", "id": f"pet-zs-{i}", "mode": "direct",
             "correct": c, "chance": 0.1}
            for i, c in enumerate(correct)
        ]  # fmt: skip
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
        return path

    # 20 items: 8 right for both, 6 only after, 1 only before, 5 wrong for both.
    before = write("b.jsonl", [1] * 8 + [0] * 6 + [1] + [0] * 5)
    after = write("a.jsonl", [1] * 8 + [1] * 6 + [0] + [0] * 5)
    g = gains(before, after)["held_out zs direct"]
    d = [0] * 8 + [1] * 6 + [-1] + [0] * 5
    mean = sum(d) / 20
    se = 100 * (sum((x - mean) ** 2 for x in d) / 19 / 20) ** 0.5
    assert (g["n"], g["won"], g["lost"]) == (20, 6, 1)
    assert g["gain"] == pytest.approx(25.0) and g["se"] == pytest.approx(se)
    assert g["low"] == pytest.approx(25.0 - 1.96 * se) and g["se"] < g["se_independent"]
    counts = cell_counts(after)["held_out all"]
    assert (counts["n"], counts["correct"], counts["chance"]) == (20, 14, pytest.approx(10.0))
