"""Data that ships inside a package: scikit-learn's 8x8 handwritten digits (nothing downloads)."""

from __future__ import annotations

import torch

from viz3d.errors import SpecError


def digits(images: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits scaled to [0, 1] with their labels: ``(N, 64)`` rows, or ``(N, 1, 8, 8)``
    images with ``images=True``.

    Examples
    --------
    >>> x, y = digits(images=True)
    >>> tuple(x.shape), int(y.max())
    ((1797, 1, 8, 8), 9)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise SpecError(
            "the digits data set comes with scikit-learn: pip install scikit-learn"
        ) from exc
    bunch = load_digits()
    x = torch.tensor(bunch.data / 16.0, dtype=torch.float32)
    return (x.view(-1, 1, 8, 8) if images else x), torch.tensor(bunch.target)
