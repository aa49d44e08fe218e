"""Activation statistics: a few numbers and a fixed-size neuron sample per traced output."""

from __future__ import annotations

from typing import Any

import torch

# Module classes whose outputs keep channels on axis 1 (N, C, ...), so neurons are channels.
_CHANNEL_FIRST = (
    "Conv",
    "BatchNorm",
    "InstanceNorm",
    "Pool",
    "Upsample",
    "PixelShuffle",
    "Dropout2d",
    "Dropout3d",
    "GroupNorm",
    "ConvTranspose",
)


def neuron_dim(tensor: torch.Tensor, type_name: str = "") -> int:
    """The axis whose entries are treated as neurons: channels for conv-like outputs, else last."""
    if tensor.dim() <= 1:
        return 0
    if tensor.dim() >= 4 or any(key in type_name for key in _CHANNEL_FIRST):
        return 1
    return tensor.dim() - 1


def activation_stats(
    tensor: torch.Tensor, type_name: str = "", samples: int = 256
) -> dict[str, Any] | None:
    """Summarise one activation: mean, std, abs-max and up to ``samples`` neuron means.

    Returns ``None`` for tensors without values (``meta``), non-float tensors and empty ones.
    The whole activation is never kept: only these numbers leave the function.

    Examples
    --------
    >>> import torch
    >>> s = activation_stats(torch.arange(8.0).reshape(2, 4))
    >>> s["mean"], s["absmax"], s["neuron_count"], s["neurons"]
    (3.5, 7.0, 4, [2.0, 3.0, 4.0, 5.0])
    """
    if tensor.is_meta or not tensor.is_floating_point() or tensor.numel() == 0:
        return None
    with torch.no_grad():
        x = tensor.detach()
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        dim = neuron_dim(x, type_name)
        count = x.shape[dim] if x.dim() else 1
        # sum, norm and aminmax are single fast passes; torch.std_mean is ~20x slower on CPU
        total, norm = x.sum(), torch.linalg.vector_norm(x)
        low, high = torch.aminmax(x)
        if x.dim() == 0:
            neurons = x.reshape(1)
        else:
            take = min(count, samples)
            index = torch.linspace(0, count - 1, take, device=x.device).round().long()
            picked = x.index_select(dim, index).movedim(dim, 0).reshape(take, -1)
            neurons = picked.mean(dim=1)
        values = torch.cat(
            [torch.stack([total, norm, low, high]).to(neurons.dtype), neurons]
        ).tolist()
    n = x.numel()
    mean = values[0] / n
    variance = max(values[1] ** 2 / n - mean**2, 0.0)
    return {
        "mean": mean,
        "std": variance**0.5,
        "absmax": max(abs(values[2]), abs(values[3])),
        "neuron_dim": dim,
        "neuron_count": int(count),
        "neurons": values[4:],
    }
