"""One `flankit eval` job: check the benchmarks' data, load the model, evaluate, write results.

Under `accelerate launch` (or torchrun, or mpirun) each process generates its share of the
requests into its own cache file; after all are done, the first process merges the caches and
scores everything. `run_job` returns the results on the process that wrote them, else None.

Example (a job from overrides; `flankit eval CONFIG key=value ...` loads it the same way):
    >>> from flankit.config import load_config
    >>> job = load_config(EvalJob, None, ["model=google/flan-t5-base", "benchmarks=[bbh]"])
    >>> job.suite().benchmarks, job.model
    (['bbh'], 'google/flan-t5-base')
"""

from __future__ import annotations

import os
from pathlib import Path

from flankit.data.sources import BadRows
from flankit.errors import FlankitError
from flankit.evals.runner import build_items, evaluate, finish
from flankit.evals.suite import EvalJob

__all__ = ["EvalJob", "model_spec", "run_job"]


def model_spec(model: str, gguf_file: str | None = None, trust_remote_code: bool = False):
    """The `ModelSpec` of a hub id, a local folder, or a `.gguf` file path."""
    from flankit.models import ModelSpec

    path = Path(model)
    if path.suffix == ".gguf" and not gguf_file:
        return ModelSpec(
            path=str(path.parent), gguf_file=path.name, trust_remote_code=trust_remote_code
        )
    return ModelSpec(path=model, gguf_file=gguf_file, trust_remote_code=trust_remote_code)


def load_lm(job: EvalJob):
    """The evaluated model of `job`, through its backend."""
    if job.backend == "vllm":
        from flankit.evals.vllm_lm import VLLMLM
        from flankit.models import hub_access

        hub_access(job.model)  # a missing folder or no network fails here, not inside vLLM
        return VLLMLM(
            job.model,
            max_input_length=job.max_input_length,
            tensor_parallel_size=job.tensor_parallel_size,
            trust_remote_code=job.trust_remote_code,
        )
    from flankit.evals.lm import HFLM

    return HFLM.load(
        model_spec(job.model, job.gguf_file, job.trust_remote_code),
        max_input_length=job.max_input_length,
        batch_size=job.batch_size,
    )


def run_job(job: EvalJob, *, progress: bool = True, lm=None) -> dict | None:
    """Evaluate `job.model` (or the given `lm`) on `job.suite()` into `job.out`."""
    if job.model is None and lm is None:
        raise FlankitError(
            "eval needs a model: --model (a hub id, a folder or a .gguf file) or model=..."
        )
    if job.out is None:
        raise FlankitError("eval needs an output folder: --out DIR or out=DIR")
    suite = job.suite()
    build_items(suite)  # fail on bad data before loading the model
    lm = lm if lm is not None else load_lm(job)
    state = distributed_state()
    if state is None:
        return evaluate(lm, suite, job.out, progress=progress)
    rank, world = state.process_index, state.num_processes
    evaluate(lm, suite, job.out, progress=progress and rank == 0, shard=(rank, world))
    state.wait_for_everyone()
    if rank != 0:
        return None
    bad = BadRows(skip=suite.skip_bad_rows)
    items, skipped = build_items(suite, bad)
    return finish(items, suite, Path(job.out), lm.name, skipped, 0.0, bad)


def distributed_state():
    """accelerate's view of the launch when it started several processes, else None."""
    launched = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    if all(int(os.environ.get(k, "1")) <= 1 for k in launched):
        return None
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
