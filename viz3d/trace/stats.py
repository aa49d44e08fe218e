"""Activation statistics: a few numbers and a fixed-size neuron sample per traced output.

The numbers cover the *finite* values only; infinite and NaN values are counted apart
(``n_inf``, ``n_nan``), so a causal-attention mask full of ``-inf`` still reports the mean and
spread of its other entries. Values at the dtype's limit (``±torch.finfo(dtype).max``) count as
infinite: Hugging Face models fill attention masks with ``torch.finfo(dtype).min`` as their
"minus infinity", and those entries would otherwise swamp every statistic.
"""

from __future__ import annotations

import math
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


def sample_index(count: int, samples: int) -> list[int]:
    """Which neurons are sampled: sample ``j`` of ``k = min(count, samples)`` is neuron
    ``floor(j * count / k)``.

    The layout (:mod:`viz3d.layout.neurons`) inverts this rule to find the sample that stands for
    a neuron; change both together.

    Examples
    --------
    >>> sample_index(10, 4)
    [0, 2, 5, 7]
    >>> sample_index(3, 256)
    [0, 1, 2]
    """
    take = min(count, samples)
    return [j * count // take for j in range(take)]


def activation_stats(
    tensor: torch.Tensor, type_name: str = "", samples: int = 256
) -> dict[str, Any] | None:
    """Summarise one activation: mean, std, abs-max and up to ``samples`` neuron means.

    Parameters
    ----------
    tensor : torch.Tensor
        The activation.
    type_name : str, default: ""
        Module class or op name; conv-like ones keep neurons (channels) on axis 1.
    samples : int, default: 256
        Most neurons sampled (see :func:`sample_index`).

    Returns
    -------
    dict or None
        ``mean``, ``std``, ``absmax`` over the finite values (``None`` when there are none),
        ``n_inf`` and ``n_nan`` (how many values were infinite or at the dtype's limit, and
        NaN), ``neuron_dim``, ``neuron_count`` and ``neurons`` (the finite-value mean of each
        sampled neuron, NaN for a neuron without finite values). ``None`` for tensors without
        values (``meta``), non-float tensors and empty ones. The whole activation is never kept.

    Examples
    --------
    >>> import torch
    >>> s = activation_stats(torch.arange(8.0).reshape(2, 4))
    >>> s["mean"], s["absmax"], s["neuron_count"], s["neurons"]
    (3.5, 7.0, 4, [2.0, 3.0, 4.0, 5.0])
    >>> s = activation_stats(torch.tensor([[1.0, float("-inf")], [3.0, float("nan")]]))
    >>> s["mean"], s["std"], s["n_inf"], s["n_nan"], s["neurons"]
    (2.0, 1.0, 1, 1, [2.0, nan])
    """
    if tensor.is_meta or not tensor.is_floating_point() or tensor.numel() == 0:
        return None
    limit = torch.finfo(tensor.dtype).max
    with torch.no_grad():
        x = tensor.detach()
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        dim = neuron_dim(x, type_name)
        count = x.shape[dim] if x.dim() else 1
        low, high = torch.aminmax(x)
        # NaN fails both comparisons, so one check (one device sync) finds every odd value
        regular = bool((low > -limit) & (high < limit))
        if regular:
            finite, values, n_nan, n_inf = None, x, 0, 0
        else:
            nan = torch.isnan(x)
            finite = x.abs() < limit
            values = x[finite]
            n_nan = int(nan.sum())
            n_inf = x.numel() - n_nan - values.numel()
        neurons = _neuron_means(x, finite, dim, sample_index(count, samples))
        if values.numel() == 0:
            return _summary(None, None, None, n_inf, n_nan, dim, count, neurons.tolist())
        if not regular:
            low, high = torch.aminmax(values)
        numbers = _moments(values, low, high)
        if not all(math.isfinite(v) for v in numbers):
            numbers = _moments(values.double(), low.double(), high.double())  # float32 overflowed
    n = values.numel()
    shift = numbers[1] / n
    variance = max(numbers[2] / n - shift**2, 0.0)
    mean, absmax = numbers[0] + shift, max(abs(numbers[3]), abs(numbers[4]))
    return _summary(mean, variance**0.5, absmax, n_inf, n_nan, dim, count, neurons.tolist())


def _moments(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> list[float]:
    """Pilot mean, sum and sum of squares of the values centred on it, low, high.

    Two passes, the second on centred values: ``E[x^2] - mean^2`` in float32 loses every digit
    when the mean is large next to the spread (mean 3000, std 1 gave std 13 or 0).
    """
    pilot = values.sum() / values.numel()
    centred = (values - pilot).reshape(-1)
    parts = [pilot, centred.sum(), torch.dot(centred, centred), low, high]
    return torch.stack([p.to(values.dtype) for p in parts]).tolist()


def _neuron_means(
    x: torch.Tensor, finite: torch.Tensor | None, dim: int, index: list[int]
) -> torch.Tensor:
    """Mean of the finite values of each neuron in ``index`` along ``dim`` (NaN if none)."""
    if x.dim() == 0:
        keep = finite is None or bool(finite)
        return x.reshape(1) if keep else torch.full((1,), float("nan"))
    where = torch.tensor(index, device=x.device)
    picked = x.index_select(dim, where).movedim(dim, 0).reshape(len(index), -1)
    if finite is None:
        return picked.mean(dim=1)
    mask = finite.index_select(dim, where).movedim(dim, 0).reshape(len(index), -1)
    # a neuron with no finite value divides 0 by 0: NaN, which the layout draws as "no data"
    return torch.where(mask, picked, 0.0).sum(dim=1) / mask.sum(dim=1)


def _summary(
    mean: float | None,
    std: float | None,
    absmax: float | None,
    n_inf: int,
    n_nan: int,
    dim: int,
    count: int,
    neurons: list[float],
) -> dict[str, Any]:
    def number(value: float | None) -> float | None:
        return value if value is not None and math.isfinite(value) else None

    return {
        "mean": number(mean),
        "std": number(std),
        "absmax": number(absmax),
        "n_inf": n_inf,
        "n_nan": n_nan,
        "neuron_dim": dim,
        "neuron_count": int(count),
        "neurons": neurons,
    }
