"""Crash safety: torn append-only files, counters that survive a resume or rerun, checksummed
checkpoints, and bad source bytes refused with their place."""

import hashlib
import json
import time

import pytest

from flankit.errors import FlankitError, FlankitWarning
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


class StreamingLM(CuttingLM):
    """Hands outputs back one by one (`generate_stream`, as HFLM does), last request first;
    can be told to die after some outputs."""

    def __init__(self, die_after_outputs=None):
        super().__init__(batch_size=2)
        self.die_after_outputs, self.outputs = die_after_outputs, 0

    def generate_stream(self, requests):
        texts = CuttingLM.generate(self, requests)
        for i in reversed(range(len(requests))):
            if self.die_after_outputs is not None and self.outputs >= self.die_after_outputs:
                raise KeyboardInterrupt("killed")
            self.outputs += 1
            yield i, texts[i]


def test_streamed_outputs_are_cached_one_by_one_and_a_killed_run_resumes(tmp_path, shared, whole):
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        evaluate(StreamingLM(die_after_outputs=3), _cfg(shared), out, progress=False)
    # Three outputs finished before the kill, in one call of six: all three are in the cache.
    assert len((out / "cache.jsonl").read_text().splitlines()) == 3
    again = StreamingLM()
    res = evaluate(again, _cfg(shared), out, progress=False)
    assert again.requests == 3 and again.calls == 1
    assert _comparable(out) == _comparable(whole[0])
    assert res["truncated_prompts"] == whole[1] and res["seconds"] > 0


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


# ------------------------------------------------------------------ data build


def _data_cfg(tmp_path, **over):
    from flankit.config import load_config
    from flankit.data.build import DataConfig

    path = tmp_path / "data.yaml"
    path.write_text(
        "collections: [{name: synthetic, examples_per_task: 30}]\n"
        "mixture: {num_examples: 400, seed: 1}\n"
        "output: {shard_size: 100, rows_per_shard: 20}\n"
        "features: {tokenizer: byt5, input_length: 128, target_length: 32}\n"
    )
    return load_config(DataConfig, path, [f"{k}={v}" for k, v in over.items()])


def _files(out):
    skip = {"stats.json", "summary.md"}  # they hold the wall-clock time
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_killed_data_build_never_looks_complete_and_a_rerun_equals_a_whole_build(
    tmp_path, monkeypatch
):
    from flankit.data import build as build_mod

    whole = build_mod.build(_data_cfg(tmp_path), tmp_path / "whole", progress=False)
    assert whole["shards"]["data"] == [f"part-{i:05d}.jsonl" for i in range(4)]
    out = tmp_path / "killed"
    real = build_mod.ShardWriter._write

    def dies_on_the_third_shard(self, rows):
        if self.shards == 2:
            (self.folder / "part-00002.jsonl.tmp").write_text('{"inputs": "half a li')
            raise KeyboardInterrupt("killed")  # no cleanup code runs, as under kill -9
        real(self, rows)

    monkeypatch.setattr(build_mod.ShardWriter, "_write", dies_on_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        build_mod.build(_data_cfg(tmp_path), out, progress=False)
    assert (out / "data" / "part-00001.jsonl").exists() and not (out / "stats.json").exists()
    monkeypatch.setattr(build_mod.ShardWriter, "_write", real)
    # Another config into the interrupted folder is refused, and changes nothing.
    with pytest.raises(FlankitError, match="interrupted build of a different config"):
        build_mod.build(_data_cfg(tmp_path, **{"mixture.seed": 2}), out, progress=False)
    with pytest.warns(FlankitWarning, match="previous build with this config was interrupted"):
        again = build_mod.build(_data_cfg(tmp_path), out, progress=False)
    assert _files(out) == _files(tmp_path / "whole")
    for k in ("seconds", "examples_per_second"):
        again.pop(k), whole.pop(k)
    assert again == whole
    stats = json.loads((out / "stats.json").read_text())
    for sub, names in stats["shards"].items():
        assert names and all((out / sub / n).exists() for n in names)


def test_rebuilding_into_a_finished_folder_leaves_no_stale_shards(tmp_path):
    from flankit.data.build import build

    out = tmp_path / "o"
    build(_data_cfg(tmp_path), out, progress=False)
    small = build(_data_cfg(tmp_path, **{"mixture.num_examples": 150}), out, progress=False)
    assert sorted(p.name for p in (out / "data").iterdir()) == small["shards"]["data"]
    assert small["shards"]["data"] == ["part-00000.jsonl", "part-00001.jsonl"]
