"""How the model is spread over the processes `accelerate launch` starts: whole or sharded.

`ddp` keeps a whole copy of the model on every process (accelerate's DistributedDataParallel).
`fsdp` shards every parameter by rows over the processes with PyTorch's FSDP2 (`fully_shard`,
each transformer block a unit that is gathered for its forward and backward), so weights,
gradients and Adafactor's statistics take 1/N of the memory each. Either way, checkpoints and
exports hold whole weights in ordinary safetensors files (gathered on the main process under
`fsdp`); under `fsdp` each process also saves its own rows of the optimizer state.

Under `fsdp`, gathering and loading weights are collective: every process calls them.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Parallel:
    sharded: bool = False
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def optimizer_file(self) -> str:
        if self.sharded:
            return f"optimizer-rank-{self.rank:05d}-of-{self.world:05d}.pt"
        return "optimizer.pt"

    @property
    def saves_optimizer(self) -> bool:
        return self.sharded or self.is_main

    def _distributed(self) -> bool:
        return self.world > 1 and dist.is_available() and dist.is_initialized()

    def barrier(self) -> None:
        if self._distributed():
            dist.barrier()

    def agree(self, ok: bool) -> bool:
        """True on every process when `ok` is true on every process."""
        if not self._distributed():
            return ok
        flag = torch.tensor([int(ok)], device=_comm_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    def shard(self, module, device: torch.device) -> None:
        """FSDP2 over `module` (the loss wrapper around the model): each transformer block (the
        model's `_no_split_modules`) a unit, and `module` the root unit holding the rest, so
        that the embeddings are gathered whichever part of the model the loss calls first."""
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (self.world,))
        units = set(getattr(module.model, "_no_split_modules", None) or ())
        for block in list(module.model.modules()):
            if type(block).__name__ in units:
                fully_shard(block, mesh=mesh)
        fully_shard(module, mesh=mesh)
        # Blocks hand back tuples holding views; the loss path does no in-place op on them, and
        # tests/test_train_loop.py checks the sharded weights equal a whole-model run.
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")

    def gradient_sync(self, module, last: bool):
        """Exchange gradients on the last micro-batch of a step only."""
        if self.sharded:
            module.set_requires_gradient_sync(last)
            return nullcontext()
        return module.no_sync() if self.world > 1 and not last else nullcontext()

    def full_weights(self, model) -> dict | None:
        """Whole weights on CPU on the main process under `fsdp` ({} elsewhere); None under `ddp`,
        where the model itself is whole."""
        if not self.sharded:
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights = get_model_state_dict(model, options=options)
        tied = _tied_names(model)  # a tied parameter once, under its first name
        return {k: v for k, v in weights.items() if k not in tied}

    def load_weights(self, model, weights: dict) -> None:
        """Under `fsdp`: the main process's whole weights, scattered as each process's rows."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
        if self.is_main:
            weights = {**weights, **{a: weights[n] for a, n in _tied_names(model).items()}}
        set_model_state_dict(model, weights if self.is_main else {}, options=options)


def _tied_names(model) -> dict[str, str]:
    """{other name: first name} for each parameter the model holds under several names."""
    first: dict[int, str] = {}
    aliases = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            aliases[name] = first[id(param)]
        else:
            first[id(param)] = name
    return aliases


def _comm_device() -> torch.device:
    backend = dist.get_backend()
    return (
        torch.device("cuda", torch.cuda.current_device())
        if "nccl" in backend
        else torch.device("cpu")
    )


def state_megabytes(model, optimizer) -> float:
    """Megabytes of parameters, gradients and optimizer state held by this process (its rows
    under `fsdp`); activations and the temporarily gathered blocks are not counted."""

    def size(t) -> int:
        local = t.to_local() if hasattr(t, "to_local") else t
        return local.numel() * local.element_size()

    params = list(model.parameters())
    total = sum(size(p) + (size(p.grad) if p.grad is not None else 0) for p in params)
    for state in optimizer.state.values():
        total += sum(size(v) for v in state.values() if isinstance(v, torch.Tensor))
    return total / 2**20
