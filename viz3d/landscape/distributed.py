"""Sharding grid points over ``torch.distributed`` ranks (gloo on CPU, nccl on GPU).

Without an initialised process group every helper degrades to the single-process case,
so the same code path runs with one rank.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from viz3d.errors import LandscapeError
from viz3d.landscape.directions import Direction


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``, or ``(0, 1)`` outside ``torchrun``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_directions(directions: list[Direction]) -> None:
    """Make every rank use rank 0's directions (in place)."""
    if rank_and_world()[1] == 1:
        return
    for direction in directions:
        for name, tensor in direction.items():
            buffer = tensor.detach().to(_device()).contiguous()
            dist.broadcast(buffer, src=0)
            direction[name] = buffer.to(tensor.device)


def broadcast_state(
    losses: np.ndarray, done: np.ndarray, ok: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rank 0's resumed losses and done mask on every rank; raise on all if rank 0 failed."""
    rank, world = rank_and_world()
    if world == 1:
        return losses, done
    status = torch.tensor([1.0 if ok else 0.0], dtype=torch.float64, device=_device())
    dist.broadcast(status, src=0)
    if status.item() != 1.0:
        if rank == 0:
            return losses, done  # rank 0 re-raises its own, more precise error
        raise LandscapeError(
            f"rank {rank}: rank 0 could not open the store file (see rank 0's error); "
            "fix it there and relaunch all ranks"
        )
    packed = torch.from_numpy(np.stack([losses.ravel(), done.ravel().astype(np.float64)]))
    packed = packed.to(_device())
    dist.broadcast(packed, src=0)
    packed = packed.cpu().numpy()
    return packed[0].reshape(losses.shape), packed[1].reshape(done.shape) > 0.5


def shard(pending: np.ndarray) -> np.ndarray:
    """This rank's share of the pending flat indices (strided, so shares differ by <= 1)."""
    rank, world = rank_and_world()
    return pending[rank::world]


def rounds(pending: int, chunk: int) -> int:
    """Number of lockstep rounds so that every rank takes part in every gather."""
    world = rank_and_world()[1]
    per_rank = -(-pending // world)
    return -(-per_rank // chunk)


def gather_round(
    total: int, indices: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All ranks' results of one round: ``(flat_indices, losses)``, on every rank."""
    if rank_and_world()[1] == 1:
        return indices, values
    losses = torch.zeros(total, dtype=torch.float64)
    mask = torch.zeros(total, dtype=torch.float64)
    losses[torch.from_numpy(indices)] = torch.from_numpy(values)
    mask[torch.from_numpy(indices)] = 1.0
    packed = torch.stack([losses, mask]).to(_device())
    dist.all_reduce(packed)  # each point is computed by exactly one rank
    packed = packed.cpu().numpy()
    done = np.flatnonzero(packed[1] > 0.5)
    return done, packed[0][done]
