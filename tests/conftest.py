import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FIXTURE_DATA = Path(__file__).resolve().parent / "fixtures" / "data"
REQUIRE_SHARED = "FLANKIT_REQUIRE_SHARED"


def shared_data(path: Path) -> Path:
    """`path` when the real data folder is there; else the test is skipped, or, where
    FLANKIT_REQUIRE_SHARED=1 asks that every test runs (CI does), it fails."""
    if path.is_dir():
        return path
    message = f"real data folder not found at {path}"
    if os.environ.get(REQUIRE_SHARED, "0") not in ("", "0"):
        pytest.fail(
            f"{message}; {REQUIRE_SHARED} is set, so tests that read it fail instead of "
            "skipping (put the data there, or unset it to skip them)",
            pytrace=False,
        )
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _own_cache(tmp_path_factory):
    """The test session's caches (pretraining, data ls counts) live in a temporary folder,
    never in the user's ~/.cache/flankit, unless FLANKIT_CACHE is set."""
    if os.environ.get("FLANKIT_CACHE"):
        yield
        return
    os.environ["FLANKIT_CACHE"] = str(tmp_path_factory.mktemp("flankit-cache"))
    yield
    del os.environ["FLANKIT_CACHE"]


@pytest.fixture(scope="session")
def shared() -> Path:
    """The real data folder (../shared/data from the repository root)."""
    return shared_data(SHARED)


@pytest.fixture(scope="session")
def fixture_data() -> Path:
    """A few rows of the benchmarks' and CoT files in their publishers' formats, laid out as
    the real data folder is (tests/fixtures/data, see its README); always present."""
    return FIXTURE_DATA


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


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory):
    """A 400-token tokenizer trained on the synthetic collection's fields (60 examples a task),
    saved in a folder, for the tiny training runs."""
    from flankit.data.collections import CollectionSpec, load_collection
    from flankit.tokenizer import train_tokenizer

    tasks = load_collection(CollectionSpec(name="synthetic", examples_per_task=60))
    texts = [str(v) for t in tasks for e in t.examples for v in e.fields.values()]
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(texts, 400, out)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A randomly initialised T5 and Llama of a few layers, each saved with a tiny tokenizer."""
    from flankit.models import build_model
    from flankit.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("models")
    text = [
        "The answer is (B). So the answer is No. Die Antwort ist 11. Q: A: Let's think step by step."
    ] * 30
    tok = train_tokenizer(text, 300)
    out = {}
    for shape in ("t5-tiny", "llama-tiny"):
        model, _ = build_model(shape, tok, seed=0)
        model.save_pretrained(root / shape)
        tok.save_pretrained(root / shape)
        out[shape] = root / shape
    return out
