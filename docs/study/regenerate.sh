#!/usr/bin/env bash
# Regenerates every result file and generated number of docs/STUDY.md (and the quickstart
# figures quoted in README.md and benchmarks/RESULTS.md): about an hour on 2 CPU cores.
# The seeds are those of the committed runs (the size recipe names 3; its run used 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
flankit quickstart --out out/quickstart
flankit quickstart --out out/quickstart_ft100 --steps 100
flankit quickstart --out out/quickstart_rehearsal0 --rehearsal 0
flankit sweep configs/sweep/world_tasks.yaml
flankit sweep configs/sweep/world_size.yaml "seeds=[0, 1]"
flankit sweep configs/sweep/world_cot.yaml
cp out/quickstart_ft100/quickstart.json docs/study/quickstart_ft100.json
cp out/quickstart_rehearsal0/quickstart.json docs/study/quickstart_rehearsal0.json
flankit report runs/world_tasks runs/world_size runs/world_cot --quickstart out/quickstart \
  --out docs/study --docs
