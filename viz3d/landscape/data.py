"""Turn the user's ``data`` into a list of on-device batches, and fingerprint it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import torch

from viz3d.errors import LandscapeError

Batch = tuple[tuple[torch.Tensor, ...], Any]


def as_batches(data: Any, device: torch.device) -> list[Batch]:
    """Materialise ``data`` as ``[(inputs_tuple, targets), ...]`` on ``device``.

    ``data`` is an ``(inputs, targets)`` pair or an iterable of such pairs (a DataLoader).
    Batches are read once and kept, because every grid point needs all of them.
    """
    if _is_pair(data):
        raw = [data]
    elif isinstance(data, Iterable):
        raw = list(data)
    else:
        raise LandscapeError(
            f"data must be an (inputs, targets) pair or an iterable of them, "
            f"got {type(data).__name__}"
        )
    batches = []
    for position, item in enumerate(raw):
        if not _is_pair(item):
            raise LandscapeError(
                f"batch {position} of data is a {type(item).__name__}, not an (inputs, targets) "
                "pair; wrap your dataset so that each batch yields (inputs, targets)"
            )
        inputs, targets = item
        inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
            raise LandscapeError(f"batch {position}: inputs must be a tensor or a tuple of tensors")
        if inputs[0].ndim == 0 or inputs[0].shape[0] == 0:
            continue
        batches.append((tuple(x.to(device) for x in inputs), _to_device(targets, device)))
    if not batches:
        raise LandscapeError(
            "data is empty: no batch with at least one sample; pass (inputs, targets) "
            "or a DataLoader that yields non-empty batches"
        )
    return batches


def batch_size(batch: Batch) -> int:
    """Number of samples in a batch (first dimension of its first input)."""
    return int(batch[0][0].shape[0])


def fingerprint(batches: list[Batch]) -> dict[str, Any]:
    """Shapes of the batches and a hash of their content, to detect a changed data set."""
    digest = hashlib.sha256()
    shapes = []
    for inputs, targets in batches:
        tensors = [*inputs, *(targets if isinstance(targets, (tuple, list)) else (targets,))]
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor):
                shapes.append(list(tensor.shape))
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return {"shapes": shapes, "sha256": digest.hexdigest()}


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, (tuple, list))
        and len(item) == 2
        and not (isinstance(item[0], (tuple, list)) and _is_pair(item[0]) and _is_pair(item[1]))
    )


def _to_device(targets: Any, device: torch.device) -> Any:
    if isinstance(targets, torch.Tensor):
        return targets.to(device)
    if isinstance(targets, (tuple, list)):
        return type(targets)(_to_device(t, device) for t in targets)
    return targets
