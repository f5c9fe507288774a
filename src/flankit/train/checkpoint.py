"""Atomic training checkpoints: written to a temporary folder, then renamed into place.

A checkpoint folder `step-NNNNNNN/` holds `model.safetensors`, `optimizer.pt` (tensors and
numbers only, loaded with `weights_only=True`), `rng.pt` and `state.json` (step, data position,
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
from safetensors.torch import load_model, save_model

from flankit.errors import FlankitError

FILES = ("model.safetensors", "optimizer.pt", "rng.pt", "state.json")


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


def save_checkpoint(folder: Path, step: int, model, optimizer, state: dict, keep: int = 2) -> Path:
    """Write checkpoint `step` atomically and prune old ones; return its folder."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:07d}"
    tmp = folder / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        save_model(model, str(tmp / "model.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(_rng_state(), tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=1))
        for name in FILES:
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FlankitError(
            f"could not write checkpoint for step {step}: {exc.strerror or exc}",
            file=str(final),
            hint="is the disk full or the folder read-only? earlier checkpoints are untouched",
        ) from exc
    for old in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step-*") if p.is_dir())


def load_latest(folder: Path, model, optimizer) -> dict | None:
    """Restore the newest readable checkpoint into model and optimizer; return its state."""
    for ckpt in reversed(list_checkpoints(folder)):
        try:
            missing = [n for n in FILES if not (ckpt / n).exists()]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            state = json.loads((ckpt / "state.json").read_text())
            opt_state = torch.load(ckpt / "optimizer.pt", weights_only=True)
            rng = torch.load(ckpt / "rng.pt", weights_only=True)
            load_model(model, str(ckpt / "model.safetensors"))
        except Exception as exc:  # any damage means: try the previous checkpoint
            warnings.warn(
                f"checkpoint {ckpt} is unreadable ({exc}); trying the previous one", stacklevel=2
            )
            continue
        optimizer.load_state_dict(opt_state)
        _set_rng_state(rng)
        state["checkpoint"] = str(ckpt)
        return state
    return None
