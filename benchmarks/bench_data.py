"""Build and pack the CoT + BIG-bench mixture; compare with tokenizing the same texts alone.

    python benchmarks/bench_data.py [--examples 50000] [--num-proc 2]

Prints examples/s, packing efficiency (encoder-decoder inputs and targets, and decoder-only),
and the ratio of the whole pipeline's time (load, decontaminate, render, tokenize, pack, write)
to the time a fast tokenizer takes to encode the same texts (the floor).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from flankit.config import load_config
from flankit.data.build import DataConfig, build
from flankit.tokenizer import encode, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs/data/cot_bigbench.yaml"))
    ap.add_argument("--examples", type=int, default=50_000)
    ap.add_argument("--num-proc", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flankit-bench-"))
    n = f"mixture.num_examples={args.examples}"

    # The texts, and a tokenizer trained on them beforehand (training it is not timed).
    sample = build(
        load_config(DataConfig, args.config, [n, "features.tokenizer=null"]),
        work / "sample",
        progress=False,
    )
    with ExitStack() as stack:
        files = [
            stack.enter_context(open(p)) for p in sorted((work / "sample/data").glob("*.jsonl"))
        ]
        rows = [json.loads(line) for f in files for line in f]
    tok = train_tokenizer(
        (t for r in rows[:20000] for t in (r["inputs"], r["targets"])), 8000, work / "tok"
    )

    results = {}
    runs = (
        ("cold", "encdec", work / "empty-cache"),
        ("encdec", "encdec", None),
        ("decoder", "decoder", None),
    )
    for name, layout, cache in runs:
        over = [
            n,
            f"features.tokenizer={work / 'tok'}",
            f"features.layout={layout}",
            f"num_proc={args.num_proc}",
        ]
        if cache is not None:  # a first build: no cached evaluation index or decontamination
            os.environ["FLANKIT_CACHE"] = str(cache)
        results[name] = build(
            load_config(DataConfig, args.config, over), work / name, progress=False
        )
        os.environ.pop("FLANKIT_CACHE", None)

    t0 = time.perf_counter()
    for i in range(0, len(rows), 1000):
        encode(tok, [r["inputs"] for r in rows[i : i + 1000]])
        encode(tok, [r["targets"] for r in rows[i : i + 1000]])
    floor = time.perf_counter() - t0

    enc, dec, cold = results["encdec"], results["decoder"], results["cold"]
    te, td = enc["tokens"], dec["tokens"]
    print(
        f"mixture: {args.examples:,} examples from {len(enc['tasks'])} tasks "
        f"({sample['decontaminated_total']} decontaminated, {len(sample['excluded_tasks'])} tasks held out)"
    )
    print("| stage | seconds | examples/s |")
    print("|---|---:|---:|")
    print(
        f"| tokenize alone (floor, fast tokenizer, batched) | {floor:.2f} | {args.examples / floor:,.0f} |"
    )
    for label, r in (
        ("encdec, first build (empty cache)", cold),
        ("encdec, repeat build", enc),
        ("decoder, repeat build", dec),
    ):
        print(
            f"| flankit build, {label}, num_proc={args.num_proc} | {r['seconds']:.2f} | {r['examples_per_second']:,.0f} |"
        )
    print(
        f"pipeline / tokenize-alone: encdec first build {cold['seconds'] / floor:.2f}x, "
        f"repeat {enc['seconds'] / floor:.2f}x; decoder repeat {dec['seconds'] / floor:.2f}x"
    )
    print(
        f"packing efficiency encdec: inputs {te['efficiency_inputs']:.4f}, targets {te['efficiency_targets']:.4f} "
        f"(filling side {te['filling_side']}; input/target ratio {te['input_target_token_ratio']:.2f}, "
        f"suggested target length {te['suggested_target_length']})"
    )
    print(f"packing efficiency decoder: {td['efficiency']:.4f}")
    print(
        f"truncated inputs: encdec {te.get('truncated_inputs', 0)}, decoder {td.get('truncated_inputs', 0)}"
    )


if __name__ == "__main__":
    main()
