import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from flankit.config import load_config
from flankit.errors import FlankitError
from flankit.train.loop import TrainConfig, train

CFG = """
data:
  collections: [{{name: synthetic, examples_per_task: 60}}]
  features: {{input_length: 128, target_length: 32}}
  render: {{max_shots: 2, fewshot_budget: 100}}
model: {{shape: t5-tiny, tokenizer: {tok}, dropout: {dropout}}}
optim: {{name: adafactor, lr: 1.0e-3}}
steps: {steps}
batch_size: 4
save_every: 2
keep_last: 3
log_every: 1
eval_every: 1000
chunk_examples: 64
out_dir: {out}
"""


def _cfg(tmp_path, tok_dir, name, steps=8, dropout=0.1, extra=()):
    path = tmp_path / f"{name}.yaml"
    path.write_text(CFG.format(tok=tok_dir, dropout=dropout, steps=steps, out=tmp_path / name))
    return path, load_config(TrainConfig, path, list(extra))


def _weights(run):
    return load_file(str(run / "final" / "model.safetensors"))


@pytest.mark.slow
def test_accumulation_matches_one_big_batch(tmp_path, tok_dir):
    _, a = _cfg(tmp_path, tok_dir, "big", steps=3, dropout=0.0)
    _, b = _cfg(tmp_path, tok_dir, "acc", steps=3, dropout=0.0, extra=["micro_batch_size=1"])
    train(a, progress=False)
    train(b, progress=False)
    wa, wb = _weights(tmp_path / "big"), _weights(tmp_path / "acc")
    assert set(wa) == set(wb)
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), k


def _metrics(run):
    rows = [json.loads(line) for line in open(run / "metrics.jsonl")]
    for r in rows:
        r.pop("target_tokens_per_s", None)  # wall-clock throughput: the one field that may differ
    return rows


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted(tmp_path, tok_dir):
    _, whole = _cfg(tmp_path, tok_dir, "whole", steps=10)
    train(whole, progress=False)
    path, _ = _cfg(tmp_path, tok_dir, "killed", steps=10)
    cmd = [sys.executable, "-m", "flankit.cli", "train", str(path), "-q"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    ckpts = tmp_path / "killed" / "checkpoints"
    metrics = tmp_path / "killed" / "metrics.jsonl"

    def logged_past_checkpoint():  # a step after the step-4 checkpoint is in metrics.jsonl
        return (ckpts / "step-0000004").exists() and '"step": 5' in metrics.read_text()

    deadline = time.time() + 120
    while not logged_past_checkpoint() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (ckpts / "step-0000004").exists() and not (tmp_path / "killed" / "final").exists()
    with pytest.raises(FlankitError, match="already holds checkpoints"):
        train(load_config(TrainConfig, path), progress=False)
    result = train(load_config(TrainConfig, path), resume=True, progress=False)
    assert result["steps"] == 10
    wa, wb = _weights(tmp_path / "whole"), _weights(tmp_path / "killed")
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    # One record per step, equal field by field to the uninterrupted run's, `examples` included.
    ma, mb = _metrics(tmp_path / "whole"), _metrics(tmp_path / "killed")
    assert [r["step"] for r in mb] == list(range(1, 11))
    assert ma == mb and mb[-1]["examples"] > mb[0]["examples"] > 0


@pytest.mark.slow
def test_damaged_latest_checkpoint_falls_back(tmp_path, tok_dir):
    path, cfg = _cfg(tmp_path, tok_dir, "dmg", steps=6)
    train(cfg, progress=False)
    ckpts = sorted((tmp_path / "dmg" / "checkpoints").glob("step-*"))
    assert [p.name for p in ckpts] == ["step-0000002", "step-0000004", "step-0000006"]
    (ckpts[-1] / "model.safetensors").write_bytes(b"garbage")
    more = load_config(TrainConfig, path, ["steps=8"])
    with pytest.warns(UserWarning, match="step-0000006 is unreadable"):
        result = train(more, resume=True, progress=False)
    assert result["steps"] == 8


@pytest.mark.slow
def test_export_loads_with_from_pretrained_and_generates(tmp_path, tok_dir):
    _, cfg = _cfg(tmp_path, tok_dir, "exp", steps=2)
    train(cfg, progress=False)
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    final = tmp_path / "exp" / "final"
    model = AutoModelForSeq2SeqLM.from_pretrained(final)
    tok = AutoTokenizer.from_pretrained(final)
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()  # untied, as Flan-T5
    ids = tok("What is 2 plus 3?", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=5)
    assert out.shape[0] == 1 and out.shape[1] >= 2
    card = (final / "README.md").read_text()
    assert "synthetic" in card and "adafactor" in card


def test_bad_config_values(tmp_path, tok_dir):
    _, cfg = _cfg(tmp_path, tok_dir, "bad", extra=["batch_size=4", "micro_batch_size=3"])
    with pytest.raises(FlankitError, match="micro_batch_size 3 must divide"):
        train(cfg, progress=False)
    _, cfg = _cfg(tmp_path, tok_dir, "bad2", extra=["model.shape=t5-huge"])
    with pytest.raises(FlankitError, match="unknown model shape 't5-huge'"):
        train(cfg, progress=False)
    with pytest.raises(FlankitError, match="unknown config key optim.learning_rate"):
        _cfg(tmp_path, tok_dir, "bad3", extra=["optim.learning_rate=1"])


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path, tok_dir, launch):
    path, one = _cfg(tmp_path, tok_dir, "one", steps=3, dropout=0.0)
    train(one, progress=False)
    done = launch("train", str(path), f"out_dir={tmp_path / 'two'}", "-q")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "on 2 process(es)" in done.stdout
    wa, wb = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), k


