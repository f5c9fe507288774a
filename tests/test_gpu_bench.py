"""benchmarks/gpu.sh's CPU dry run: every section runs on tiny shapes, and a failing or late
section is recorded without stopping the others (the GPU call it prepares is one attempt)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_bench  # noqa: E402


@pytest.mark.slow
def test_dry_run_runs_every_section(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "gpu_results.json").read_text())
    sec = res["sections"]
    assert list(sec) == list(gpu_bench.SECTIONS)
    assert res["environment"]["dry_run"] is True
    train = sec["train"]
    assert train["errors"] == []
    assert {(r["model"], r["attention"]) for r in train["runs"]} == {
        ("t5-tiny", "sdpa"),
        ("t5-tiny", "flex"),
        ("llama-tiny", "sdpa"),
        ("llama-tiny", "flex"),
    }
    for r in train["runs"]:
        assert r["tokens_per_s"] > 0 and r["target_tokens_per_s"] > 0
        assert r["backward"] == (r["attention"] == "sdpa")  # no CPU backward for flex
    checks = {r["family"]: r for r in sec["flex_check"]["runs"]}
    assert set(checks) == {"encdec", "decoder"} and all(r["ok"] for r in checks.values())
    dec = sec["decode"]
    assert dec["requests"] == 6 and dec["generated_tokens"] > 0 and 0 <= dec["same_text"] <= 1
    fsdp = sec["fsdp"]
    assert fsdp["ok"] and len(fsdp["fsdp"]["losses"]) == len(fsdp["whole"]["losses"])
    md = (tmp_path / "gpu_results.md").read_text()
    assert "| t5-tiny (0.9M) | flex (fwd only) |" in md and "FSDP2, 1 process (gloo" in md
    assert (tmp_path / "gpu_log.txt").exists()


@pytest.mark.slow
def test_a_failing_section_is_recorded_and_the_rest_run(tmp_path, monkeypatch):
    def broken(plan, budget, need):
        raise RuntimeError("kernel exploded")

    ran = []

    def fine(plan, budget, need):
        ran.append(plan.device)
        return {"runs": [], "errors": []}

    monkeypatch.setitem(gpu_bench.RUNNERS, "train", broken)
    monkeypatch.setitem(gpu_bench.RUNNERS, "decode", fine)
    rc = gpu_bench.main(["--dry-run", "--out", str(tmp_path), "--sections", "train,decode"])
    assert rc == 1  # a failure is reported, after the other section ran
    res = json.loads((tmp_path / "gpu_results.json").read_text())
    assert "RuntimeError: kernel exploded" in res["sections"]["train"]["error"]
    assert ran == ["cpu"] and "seconds" in res["sections"]["decode"]
    assert "- train: RuntimeError: kernel exploded" in (tmp_path / "gpu_results.md").read_text()


@pytest.mark.slow
def test_sections_past_the_budget_are_skipped(tmp_path):
    rc = gpu_bench.main(["--dry-run", "--out", str(tmp_path), "--budget", "0"])
    res = json.loads((tmp_path / "gpu_results.json").read_text())
    assert rc == 1
    assert all(s["skipped"] == "time budget" for s in res["sections"].values())


def test_unknown_section_is_an_error(tmp_path):
    with pytest.raises(SystemExit):
        gpu_bench.main(["--dry-run", "--out", str(tmp_path), "--sections", "trian"])
