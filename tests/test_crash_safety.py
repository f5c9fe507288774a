"""Crash safety: torn append-only files, counters that survive a resume or rerun, checksummed
checkpoints, and bad source bytes refused with their place."""

import hashlib
import json
import time

import pytest

from flankit.errors import FlankitWarning
from flankit.evals.lm import GenRequest
from flankit.evals.runner import EvalConfig, evaluate

# ------------------------------------------------------------------ evaluation cache


class CuttingLM:
    """Answers from a script; 'cuts' the prompts whose hash is odd, as a model with a short input
    budget would, and names them like HFLM does. Can be told to die after some calls."""

    name = "cutting"

    def __init__(self, batch_size=2, die_after=None):
        self.batch_size, self.die_after = batch_size, die_after
        self.calls, self.requests = 0, 0
        self.truncated, self.truncated_texts = 0, set()

    def generate(self, requests: list[GenRequest]) -> list[str]:
        if self.die_after is not None and self.calls >= self.die_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        self.requests += len(requests)
        time.sleep(0.01)  # so the compute time recorded is not zero
        digests = [int(hashlib.sha256(r.prompt.encode()).hexdigest(), 16) for r in requests]
        for r, d in zip(requests, digests):
            if d % 2:
                self.truncated += 1
                self.truncated_texts.add(r.prompt)
        return ["No" if d % 3 else "Yes" for d in digests]

    def loglikelihood(self, requests):
        return [0.0] * len(requests)


def _cfg(shared):
    return EvalConfig(
        benchmarks=["bbh"],
        modes=["direct"],
        limit=3,
        bbh_subtasks=["navigate", "snarks"],
        data_root=str(shared),
    )


def _comparable(out):
    res = json.loads((out / "results.json").read_text())
    for k in ("seconds", "run_seconds", "versions"):
        res.pop(k)
    return res, (out / "samples.jsonl").read_text()


@pytest.fixture
def whole(tmp_path, shared):
    lm = CuttingLM()
    evaluate(lm, _cfg(shared), tmp_path / "whole", progress=False)
    assert lm.requests == 6 and 0 < lm.truncated < 6
    return tmp_path / "whole", lm.truncated


def test_cache_is_appended_per_model_batch_and_a_killed_run_resumes(tmp_path, shared, whole):
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        evaluate(CuttingLM(die_after=2), _cfg(shared), out, progress=False)
    # Two batches of two finished before the kill: all four are in the cache.
    assert len((out / "cache.jsonl").read_text().splitlines()) == 4
    again = CuttingLM()
    res = evaluate(again, _cfg(shared), out, progress=False)
    assert again.requests == 2
    assert _comparable(out) == _comparable(whole[0])
    assert res["truncated_prompts"] == whole[1]


def test_torn_last_cache_line_is_set_aside_and_only_it_recomputed(tmp_path, shared, whole):
    out = tmp_path / "torn"
    out.mkdir()
    lines = (whole[0] / "cache.jsonl").read_bytes().splitlines(keepends=True)
    (out / "cache.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][:25])
    again = CuttingLM()
    with pytest.warns(FlankitWarning, match=r"cache.jsonl: the last line was cut off"):
        res = evaluate(again, _cfg(shared), out, progress=False)
    assert again.requests == 1
    assert (out / "cache.jsonl.torn").read_bytes() == lines[-1][:25] + b"\n"
    assert _comparable(out) == _comparable(whole[0])
    assert res["truncated_prompts"] == whole[1]
    # The repaired cache holds whole records only: a third run computes nothing.
    third = CuttingLM(die_after=0)
    evaluate(third, _cfg(shared), out, progress=False)
    assert _comparable(out) == _comparable(whole[0])


def test_a_cached_rerun_keeps_the_compute_seconds_and_reports_its_own(tmp_path, shared, whole):
    first = json.loads((whole[0] / "results.json").read_text())
    assert first["seconds"] > 0
    res = evaluate(CuttingLM(die_after=0), _cfg(shared), whole[0], progress=False)
    assert res["seconds"] == first["seconds"] and "run_seconds" in res
    report = (whole[0] / "report.md").read_text()
    assert f"compute time: {first['seconds']} s" in report and "this run:" in report