@pytest.mark.slow
def test_fsdp_sharded_training_and_resume_match_a_whole_model(tmp_path, tok_dir, launch):
    """parallel=fsdp over 2 processes (FSDP2 on CPU, gloo): the weights after 3 steps equal one
    whole-model process; resuming the sharded checkpoint for 2 more steps equals resuming the
    whole one; a sharded checkpoint will not resume on another number of processes."""
    path, one = _cfg(tmp_path, tok_dir, "whole", steps=3, dropout=0.0)
    train(one, progress=False)
    sharded = tmp_path / "sharded"
    done = launch("train", str(path), f"out_dir={sharded}", "parallel=fsdp", "-q")
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = sharded / "checkpoints" / "step-0000003"
    assert sorted(p.name for p in ckpt.glob("optimizer*")) == [
        "optimizer-rank-00000-of-00002.pt",
        "optimizer-rank-00001-of-00002.pt",
    ]
    wa, wb = _weights(tmp_path / "whole"), _weights(sharded)
    assert set(wa) == set(wb)
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), k

    train(load_config(TrainConfig, path, ["steps=5"]), resume=True, progress=False)
    done = launch(
        "train", str(path), f"out_dir={sharded}", "parallel=fsdp", "steps=5", "--resume", "-q"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wa, wb = _weights(tmp_path / "whole"), _weights(sharded)
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), k
    again = load_config(TrainConfig, path, [f"out_dir={sharded}", "parallel=fsdp", "steps=7"])
    with pytest.raises(FlankitError, match="optimizer rows for 2 processes"):
        train(again, resume=True, progress=False)


@pytest.mark.slow
def test_fsdp_decoder_with_accumulation_and_best_checkpoint(tmp_path, tok_dir, launch):
    extra = [
        "model.shape=llama-tiny",
        "data.features.length=160",
        "micro_batch_size=1",  # gradients exchanged on the last micro-batch only
        "eval_every=2",
        "heldout=[{name: synthetic, examples_per_task: 4}]",
        "heldout_examples=8",
    ]
    path, one = _cfg(tmp_path, tok_dir, "whole", steps=3, dropout=0.0, extra=extra)
    train(one, progress=False)
    done = launch("train", str(path), *extra, f"out_dir={tmp_path / 'sharded'}", "parallel=fsdp")
    assert done.returncode == 0, done.stderr[-2000:]
    for folder in ("final", "best"):
        wa = load_file(str(tmp_path / "whole" / folder / "model.safetensors"))
        wb = load_file(str(tmp_path / "sharded" / folder / "model.safetensors"))
        assert set(wa) == set(wb)
        for k in wa:
            assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), (folder, k)


