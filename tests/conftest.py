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


@pytest.fixture
def torchrun():
    """Run `python -m flankit.cli ARGS` in 2 CPU processes with torchrun; return the result."""

    def run(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(nproc),
            "-m",
            "flankit.cli",
            *args,
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    return run
