"""Training throughput: flankit (packed rows, segment masks) vs Hugging Face Seq2SeqTrainer.

    python benchmarks/bench_train.py [--shape t5-mini] [--steps 30] [--lengths 512/128,1024/256,2048/512]

Both train the same randomly initialised T5 shape with Adafactor at the same learning rate on the
same rendered examples (CoT + synthetic, skewed lengths, as Flan data is). The baseline is what
a user would otherwise pick: `Seq2SeqTrainer` with `DataCollatorForSeq2Seq` (dynamic padding to
the longest example in each batch). flankit runs attention per packed example
(`attention=segments`, what `flankit train` picks on CPU); `--attention sdpa` times the dense
block-diagonal masks instead. Reported: real (non-padding) target tokens per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from flankit.config import load_config
from flankit.data.build import DataConfig, FeatureConfig, RenderConfig, load_mixture
from flankit.data.pipeline import pack_texts, render_refs
from flankit.models import build_model
from flankit.tokenizer import train_tokenizer
from flankit.train.segments import use_segments
from flankit.train.step import batch_loss

ROOT = Path(__file__).resolve().parents[1]
# wall: elapsed seconds; cpu: this process's CPU seconds, which a busy shared machine disturbs
# far less (both trainers run in this process, data loading included)
CLOCK = [time.perf_counter]
MIX = """
collections:
  - {name: cot, rate: 0.5}
  - {name: synthetic, rate: 0.5, examples_per_task: 300}
render: {max_shots: 3, fewshot_budget: 400}
"""


def texts(n: int):
    path = Path(tempfile.mkdtemp()) / "mix.yaml"
    path.write_text(MIX)
    cfg = load_config(DataConfig, path)
    mix, _ = load_mixture(cfg)
    refs = [r for r, _ in zip(mix.stream(), range(n))]
    return render_refs(mix, refs, RenderConfig(max_shots=3, fewshot_budget=400))


def bench_flankit(model, tok, ins, tgts, rows_per_step, steps, lengths):
    feats = FeatureConfig(layout="encdec", input_length=lengths[0], target_length=lengths[1])
    rows = pack_texts(ins, tgts, tok, feats)
    from flankit.data.features import rows_to_arrays
    from flankit.train.adafactor import Adafactor

    opt = Adafactor(model.parameters(), lr=1e-3)  # the optimizer `flankit train` runs
    model.train()
    tokens, t0 = 0, None
    for step in range(steps + 2):
        chunk = rows[(step * rows_per_step) % len(rows) :][:rows_per_step]
        b = {
            k: torch.from_numpy(v).long()
            for k, v in rows_to_arrays(chunk, "encdec", lengths, 0).items()
        }
        if step == 2:  # two warm-up steps
            t0, tokens = CLOCK[0](), 0
        loss, n = batch_loss(model, b, "encdec")
        (loss / n).backward()
        opt.step()
        opt.zero_grad()
        tokens += int(n)
    return tokens / (CLOCK[0]() - t0), sum(len(r) for r in rows) / len(rows)


def bench_hf(model, tok, ins, tgts, batch, steps, lengths):
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments
    from transformers.optimization import Adafactor

    enc = tok(ins, max_length=lengths[0], truncation=True)
    lab = tok(text_target=tgts, max_length=lengths[1], truncation=True)
    ds = Dataset.from_dict(
        {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "labels": lab["input_ids"],
        }
    )
    args = Seq2SeqTrainingArguments(
        output_dir=tempfile.mkdtemp(),
        per_device_train_batch_size=batch,
        max_steps=steps + 2,
        report_to=[],
        logging_steps=10_000,
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    opt = Adafactor(model.parameters(), lr=1e-3, scale_parameter=False, relative_step=False)
    collator = DataCollatorForSeq2Seq(tok, model=model, label_pad_token_id=-100)
    trainer = Seq2SeqTrainer(
        model=model, args=args, train_dataset=ds, data_collator=collator, optimizers=(opt, None)
    )
    timing = {}

    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            if state.global_step == 2:
                timing["t0"] = CLOCK[0]()

    trainer.add_callback(Clock())
    trainer.train()
    elapsed = CLOCK[0]() - timing["t0"]
    # Real target tokens in the timed steps: the examples the sampler fed, in order.
    order = list(trainer.get_train_dataloader().sampler)
    per_ex = [sum(1 for t in ds[i]["labels"]) for i in range(len(ds))]
    n_timed = sum(per_ex[i] for i in order[2 * batch : (steps + 2) * batch])
    return n_timed / elapsed


def run(args, ins, tgts, tok, lengths) -> dict:
    model, _ = build_model(args.shape, tok, dropout=0.0, seed=0)
    if args.attention == "segments":
        use_segments(model)  # what `flankit train` runs on CPU (attention=auto)
    rows_per_step = max(1, 4096 // lengths[0])  # about 4k input tokens a step
    fl, per_row = bench_flankit(model, tok, ins, tgts, rows_per_step, args.steps, lengths)
    batch = max(1, round(rows_per_step * per_row))  # the same examples per step
    model, _ = build_model(args.shape, tok, dropout=0.0, seed=0)
    hf = bench_hf(model, tok, ins, tgts, batch, args.steps, lengths)
    return {
        "lengths": lengths,
        "rows": rows_per_step,
        "per_row": per_row,
        "batch": batch,
        "hf": hf,
        "flankit": fl,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="t5-mini")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument(
        "--lengths",
        default="512/128,1024/256,2048/512",
        help="input/target row lengths, comma-separated",
    )
    ap.add_argument(
        "--attention",
        choices=["segments", "sdpa"],
        default="segments",
        help="flankit's attention: per packed example, or dense block-diagonal masks",
    )
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = ap.parse_args()
    if args.clock == "cpu":
        CLOCK[0] = time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    ins, tgts = texts(args.examples)
    tok = train_tokenizer(ins[:2000] + tgts[:2000], 4000, Path(tempfile.mkdtemp()) / "tok")
    results = []
    for spec in args.lengths.split(","):
        i, t = (int(x) for x in spec.split("/"))
        results.append(run(args, ins, tgts, tok, (i, t)))
        r = results[-1]
        print(f"{spec}: HF {r['hf']:,.0f}, flankit {r['flankit']:,.0f} target tokens/s", flush=True)
    print(
        f"\nmodel {args.shape}, {args.steps} timed steps, flankit attention={args.attention}, "
        f"{args.clock} clock, {torch.get_num_threads()} threads"
    )
    print(
        "| lengths (in / out) | rows/step (examples/row) | HF examples/step | HF target tokens/s | flankit target tokens/s | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['lengths'][0]} / {r['lengths'][1]} | {r['rows']} ({r['per_row']:.1f}) | {r['batch']} "
            f"| {r['hf']:,.0f} | {r['flankit']:,.0f} | **{r['flankit'] / r['hf']:.2f}x** |"
        )


if __name__ == "__main__":
    main()
