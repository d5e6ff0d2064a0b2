"""torchrun integration: one process per GPU (or CPU worker), gloo on CPU and NCCL on GPU; rank 0 writes
(`is_main_rank`); mixed precision on CUDA only (`amp_enabled`).

`torchrun --nproc_per_node 2 -m clara_tlt train …` sets RANK, WORLD_SIZE and LOCAL_RANK; nothing else launches
processes. Multi-node runs add torchrun's rendezvous flags (docs/train.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among `world_size` and the device it computes on."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return is_main_rank(self.rank)


def is_main_rank(rank: int | None = None) -> bool:
    """Whether `rank` (default: this process's, torchrun's RANK, 0 outside torchrun) is the process that writes
    checkpoints, logs and reports: rank 0. The other ranks compute only."""
    return (int(os.environ.get("RANK", "0")) if rank is None else rank) == 0


def amp_enabled(use_amp: bool, device: torch.device) -> bool:
    """Whether mixed precision (autocast, with a gradient scaler in training) runs: `use_amp` on a CUDA device;
    on a CPU it is ignored."""
    return use_amp and device.type == "cuda"


def launch_note(*, multi_gpu: bool, command_hint: str) -> str | None:
    """What `multi_gpu: true` outside torchrun means here: one process on one device, and the torchrun command
    that would use N GPUs (`command_hint` is what follows torchrun's own flags: `-m clara_tlt train -m MMAR
    -c CONFIG`). None when there is nothing to say. Configs written for Horovod's several GPUs run unchanged."""
    if not multi_gpu or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return None
    return (
        "multi_gpu is true: this run uses one process on one device; for NUM_GPUS GPUs run "
        f"torchrun --nproc_per_node=NUM_GPUS {command_hint}"
    )


def setup() -> Context:
    """Join the torchrun job this process belongs to (if any) and pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context(rank=0, world_size=1, device=_device(0))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    context = Context(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device)
    log.debug("rank %d of %d on %s", context.rank, context.world_size, device)
    return context


def teardown(context: Context) -> None:
    """Leave the process group (after the last collective)."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def _device(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def broadcast_flag(flag: bool, context: Context) -> bool:
    """True on every rank when it is true on any (a stop request seen by one rank stops all)."""
    if not context.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_from_main(value: T, context: Context) -> T:
    """Rank 0's `value` on every rank (what rank 0 alone decided, e.g. to resume or start fresh)."""
    if not context.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0, device=context.device)
    return holder[0]
