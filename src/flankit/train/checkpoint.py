"""Atomic training checkpoints: written to a temporary folder, then renamed into place.

A checkpoint folder `step-NNNNNNN/` holds `model.safetensors` (whole weights), `optimizer.pt`
(tensors and numbers only, loaded with `weights_only=True`; under `fsdp` one
`optimizer-rank-R-of-N.pt` per process), `rng.pt`, `state.json` (step, data position,
metrics) and, written last, `manifest.json`: the SHA-256 and size of every other file. The last
`keep` are kept. Loading takes the newest checkpoint whose files match their manifest and parse;
a damaged one (flipped bytes, truncated, missing a file) is skipped with a one-line warning
naming the file, and the previous one is used. `verify_checkpoints` checks a folder without
loading anything into a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from flankit.errors import FlankitError, warn
from flankit.train.parallel import Parallel

WHOLE = Parallel()
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    """Record the checksum of every file in `folder`; written (and fsynced) after all of them."""
    files = {
        p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    path = folder / MANIFEST
    path.write_text(json.dumps({"files": files}, indent=1))
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def check_files(ckpt: Path, names: list[str] | None = None) -> str | None:
    """What is wrong with a checkpoint's files (`names`, or all its manifest lists), else None.
    A checkpoint written before manifests existed has none; its files are not checked."""
    path = ckpt / MANIFEST
    if not path.exists():
        if (ckpt / "state.json").exists():
            return None
        return "missing state.json"
    try:
        files = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return f"{MANIFEST} is damaged"
    for name in names if names is not None else list(files):
        entry = files.get(name)
        if entry is None:
            return f"{name} is not in {MANIFEST}"
        target = ckpt / name
        if not target.exists():
            return f"{name} is missing"
        if target.stat().st_size != entry["bytes"]:
            return f"{name} has {target.stat().st_size} bytes, {entry['bytes']} were written"
        if _sha256(target) != entry["sha256"]:
            return f"{name} does not match its SHA-256 checksum (damaged on disk)"
    return None


def verify_checkpoints(folder: Path) -> list[tuple[Path, str | None]]:
    """(checkpoint, problem or None) for every checkpoint in `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FlankitError("not a directory", file=str(folder))
    ckpts = list_checkpoints(folder)
    if not ckpts and (folder / "checkpoints").is_dir():  # a run folder was given
        ckpts = list_checkpoints(folder / "checkpoints")
    if not ckpts and folder.name.startswith("step-"):  # one checkpoint was given
        ckpts = [folder]
    if not ckpts:
        raise FlankitError("no checkpoints (step-NNNNNNN folders) here", file=str(folder))
    return [(c, check_files(c)) for c in ckpts]


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
    # Every process takes part in each `agree`, so all of them stop at the same phase.
    error = _attempt(_fresh_folder, folder, tmp) if par.is_main else None
    if par.agree(error is None):
        meta = {"step": step, "processes": par.world, "sharded": par.sharded, **state}
        error = _attempt(_write_parts, tmp, model, weights, optimizer, meta, par)
    if par.agree(error is None) and par.is_main:
        error = _attempt(_publish, tmp, final)
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


def _attempt(action, *args) -> OSError | None:
    """Run one phase of a checkpoint write; the OSError it met, else None."""
    try:
        action(*args)
    except OSError as exc:
        return exc
    return None


def _fresh_folder(folder: Path, tmp: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()


def _write_parts(tmp: Path, model, weights, optimizer, meta: dict, par: Parallel) -> None:
    """This process's files of a checkpoint, each fsynced: its optimizer rows and, on the main
    process, the weights (gathered ones when `weights` is given), RNG state and state.json."""
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
        (tmp / "state.json").write_text(json.dumps(meta, indent=1))
        written += ["model.safetensors", "rng.pt", "state.json"]
    for name in written:
        with open(tmp / name, "rb") as f:
            os.fsync(f.fileno())


def _publish(tmp: Path, final: Path) -> None:
    write_manifest(tmp)  # last, after every process wrote its files
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


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
            problem = check_files(ckpt, ["state.json", *needed])
            if problem:
                raise ValueError(problem)
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
            warn(f"checkpoint {ckpt} is unreadable ({exc}); trying the previous one")
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
