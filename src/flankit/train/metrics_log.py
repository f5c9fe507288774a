"""Where training metrics go: always `metrics.jsonl`; TensorBoard and Weights & Biases on request."""

from __future__ import annotations

import json
from pathlib import Path

from flankit.errors import FlankitError

SINKS = ("jsonl", "tensorboard", "wandb")


class MetricsLog:
    """Writes one record per logged step to every configured sink (main process only)."""

    def __init__(self, out: Path, sinks: list[str], config: dict, enabled: bool = True) -> None:
        unknown = set(sinks) - set(SINKS)
        if unknown:
            raise FlankitError(
                f"unknown metrics sink {sorted(unknown)[0]!r}; choose from {', '.join(SINKS)}",
                field="log_to",
            )
        self.enabled = enabled
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
