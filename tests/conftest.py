import os
import shutil
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


ACCELERATE = ["-m", "accelerate.commands.launch", "--num_machines", "1", "--mixed_precision", "no"]


@pytest.fixture
def launch(tmp_path):
    """Run `python -m flankit.cli ARGS` in 2 CPU processes with `accelerate launch --cpu`; return
    the finished process. accelerate starts several CPU processes through mpirun (the dev extra
    installs MPICH's); without one, `--multi_gpu` on a machine with no GPU starts them through
    torch.distributed.run, and each trains on CPU with gloo as well."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("localhost:8\n")
    if shutil.which("mpirun", path=env["PATH"]):
        how = ["--cpu", "--mpirun_hostfile", str(hostfile)]
    else:
        how = ["--multi_gpu", "--dynamo_backend", "no"]

    def run(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            *ACCELERATE,
            *how,
            "--num_processes",
            str(nproc),
            "-m",
            "flankit.cli",
        ]
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=300)

    return run