@pytest.mark.slow
def test_lora_decoder_and_tensorboard(tmp_path, tok_dir):
    pytest.importorskip("peft")
    pytest.importorskip("tensorboard")
    _, cfg = _cfg(
        tmp_path,
        tok_dir,
        "lora",
        steps=3,
        dropout=0.0,
        extra=[
            "model.shape=llama-tiny",
            "model.lora.r=4",
            "model.lora.target_modules=[q_proj,v_proj]",
            "data.features.layout=decoder",
            "data.features.length=160",
            "log_to=[jsonl,tensorboard]",
        ],
    )
    result = train(cfg, progress=False)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(result["final"])
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged on export
    assert list((tmp_path / "lora" / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_bf16_autocast_matches_fp32_closely(tmp_path, tok_dir):
    _, fp32 = _cfg(tmp_path, tok_dir, "fp32", steps=2, dropout=0.0)
    _, bf16 = _cfg(tmp_path, tok_dir, "bf16", steps=2, dropout=0.0, extra=["precision=bf16"])
    a, b = train(fp32, progress=False), train(bf16, progress=False)
    assert abs(a["loss"] - b["loss"]) / a["loss"] < 0.05


@pytest.mark.slow
def test_resuming_a_finished_run_exports_again(tmp_path, tok_dir):
    path, cfg = _cfg(tmp_path, tok_dir, "fin", steps=2)
    first = train(cfg, progress=False)
    again = train(load_config(TrainConfig, path), resume=True, progress=False)
    assert again["steps"] == 2 and again["loss"] == pytest.approx(first["loss"])


@pytest.mark.slow
def test_quick_evaluation_suite_during_training(tmp_path, tok_dir):
    import json

    _, cfg = _cfg(
        tmp_path,
        tok_dir,
        "suite",
        steps=2,
        extra=[
            "eval_every=1",
            "eval_suite.benchmarks=[synthetic]",
            "eval_suite.modes=[direct]",
            "eval_suite.synthetic_limit=2",
        ],
    )
    from flankit.periodic_eval import suite_evaluator

    with pytest.raises(FlankitError, match="eval_suite is set, but train"):
        train(cfg, progress=False)  # a suite that would not run is refused, not ignored
    train(cfg, progress=False, evaluate=suite_evaluator(cfg))
    rows = [json.loads(line) for line in open(tmp_path / "suite" / "metrics.jsonl")]
    scored = [r for r in rows if "eval/synthetic/direct" in r]
    assert [r["step"] for r in scored] == [1, 2]
    assert all(0.0 <= r["eval/synthetic/direct"] <= 100.0 for r in scored)
    results = tmp_path / "suite" / "evals" / "step-0000002" / "results.json"
    assert json.loads(results.read_text())["scores"]["synthetic/direct"]["n"] > 0


def test_engine_requirements_are_checked_before_training():
    from types import SimpleNamespace as NS

    from flankit.train.loop import _check_engine

    config = {"gradient_clipping": 1.0}
    acc = NS(
        distributed_type="DEEPSPEED",
        num_processes=2,
        state=NS(deepspeed_plugin=NS(deepspeed_config=config)),
    )
    ok = load_config(TrainConfig, None, ["optim.name=adamw", "batch_size=8"])
    _check_engine(ok, acc, micro=4, resume=False)
    assert config["train_micro_batch_size_per_gpu"] == 4 and config["train_batch_size"] == 8
    with pytest.raises(FlankitError, match="Adafactor cannot run under DeepSpeed"):
        _check_engine(load_config(TrainConfig, None, ["batch_size=8"]), acc, 4, False)
    with pytest.raises(FlankitError, match="one micro-batch per step"):
        _check_engine(ok, acc, micro=2, resume=False)
    clip = load_config(TrainConfig, None, ["optim.name=adamw", "batch_size=8", "optim.clip=0.5"])
    with pytest.raises(FlankitError, match="clips gradients at 1.0, the config asks for 0.5"):
        _check_engine(clip, acc, micro=4, resume=False)
    with pytest.raises(FlankitError, match="resuming under DeepSpeed"):
        _check_engine(ok, acc, micro=4, resume=True)
    with pytest.raises(FlankitError, match="accelerate's FSDP plugin is not used"):
        _check_engine(ok, NS(distributed_type="FSDP", num_processes=2), micro=4, resume=False)
    multi = NS(distributed_type="MULTI_GPU", num_processes=2)
    lora = load_config(TrainConfig, None, ["parallel=fsdp", "model.lora.r=4"])
    with pytest.raises(FlankitError, match="parallel=fsdp cannot be combined with LoRA"):
        _check_engine(lora, multi, micro=4, resume=False)
    suite = load_config(TrainConfig, None, ["parallel=fsdp", "eval_suite.benchmarks=[synthetic]"])
    with pytest.raises(FlankitError, match="cannot be combined with eval_suite"):
        _check_engine(suite, multi, micro=4, resume=False)
    _check_engine(ok, NS(distributed_type="MULTI_GPU", num_processes=2), micro=4, resume=True)


@pytest.mark.slow
def test_flipped_byte_checkpoint_is_skipped_and_resume_is_bitwise_equal(tmp_path, tok_dir, capsys):
    from flankit.cli import main
    from flankit.errors import FlankitWarning

    _, whole = _cfg(tmp_path, tok_dir, "whole", steps=8)
    train(whole, progress=False)
    path, cfg = _cfg(tmp_path, tok_dir, "flip", steps=6)
    train(cfg, progress=False)
    ckpts = tmp_path / "flip" / "checkpoints"
    weights = ckpts / "step-0000006" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x10  # one flipped bit in the tensor data: same size, still parses
    weights.write_bytes(bytes(data))
    assert main(["train", "--verify-checkpoints", str(tmp_path / "flip")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [f"{ckpts / 'step-0000002'}: ok", f"{ckpts / 'step-0000004'}: ok"]
    assert "step-0000006: DAMAGED: model.safetensors does not match its SHA-256" in lines[2]
    with pytest.warns(FlankitWarning, match="step-0000006 is unreadable .*model.safetensors"):
        result = train(load_config(TrainConfig, path, ["steps=8"]), resume=True, progress=False)
    assert result["steps"] == 8
    wa, wb = _weights(tmp_path / "whole"), _weights(tmp_path / "flip")
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert _metrics(tmp_path / "whole") == _metrics(tmp_path / "flip")
