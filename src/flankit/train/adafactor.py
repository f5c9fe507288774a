"""Adafactor (Shazeer & Stern, 2018) as the paper finetunes with it, for whole and sharded weights.

Constant learning rate, factored second moments for matrices (a row and a column statistic),
update clipping at RMS 1, decay rate -0.8, no momentum, no parameter scaling: the update of
`transformers.optimization.Adafactor(scale_parameter=False, relative_step=False)`, which the
tests check step by step.

It also runs on parameters that FSDP2 shards by rows (`DTensor`, placement `Shard(0)`). Each
process then updates its own rows, and the three statistics that span rows (the column means, the
mean of the row statistic, and the update's RMS) are summed over the processes first, so the
sharded update equals the whole one. Its state holds this process's rows only.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from flankit.errors import FlankitError


class _Rows:
    """How one parameter is split by rows over processes (group None: it is whole here)."""

    def __init__(self, param) -> None:
        self.group, self.shape = None, tuple(param.shape)
        self.local = param
        try:
            from torch.distributed.tensor import DTensor, Shard
        except ImportError:  # pragma: no cover - torch without distributed tensors
            return
        if not isinstance(param, DTensor):
            return
        self.local = param.to_local()
        placements = tuple(param.placements)
        if all(not p.is_shard() for p in placements):
            return  # replicated: every process holds the whole tensor
        if placements != (Shard(0),):
            raise FlankitError(
                f"Adafactor supports parameters sharded by rows over one mesh dimension "
                f"(FSDP2's Shard(0)); got {placements}",
                hint="use parallel=fsdp (one mesh dimension) or optim.name=adamw",
            )
        self.group = param.device_mesh.get_group()

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.group is not None:
            dist.all_reduce(t, op=dist.ReduceOp.SUM, group=self.group)
        return t

    def mean(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        """Mean over `dim`; summed over the processes first when `dim` is the sharded one (the
        first dimension of `t`, which is the parameter's first dimension)."""
        if self.group is None or dim % t.dim() != 0:
            return t.mean(dim=dim)
        return self.sum(t.sum(dim=dim)) / self.shape[0]

    def rms(self, t: torch.Tensor) -> torch.Tensor:
        if self.group is None:
            return t.norm(2) / (t.numel() ** 0.5)
        return self.sum(t.pow(2).sum()).sqrt() / (math.prod(self.shape) ** 0.5)


class Adafactor(torch.optim.Optimizer):
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        eps: float = 1e-30,  # added to squared gradients
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            eps=eps,
            clip_threshold=clip_threshold,
            decay_rate=decay_rate,
            weight_decay=weight_decay,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    def _update(self, p, group: dict) -> None:
        rows = _Rows(p)
        grad = _Rows(p.grad).local
        param = rows.local
        if grad.dtype in (torch.float16, torch.bfloat16):
            grad = grad.float()
        state = self.state[p]
        factored = len(rows.shape) >= 2
        if not state:
            state["step"] = 0
            if factored:
                state["exp_avg_sq_row"] = torch.zeros_like(grad[..., 0])
                state["exp_avg_sq_col"] = torch.zeros_like(grad[..., 0, :])
            else:
                state["exp_avg_sq"] = torch.zeros_like(grad)
        state["step"] += 1
        lr = group["lr"]
        beta2t = 1.0 - math.pow(state["step"], group["decay_rate"])
        update = grad**2 + group["eps"]
        if factored:
            row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
            row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1.0 - beta2t)
            col.mul_(beta2t).add_(rows.mean(update, dim=-2), alpha=1.0 - beta2t)
            r_factor = (row / rows.mean(row, dim=-1).unsqueeze(-1)).rsqrt_().unsqueeze(-1)
            update = torch.mul(r_factor, col.unsqueeze(-2).rsqrt()).mul_(grad)
        else:
            sq = state["exp_avg_sq"]
            sq.mul_(beta2t).add_(update, alpha=1.0 - beta2t)
            update = sq.rsqrt().mul_(grad)
        update.div_((rows.rms(update) / group["clip_threshold"]).clamp_(min=1.0))
        update.mul_(lr)
        target = param.float() if param.dtype in (torch.float16, torch.bfloat16) else param
        if group["weight_decay"]:
            target.add_(target, alpha=-group["weight_decay"] * lr)
        target.add_(-update)
        if target is not param:
            param.copy_(target)
