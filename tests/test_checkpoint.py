"""Checkpoints on one process: written whole or not at all, pruned to `keep`, read back."""

import errno
from pathlib import Path

import pytest
import torch

from flankit.errors import FlankitError
from flankit.train import checkpoint
from flankit.train.checkpoint import check_files, list_checkpoints, load_latest, save_checkpoint


def _trained(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_the_newest_checkpoints_are_kept_and_read_back(tmp_path):
    model, optimizer = _trained()
    folder = tmp_path / "ckpt"
    for step in (1, 2, 3):
        written = save_checkpoint(folder, step, model, optimizer, {"position": 10 * step}, keep=2)
        assert written == folder / f"step-{step:07d}"
    assert [p.name for p in list_checkpoints(folder)] == ["step-0000002", "step-0000003"]
    assert all(check_files(p) is None for p in list_checkpoints(folder))
    assert sorted(p.name for p in (folder / "step-0000003").iterdir()) == [
        "manifest.json",
        "model.safetensors",
        "optimizer.pt",
        "rng.pt",
        "state.json",
    ]
    other, other_opt = _trained(seed=1)
    state = load_latest(folder, other, other_opt)
    assert state["step"] == 3 and state["position"] == 30
    assert torch.equal(other.weight, model.weight) and torch.equal(other.bias, model.bias)
    assert other_opt.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]


def _fail(message: str, code: int):
    def fail(*args, **kwargs):
        raise OSError(code, message)

    return fail


@pytest.mark.parametrize(
    "phase, owner, target, reason",
    [
        ("making the folder", Path, "mkdir", "Read-only file system"),
        ("writing the files", checkpoint, "save_model", "No space left on device"),
        ("putting it in place", checkpoint, "write_manifest", "No space left on device"),
    ],
)
def test_a_failed_write_names_the_step_and_leaves_the_earlier_checkpoint(
    tmp_path, monkeypatch, phase, owner, target, reason
):
    model, optimizer = _trained()
    folder = tmp_path / "ckpt"
    save_checkpoint(folder, 1, model, optimizer, {})
    code = errno.EROFS if "Read-only" in reason else errno.ENOSPC
    monkeypatch.setattr(owner, target, _fail(reason, code))
    with pytest.raises(FlankitError) as caught:
        save_checkpoint(folder, 2, model, optimizer, {})
    text = str(caught.value)
    assert f"step-0000002: could not write checkpoint for step 2: {reason}" in text, phase
    assert "earlier checkpoints are untouched" in text
    assert [p.name for p in folder.iterdir()] == ["step-0000001"]  # no half-written folder
    assert check_files(folder / "step-0000001") is None
