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


#: Digits used for training by :func:`fit_digits`; the rest are held out.
TRAIN_DIGITS = 1500


def fit_digits(
    model: torch.nn.Module, *, epochs: int, batch: int = 100, lr: float = 2e-2, images: bool = True
) -> float:
    """Train ``model`` with Adam on the first 1,500 digits; return its held-out accuracy.

    The model is left in eval mode. Seed torch first for a reproducible result.

    Examples
    --------
    >>> import torch
    >>> from viz3d.zoo.data import fit_digits
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 10))
    >>> fit_digits(model, epochs=5, images=False) > 0.8
    True
    """
    inputs, labels = digits(images=images)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for start in range(0, TRAIN_DIGITS, batch):
            optimizer.zero_grad()
            part = slice(start, min(start + batch, TRAIN_DIGITS))
            torch.nn.functional.cross_entropy(model(inputs[part]), labels[part]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        guesses = model(inputs[TRAIN_DIGITS:]).argmax(1)
    return (guesses == labels[TRAIN_DIGITS:]).float().mean().item()
