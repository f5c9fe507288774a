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


# `accelerate launch --cpu` starts one process unless mpirun is there; `--multi_gpu` goes through
# torch.distributed.run, and on a machine without GPUs each process runs on CPU with gloo.
ACCELERATE = [
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
]


@pytest.fixture
def launch():
    """Run `python -m flankit.cli ARGS` in 2 CPU processes with `accelerate launch`; return the
    finished process."""

    def run(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
        cmd = [sys.executable, *ACCELERATE, "--num_processes", str(nproc), "-m", "flankit.cli"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=300)

    return run
