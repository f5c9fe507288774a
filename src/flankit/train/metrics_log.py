"""Where training metrics go: always `metrics.jsonl`; TensorBoard and Weights & Biases on request.

`metrics.jsonl` holds one record per logged step. A run that starts at step S (0 for a new run,
the checkpoint's step on `--resume`) first drops the records of later steps, which a killed
attempt wrote after its last checkpoint and this one will write again, and any line a kill cut
off; so after a resume the file equals an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flankit.errors import FlankitError, warn

SINKS = ("jsonl", "tensorboard", "wandb")


class MetricsLog:
    """Writes one record per logged step to every configured sink (main process only)."""

    def __init__(
        self, out: Path, sinks: list[str], config: dict, enabled: bool = True, start_step: int = 0
    ) -> None:
        unknown = set(sinks) - set(SINKS)
        if unknown:
            raise FlankitError(
                f"unknown metrics sink {sorted(unknown)[0]!r}; choose from {', '.join(SINKS)}",
                field="log_to",
            )
        self.enabled = enabled
        if enabled:
            keep_until(out / "metrics.jsonl", start_step)
        self._jsonl = open(out / "metrics.jsonl", "a") if enabled else None
        self._tb = self._wandb = None
        if enabled and "tensorboard" in sinks:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise FlankitError(
                    "TensorBoard logging needs the tensorboard package",
                    hint="pip install tensorboard",
                ) from exc
            self._tb = SummaryWriter(log_dir=str(out / "tensorboard"))
        if enabled and "wandb" in sinks:
            try:
                import wandb
            except ImportError as exc:
                raise FlankitError(
                    "Weights & Biases logging needs the wandb package", hint="pip install wandb"
                ) from exc
            self._wandb = wandb.init(project="flankit", dir=str(out), config=config, name=out.name)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        step = record.get("step", 0)
        scalars = {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(scalars, step=step)

    def close(self) -> None:
        if self._jsonl:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def keep_until(path: Path, step: int) -> None:
    """Rewrite `path` (atomically) with only the whole records of steps 1..`step`; none when
    `step` is 0. Dropped records of steps after `step` are counted in a warning."""
    if not path.exists():
        return
    kept, dropped, torn = [], 0, 0
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
            at = int(record["step"])
        except (ValueError, KeyError, TypeError):  # ValueError covers bad JSON and bad UTF-8
            torn += 1
            continue
        if step > 0 and at <= step:
            kept.append(line)
        else:
            dropped += 1
    if torn:
        warn(f"{path}: {torn} damaged line(s) (cut by a kill?) removed")
    if dropped:
        warn(
            f"{path}: dropped {dropped} record(s) after step {step} (written after the "
            "checkpoint this run starts from); this run writes them again"
        )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(line + b"\n" for line in kept))
    os.replace(tmp, path)
