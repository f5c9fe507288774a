import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real data folder not found at {SHARED}")
    return SHARED


LAUNCHERS = {
    "torchrun": ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "{n}"],
    # accelerate's `--cpu` starts one process unless mpirun is there; `--multi_gpu` goes through
    # torch.distributed.run, and on a machine without GPUs each process runs on CPU with gloo.
    "accelerate": [
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "{n}",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ],
}


@pytest.fixture
def torchrun():
    """Run `python -m flankit.cli ARGS` in 2 CPU processes (torchrun, or `accelerate launch`
    with launcher="accelerate"); return the finished process."""

    def run(*args: str, nproc: int = 2, launcher: str = "torchrun") -> subprocess.CompletedProcess:
        prefix = [a.format(n=nproc) for a in LAUNCHERS[launcher]]
        cmd = [sys.executable, *prefix, "-m", "flankit.cli", *args]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    return run
