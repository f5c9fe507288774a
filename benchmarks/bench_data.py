"""Build and pack the CoT + BIG-bench mixture; compare with tokenizing the same texts alone.

    python benchmarks/bench_data.py [--examples 50000] [--num-proc 2]
    python benchmarks/bench_data.py --submix [--rows 500000] [--small-rows 50000] [--repeats 7]
        [--no-builds]
    python benchmarks/bench_data.py --ls [--baseline REV] [--repeats 7]

Prints examples/s, packing efficiency (encoder-decoder inputs and targets, and decoder-only),
and the ratio of the whole pipeline's time (load, decontaminate, render, tokenize, pack, write)
to the time a fast tokenizer takes to encode the same texts (the floor).

`--submix` generates parquet files in the published Flan 2022 submix schema (inputs, targets,
task_source, task_name, template_type) and measures the submix route: the peak RSS of a whole
`flan2022_submix.yaml`-style build (every row once, each size in a fresh process) at both sizes,
and the submix reader's speed against pyarrow reading the same columns alone.

`--ls` times `flankit data ls` as a user runs it, a fresh process each time, cold (an empty
`$FLANKIT_CACHE`) then warm, on the shared data; with `--baseline REV` the same runs of that
revision's `src/` (interleaved, so both see the same machine load) and the ratio, after checking
that both print the same listing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from flankit.config import load_config
from flankit.data.build import DataConfig, build
from flankit.tokenizer import encode, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]


SUBMIX_BUILD = """
import json, resource, sys
from flankit.config import load_config
from flankit.data.build import DataConfig, build
stats = build(load_config(DataConfig, sys.argv[1]), sys.argv[2], progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(json.dumps({"peak_kib": peak, "examples": stats["examples"], "seconds": stats["seconds"]}))
"""
SOURCES = ("Flan2021", "P3", "NIv2", "CoT", "Dialog")
TYPES = ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt")


def write_submix(path: Path, rows: int, *, tasks: int = 200, chunk: int = 20_000) -> Path:
    """A parquet file of `rows` rows in the published schema, written chunk by chunk."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flankit.data.flan2022.submix import COLUMNS

    rng = np.random.default_rng(0)
    words = np.array(
        [
            "the",
            "a",
            "of",
            "premise",
            "question",
            "answer",
            "options",
            "yes",
            "no",
            "river",
            "city",
            "model",
        ]
    )
    schema = pa.schema([(c, pa.string()) for c in COLUMNS])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            task = rng.integers(0, tasks, n)
            lengths = rng.integers(40, 160, n)
            body = [" ".join(words[rng.integers(0, len(words), k)]) for k in lengths]
            table = pa.table(
                {
                    "inputs": [f"Row {start + i}: {b}?" for i, b in enumerate(body)],
                    "targets": [str(words[t % len(words)]) for t in task],
                    "task_source": [SOURCES[t % len(SOURCES)] for t in task],
                    "task_name": [f"task_{t:03d}" for t in task],
                    "template_type": [TYPES[i % 4] for i in range(start, start + n)],
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=10_000)
    return path


def _submix_config(work: Path, parquet: Path) -> Path:
    import yaml

    cfg = yaml.safe_load((ROOT / "configs/data/flan2022_submix.yaml").read_text())
    for entry in cfg["collections"]:
        entry["path"] = str(parquet)
    cfg["mixture"].pop("num_examples")  # every row once: the whole file goes through the build
    cfg.update(features={}, decontaminate={"eval_paths": []}, num_proc=1)
    cfg["output"] = {"format": "parquet"}
    path = work / f"{parquet.stem}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _ls_once(src: Path, cache: str) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one `flankit data ls`, and what it printed."""
    env = {**os.environ, "PYTHONPATH": str(src), "FLANKIT_CACHE": cache}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "flankit.cli", "data", "ls"],
        cwd=ROOT,  # the data root defaults to ../shared/data
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, out


def bench_ls(repeats: int, baseline: str | None) -> None:
    """Cold and warm `flankit data ls` of this tree (and of `baseline`): median and fastest."""
    trees = {"this tree": ROOT / "src"}
    if baseline:
        base = Path(tempfile.mkdtemp(prefix="flankit-ls-baseline-"))
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", baseline, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        trees = {f"baseline {baseline}": base / "src", **trees}
    runs = [(t, m) for t in trees for m in ("cold", "warm")]
    times: dict[tuple[str, str], list[float]] = {r: [] for r in runs}
    cpus: dict[tuple[str, str], list[float]] = {r: [] for r in runs}
    listings = set()
    load_before = os.getloadavg()
    for _ in range(repeats):
        for label, src in trees.items():
            cache = tempfile.mkdtemp(prefix="flankit-ls-cache-")
            for mode in ("cold", "warm"):
                seconds, cpu, out = _ls_once(src, cache)
                times[label, mode].append(seconds)
                cpus[label, mode].append(cpu)
                listings.add(out)
    load_after = os.getloadavg()
    if len(listings) != 1:
        raise SystemExit("the listings differ between runs or trees")
    print(
        f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; "
        f"{os.cpu_count()} CPUs; {repeats} runs each"
    )
    print("| tree | run | median s | fastest s | median CPU s | median vs baseline |")
    print("|---|---|---:|---:|---:|---:|")
    first = next(iter(trees))
    for (label, mode), ts in times.items():
        ratio = statistics.median(times[first, mode]) / statistics.median(ts)
        vs = f"{ratio:.2f}x faster" if baseline and label != first else ""
        cpu = statistics.median(cpus[label, mode])
        print(
            f"| {label} | {mode} | {statistics.median(ts):.2f} | {min(ts):.2f} | {cpu:.2f} | {vs} |"
        )


def _submix_peaks(work: Path, files: dict[int, Path]) -> dict[int, dict]:
    """Peak RSS (and examples, seconds) of a whole build of each file, each in a fresh process."""
    peaks = {}
    for n, parquet in files.items():
        cfg = _submix_config(work, parquet)
        out = subprocess.run(
            [sys.executable, "-c", SUBMIX_BUILD, str(cfg), str(work / f"out_{n}")],
            check=True,
            capture_output=True,
            text=True,
        )
        peaks[n] = json.loads(out.stdout.strip().splitlines()[-1])
    return peaks


def _in_turn(runs: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds (this process, all its threads) of each run, `repeats` times,
    taken in turn so all see the same machine load."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            times[key].append(time.perf_counter() - t0)
            cpus[key].append(time.process_time() - c0)
    return times, cpus


def bench_submix(rows: int, small: int, repeats: int, builds: bool = True) -> None:
    """Peak RSS of whole builds at two sizes (`builds`), then the reader against pyarrow reading
    the same five columns, each measure run in turn `repeats` times (median, fastest)."""
    import pyarrow.parquet as pq

    from flankit.data.flan2022 import submix

    work = Path(tempfile.mkdtemp(prefix="flankit-bench-submix-"))
    sizes = (small, rows) if builds else (rows,)
    files = {n: write_submix(work / f"submix_{n}.parquet", n) for n in sizes}
    peaks = _submix_peaks(work, files) if builds else {}
    parquet = files[rows]
    columns = list(submix.COLUMNS)
    some = submix.Filters(template_types=frozenset({"zs_opt"}), task_sources=frozenset({"P3"}))

    def arrow_alone():
        for batch in pq.ParquetFile(parquet).iter_batches(submix.BATCH_ROWS, columns=columns):
            batch.column(0)

    def arrow_python():
        for batch in pq.ParquetFile(parquet).iter_batches(submix.BATCH_ROWS, columns=columns):
            batch.to_pylist()

    # The read with every kept row's texts, as a build's load reads them (alongside the labels).
    def read_with_texts():
        done = submix.read(parquet, submix.Filters(), texts=True)
        done.prepare()  # nothing left to read
        for spill in (done.inputs, done.targets):
            os.unlink(spill.path)

    measures = {
        "arrow": ("pyarrow alone: `ParquetFile.iter_batches(8192, columns=<5>)`", arrow_alone),
        "python": ("pyarrow + `RecordBatch.to_pylist()` (Python strings)", arrow_python),
        "read": (
            "flankit submix reader (validate, filter, keep row refs)",
            lambda: submix.read(parquet, submix.Filters()),
        ),
        "texts": ("reader + every kept row's texts into the spill", read_with_texts),
        "some": ("flankit submix reader, zs_opt + P3 only", lambda: submix.read(parquet, some)),
    }
    load_before = os.getloadavg()
    times, cpus = _in_turn({k: run for k, (_, run) in measures.items()}, repeats)
    load_after = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    read = submix.read(parquet, submix.Filters())
    filtered = submix.read(parquet, some)
    size = parquet.stat().st_size / 2**20
    print(f"submix parquet: {rows:,} rows ({size:.0f} MiB), {len(read.by_task)} tasks")
    print(
        f"load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)}, after "
        f"{'/'.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs; {repeats} runs each"
    )
    print("| measure | median (fastest) | median CPU |")
    print("|---|---:|---:|")
    for n in peaks:
        p = peaks[n]
        print(
            f"| build, every row once, {n:,} rows: peak RSS | {p['peak_kib'] / 1024:.0f} MiB "
            f"({p['examples']:,} examples in {p['seconds']:.1f} s) |"
        )
    if builds:
        ratio = peaks[rows]["peak_kib"] / peaks[small]["peak_kib"]
        print(f"| peak RSS {rows:,} / {small:,} rows | {ratio:.2f}x |")
    kept = sum(len(v) for v in filtered.by_task.values())
    for key, (label, _) in measures.items():
        extra = f", {kept:,} rows kept" if key == "some" else ""
        print(f"| {label} | {med[key]:.2f} s ({min(times[key]):.2f}{extra}) | {cpu[key]:.2f} s |")
    for key, base, label in (
        ("read", "arrow", "reader / pyarrow alone"),
        ("texts", "arrow", "**reader + texts / pyarrow alone**"),
        ("texts", "python", "reader + texts / pyarrow + to_pylist"),
    ):
        ratios = sorted(t / b for t, b in zip(times[key], times[base]))
        print(
            f"| {label} | {med[key] / med[base]:.2f}x (per run {ratios[0]:.2f}-{ratios[-1]:.2f}x) "
            f"| {cpu[key] / cpu[base]:.2f}x |"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs/data/cot_bigbench.yaml"))
    ap.add_argument("--examples", type=int, default=50_000)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--submix", action="store_true", help="benchmark the published-submix route")
    ap.add_argument("--rows", type=int, default=500_000, help="--submix: rows of the large file")
    ap.add_argument("--small-rows", type=int, default=50_000, help="--submix: the small file")
    ap.add_argument("--ls", action="store_true", help="time `flankit data ls`, cold and warm")
    ap.add_argument("--baseline", help="--ls: also time this git revision's src/ (e.g. main)")
    ap.add_argument("--repeats", type=int, default=7, help="--ls, --submix: runs of each")
    ap.add_argument("--no-builds", action="store_true", help="--submix: the read times only")
    args = ap.parse_args()
    if args.ls:
        bench_ls(args.repeats, args.baseline)
        return
    if args.submix:
        bench_submix(args.rows, args.small_rows, args.repeats, builds=not args.no_builds)
        return
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
