"""Non-negative matrix factorisation ``X ≈ W H`` in torch: NNDSVD start, HALS updates.

The start is scikit-learn's ``init="nndsvd"`` / ``"nndsvda"`` (Boutsidis & Gallopoulos 2008)
and the updates are hierarchical alternating least squares (Cichocki & Phan 2009), the
column-wise coordinate descent of scikit-learn's ``solver="cd"`` without regularisation: the two
reach the same factors up to the order of the components (a test compares them). It runs on the
tensor's device, in float64 on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from viz3d.errors import InputError

Init = Literal["nndsvd", "nndsvda"]


@dataclass
class NMFResult:
    """``X ≈ W @ H`` with ``W`` (samples x k) and ``H`` (k x features) non-negative."""

    W: torch.Tensor
    H: torch.Tensor
    iterations: int
    #: ``||X - W H||_F / ||X||_F``
    relative_error: float


def nndsvd(x: torch.Tensor, k: int, *, variant: Init = "nndsvd", eps: float = 1e-6):
    """Non-negative double SVD start ``(W, H)`` for ``x`` (as scikit-learn's ``_initialize_nmf``).

    Each singular pair ``(u, v)`` is split into its positive and negative parts and the pair
    with the larger product of norms is kept; ``"nndsvda"`` fills the zeros with ``x.mean()``.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(20, 6, dtype=torch.float64)
    >>> w, h = nndsvd(x, 3)
    >>> tuple(w.shape), tuple(h.shape), bool((w >= 0).all() and (h >= 0).all())
    ((20, 3), (3, 6), True)
    """
    u, s, vt = torch.linalg.svd(x, full_matrices=False)
    w = torch.zeros(x.shape[0], k, dtype=x.dtype, device=x.device)
    h = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device)
    w[:, 0] = s[0].sqrt() * u[:, 0].abs()
    h[0] = s[0].sqrt() * vt[0].abs()
    for j in range(1, k):
        a, b = u[:, j], vt[j]
        ap, bp, an, bn = a.clamp(min=0), b.clamp(min=0), (-a).clamp(min=0), (-b).clamp(min=0)
        positive, negative = ap.norm() * bp.norm(), an.norm() * bn.norm()
        if positive > negative:
            a, b, sigma = ap / ap.norm(), bp / bp.norm(), positive
        else:
            a, b, sigma = an / an.norm(), bn / bn.norm(), negative
        scale = (s[j] * sigma).sqrt()
        w[:, j], h[j] = scale * a, scale * b
    w[w < eps] = 0
    h[h < eps] = 0
    if variant == "nndsvda":
        mean = x.mean()
        w[w == 0], h[h == 0] = mean, mean
    return w, h


def _hals_sweep(w: torch.Tensor, xht: torch.Tensor, hht: torch.Tensor) -> None:
    """One pass over the columns of ``w`` minimising ``||X - W H||`` column by column (in place)."""
    for j in range(w.shape[1]):
        if hht[j, j] <= 0:
            continue
        step = (xht[:, j] - w @ hht[:, j]) / hht[j, j]
        w[:, j] = (w[:, j] + step).clamp(min=0)


def nmf(
    x: torch.Tensor,
    k: int,
    *,
    init: Init = "nndsvd",
    max_iter: int = 500,
    tol: float = 1e-6,
) -> NMFResult:
    """Factorise a non-negative ``samples x features`` matrix into ``k`` parts.

    Parameters
    ----------
    x : torch.Tensor
        Non-negative, 2D.
    k : int
        Number of components, at most ``min(x.shape)``.
    init : {"nndsvd", "nndsvda"}, default: "nndsvd"
        Start, as scikit-learn's option of the same name.
    max_iter : int, default: 500
        Most HALS iterations (each updates all of ``W``, then all of ``H``).
    tol : float, default: 1e-6
        Stop when the relative error improves by less than this.

    Returns
    -------
    NMFResult

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(30, 2, dtype=torch.float64) @ torch.rand(2, 8, dtype=torch.float64)
    >>> result = nmf(x, 2, max_iter=60)
    >>> result.relative_error < 0.05
    True
    """
    if x.dim() != 2:
        raise InputError(f"nmf needs a 2D samples x features matrix, got shape {list(x.shape)}")
    if not 1 <= k <= min(x.shape):
        raise InputError(
            f"k={k} components do not fit a {list(x.shape)} matrix: use 1..{min(x.shape)}"
        )
    if not torch.isfinite(x).all() or (x < 0).any():
        raise InputError("nmf needs a finite, non-negative matrix (clamp activations at 0 first)")
    x = x.double() if x.device.type == "cpu" else x.float()
    w, h = nndsvd(x, k, variant=init)
    norm = float(x.norm()) or 1.0
    error, done = float("inf"), 0
    while done < max_iter:
        done += 1
        _hals_sweep(w, x @ h.T, h @ h.T)
        ht = h.T.contiguous()
        _hals_sweep(ht, x.T @ w, w.T @ w)
        h = ht.T
        previous, error = error, float((x - w @ h).norm()) / norm
        if previous - error < tol:
            break
    return NMFResult(w, h.contiguous(), done, error)
