"""Sharded (parallel=fsdp) vs whole (parallel=ddp) training on N processes: memory and speed.

    python benchmarks/bench_fsdp.py [--shape t5-small] [--steps 8] [--processes 2]

Runs the same `flankit train` config twice with `accelerate launch` on N processes (on CPU:
`--cpu` through mpirun, gloo), once with whole models and once sharded with FSDP2. Reports the
training state one process holds (parameters, gradients and Adafactor's statistics), target
tokens/s, and the largest difference between the two runs' final weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

CONFIG = """
data:
  collections: [{{name: synthetic, examples_per_task: 200}}]
  features: {{input_length: 512, target_length: 128}}
  render: {{max_shots: 3, fewshot_budget: 400}}
model: {{shape: {shape}, tokenizer: {tok}, dropout: 0.0}}
optim: {{name: adafactor, lr: 5.0e-4}}
steps: {steps}
batch_size: {batch}
save_every: 100000
eval_every: 100000
log_every: 1
chunk_examples: 256
"""


def launch(cfg: Path, out: Path, processes: int, parallel: str) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    if shutil.which("mpirun", path=env["PATH"]):
        hosts = out.parent / "hosts"
        hosts.write_text(f"localhost:{processes}\n")
        how = ["--cpu", "--mpirun_hostfile", str(hosts)]
    else:
        how = ["--multi_gpu"]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *how, "--num_machines", "1"]
    cmd += ["--mixed_precision", "no", "--num_processes", str(processes), "-m", "flankit.cli"]
    cmd += ["train", str(cfg), f"out_dir={out}", f"parallel={parallel}", "-q"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{parallel} run failed:\n{done.stderr[-3000:]}")


def summary(out: Path) -> dict:
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    timed = [r for r in rows if "target_tokens_per_s" in r][2:]  # the first steps warm up
    return {
        "state_mb": rows[-1]["state_mb_per_process"],
        "tok_s": sum(r["target_tokens_per_s"] for r in timed) / max(len(timed), 1),
        "loss": rows[-1]["loss"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="t5-small")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    from flankit.data.collections import CollectionSpec, load_collection
    from flankit.tokenizer import train_tokenizer

    work = Path(tempfile.mkdtemp(prefix="bench_fsdp_"))
    tasks = load_collection(CollectionSpec(name="synthetic", examples_per_task=200))
    texts = [str(v) for t in tasks for e in t.examples for v in e.fields.values()]
    train_tokenizer(texts, 8000, work / "tok")
    cfg = work / "train.yaml"
    cfg.write_text(
        CONFIG.format(shape=args.shape, tok=work / "tok", steps=args.steps, batch=args.batch)
    )
    results = {}
    for parallel in ("ddp", "fsdp"):
        launch(cfg, work / parallel, args.processes, parallel)
        results[parallel] = summary(work / parallel)
    wa = load_file(str(work / "ddp" / "final" / "model.safetensors"))
    wb = load_file(str(work / "fsdp" / "final" / "model.safetensors"))
    diff = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    print(f"{args.shape}, {args.processes} processes, batch {args.batch}, {args.steps} steps")
    print("| parallel | state per process (MB) | target tok/s | final loss |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['state_mb']:.0f} | {r['tok_s']:.0f} | {r['loss']:.4f} |")
    d, f = results["ddp"], results["fsdp"]
    print(f"memory per process fsdp/ddp: {f['state_mb'] / d['state_mb']:.2f}x")
    print(f"speed fsdp/ddp: {f['tok_s'] / d['tok_s']:.2f}x")
    print(f"largest final-weight difference: {diff:.2e} (torch {torch.__version__})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
