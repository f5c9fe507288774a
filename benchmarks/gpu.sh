#!/usr/bin/env bash
# The GPU figures for benchmarks/RESULTS.md in one call (at most 8 minutes on one GPU, offline):
#   bash benchmarks/gpu.sh             # CUDA machine; results in $OUT (or ./gpu-results)
#   bash benchmarks/gpu.sh --dry-run   # tiny shapes on CPU in seconds (the test suite runs this)
# Extra arguments go to benchmarks/gpu_bench.py (--budget SECONDS, --sections a,b, --out DIR).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUTDIR="${OUT:-gpu-results}"
mkdir -p "$OUTDIR"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# The Python budget (420 s) ends sections early; this hard limit stops a hung kernel at 8 minutes.
timeout --signal=INT --kill-after=10 470 "$PY" benchmarks/gpu_bench.py --out "$OUTDIR" "$@" 2>&1 | tee "$OUTDIR/gpu_log.txt"
