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


def agree(chunk: int, failure: str | None) -> tuple[int, dict[int, str]]:
    """The smallest chunk size of all ranks (so all run the same rounds), and who failed.

    Ranks may choose different chunk sizes (free GPU memory differs), and a rank whose setup
    failed must tell the others instead of leaving them waiting in the first gather.
    """
    if rank_and_world()[1] == 1:
        return chunk, {0: failure} if failure is not None else {}
    header = _all_gather(torch.tensor([chunk, failure is not None]))
    failed = _failures(header[:, 1], failure)
    return int(header[:, 0].min()), failed


def gather_round(
    indices: np.ndarray, values: np.ndarray, failure: str | None = None
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """All ranks' results of one round, on every rank, and the ranks that failed in it.

    Only the ``(flat index, loss)`` pairs each rank computed travel, padded to the largest
    share of the round, never a tensor the size of the grid.

    Parameters
    ----------
    indices, values : numpy.ndarray
        This rank's flat grid indices and their losses (empty if it computed none).
    failure : str, optional
        This rank's error message, if its evaluation failed.

    Returns
    -------
    tuple
        ``(flat_indices, losses, failures)``; ``failures`` maps rank -> error message.

    Raises
    ------
    LandscapeError
        When the other ranks cannot be reached (a rank died or was killed).
    """
    rank, world = rank_and_world()
    if world == 1:
        return indices, values, {0: failure} if failure is not None else {}
    header = _all_gather(torch.tensor([len(indices), failure is not None]))
    counts = header[:, 0]
    width = int(counts.max())
    got_indices, got_values = [np.zeros(0, np.int64)], [np.zeros(0)]
    if width:
        # indices below 2**53 are exact in float64, so one tensor carries both
        packed = torch.zeros(2, width, dtype=torch.float64)
        packed[0, : len(indices)] = torch.from_numpy(np.asarray(indices, dtype=np.float64))
        packed[1, : len(values)] = torch.from_numpy(np.asarray(values, dtype=np.float64))
        everyone = _all_gather(packed)
        for r, count in enumerate(counts):
            got_indices.append(everyone[r, 0, :count].astype(np.int64))
            got_values.append(everyone[r, 1, :count])
    failed = _failures(header[:, 1], failure)
    return np.concatenate(got_indices), np.concatenate(got_values), failed


# Longer error messages are cut to this many UTF-8 bytes when sent to the other ranks.
_MESSAGE_BYTES = 2048


def _failures(flags: np.ndarray, failure: str | None) -> dict[int, str]:
    """``rank -> message`` of every rank that raised a flag (a collective only if any did)."""
    if not flags.any():
        return {}
    encoded = (failure or "").encode()[:_MESSAGE_BYTES]
    buffer = torch.zeros(_MESSAGE_BYTES, dtype=torch.uint8)
    buffer[: len(encoded)] = torch.tensor(list(encoded), dtype=torch.uint8)
    messages = _all_gather(buffer)
    return {
        int(r): bytes(messages[r]).rstrip(b"\0").decode(errors="replace")
        for r in np.flatnonzero(flags)
    }


def _all_gather(tensor: torch.Tensor) -> np.ndarray:
    """``(world, *tensor.shape)``: every rank's tensor."""
    rank, world = rank_and_world()
    tensor = tensor.to(_device())
    out = [torch.empty_like(tensor) for _ in range(world)]
    try:
        dist.all_gather(out, tensor)
    except RuntimeError as exc:  # gloo and nccl report a vanished peer as RuntimeError
        raise LandscapeError(
            f"rank {rank}: lost contact with the other ranks ({type(exc).__name__}: "
            f"{str(exc).strip()[:300]}); another rank probably died or was killed, see its log. "
            "The finished points are kept in the store file (rank 0 writes it); relaunch all "
            "ranks with the same arguments to resume"
        ) from exc
    return torch.stack(out).cpu().numpy()
