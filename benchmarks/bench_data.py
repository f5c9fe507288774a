"""Build and pack the CoT + BIG-bench mixture; compare with tokenizing the same texts alone.

    python benchmarks/bench_data.py [--examples 50000] [--num-proc 2]

Prints examples/s, packing efficiency (encoder-decoder inputs and targets, and decoder-only),
and the ratio of the whole pipeline's time (load, decontaminate, render, tokenize, pack, write)
to the time a fast tokenizer takes to encode the same texts (the floor).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
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

    # A tokenizer trained beforehand, so the timed build does not include training it.
    base = load_config(
        DataConfig,
        args.config,
        [f"mixture.num_examples={args.examples}", "features.tokenizer=null"],
    )
    sample = build(base, work / "sample", progress=False)
    rows = [
        json.loads(line) for p in sorted((work / "sample/data").glob("*.jsonl")) for line in open(p)
    ]
    tok = train_tokenizer(
        (t for r in rows[:20000] for t in (r["inputs"], r["targets"])), 8000, work / "tok"
    )

    results = {}
    for layout in ("encdec", "decoder"):
        cfg = load_config(
            DataConfig,
            args.config,
            [
                f"mixture.num_examples={args.examples}",
                f"features.tokenizer={work / 'tok'}",
                f"features.layout={layout}",
                f"num_proc={args.num_proc}",
            ],
        )
        results[layout] = build(cfg, work / layout, progress=False)

    texts_in = [r["inputs"] for r in rows]
    texts_tgt = [r["targets"] for r in rows]
    t0 = time.perf_counter()
    for i in range(0, len(rows), 1000):
        encode(tok, texts_in[i : i + 1000])
        encode(tok, texts_tgt[i : i + 1000])
    floor = time.perf_counter() - t0

    enc, dec = results["encdec"], results["decoder"]
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
    print(
        f"| flankit build, encdec, num_proc={args.num_proc} | {enc['seconds']:.2f} | {enc['examples_per_second']:,.0f} |"
    )
    print(
        f"| flankit build, decoder, num_proc={args.num_proc} | {dec['seconds']:.2f} | {dec['examples_per_second']:,.0f} |"
    )
    print(
        f"pipeline / tokenize-alone ratio: encdec {enc['seconds'] / floor:.2f}x, decoder {dec['seconds'] / floor:.2f}x"
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
