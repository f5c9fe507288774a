"""Atomic training checkpoints: written to a temporary folder, then renamed into place.

A checkpoint folder `step-NNNNNNN/` holds `model.safetensors` (whole weights), `optimizer.pt`
(tensors and numbers only, loaded with `weights_only=True`; under `fsdp` one
`optimizer-rank-R-of-N.pt` per process), `rng.pt` and `state.json` (step, data position,
metrics). The last `keep` are kept. Loading takes the newest readable one; a damaged newest one
is skipped with a warning, and the previous one is used.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from flankit.errors import FlankitError
from flankit.train.parallel import Parallel

WHOLE = Parallel()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: Path, step: int, model, optimizer, state: dict, keep: int = 2, par: Parallel = WHOLE
) -> Path:
    """Write checkpoint `step` atomically and prune old ones; return its folder. Every process
    calls it: under `fsdp` the weights are gathered and each process writes its optimizer rows."""
    final = folder / f"step-{step:07d}"
    tmp = folder / f".tmp-step-{step:07d}"
    weights = par.full_weights(model)
    error: OSError | None = None
    try:
        if par.is_main:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
    except OSError as exc:
        error = exc
    if par.agree(error is None):
        try:
            written = []
            if par.saves_optimizer:
                torch.save(optimizer.state_dict(), tmp / par.optimizer_file)
                written.append(par.optimizer_file)
            if par.is_main:
                if weights is None:
                    save_model(model, str(tmp / "model.safetensors"))
                else:
                    save_file(weights, str(tmp / "model.safetensors"))
                torch.save(_rng_state(), tmp / "rng.pt")
                meta = {"step": step, "processes": par.world, "sharded": par.sharded, **state}
                (tmp / "state.json").write_text(json.dumps(meta, indent=1))
                written += ["model.safetensors", "rng.pt", "state.json"]
            for name in written:
                with open(tmp / name, "rb") as f:
                    os.fsync(f.fileno())
        except OSError as exc:
            error = exc
    if par.agree(error is None) and par.is_main:
        try:
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as exc:
            error = exc
    if not par.agree(error is None):
        if par.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        reason = (error.strerror or str(error)) if error else "another process could not write"
        raise FlankitError(
            f"could not write checkpoint for step {step}: {reason}",
            file=str(final),
            hint="is the disk full or the folder read-only? earlier checkpoints are untouched",
        ) from error
    if par.is_main:
        for old in list_checkpoints(folder)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    par.barrier()
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step-*") if p.is_dir())


def load_latest(folder: Path, model, optimizer, par: Parallel = WHOLE) -> dict | None:
    """Restore the newest checkpoint every process can read into model and optimizer; return
    its state. Under `fsdp`, only a run with the same number of processes can resume."""
    for ckpt in reversed(list_checkpoints(folder)):
        weights = None
        try:
            state = json.loads((ckpt / "state.json").read_text())
            _check_layout(ckpt, state, par)
            needed = ["rng.pt", "model.safetensors", par.optimizer_file]
            missing = [n for n in needed if not (ckpt / n).exists()]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            opt_state = torch.load(ckpt / par.optimizer_file, weights_only=True)
            rng = torch.load(ckpt / "rng.pt", weights_only=True)
            if not par.sharded:
                load_model(model, str(ckpt / "model.safetensors"))
            elif par.is_main:
                weights = load_file(str(ckpt / "model.safetensors"))
            ok = True
        except FlankitError:
            raise
        except Exception as exc:  # any damage means: try the previous checkpoint
            warnings.warn(
                f"checkpoint {ckpt} is unreadable ({exc}); trying the previous one", stacklevel=2
            )
            ok = False
        if not par.agree(ok):
            continue
        if par.sharded:
            par.load_weights(model, weights)
        optimizer.load_state_dict(opt_state)
        _set_rng_state(rng)
        state["checkpoint"] = str(ckpt)
        return state
    if list_checkpoints(folder):
        raise FlankitError(
            "no checkpoint could be read", file=str(folder), hint="see the warnings above"
        )
    return None


def _check_layout(ckpt: Path, state: dict, par: Parallel) -> None:
    was_sharded, processes = state.get("sharded", False), state.get("processes", 1)
    if was_sharded and (not par.sharded or processes != par.world):
        raise FlankitError(
            f"{ckpt.name} holds optimizer rows for {processes} processes (parallel=fsdp); "
            f"this run has {par.world}" + ("" if par.sharded else " and does not shard"),
            file=str(ckpt),
            hint=f"resume with parallel=fsdp on {processes} processes, or start a new run from "
            "the exported weights (model.path=...)",
        )
    if par.sharded and not was_sharded:
        raise FlankitError(
            f"{ckpt.name} was written by a parallel=ddp run",
            file=str(ckpt),
            hint="resume it with parallel=ddp",
        )
