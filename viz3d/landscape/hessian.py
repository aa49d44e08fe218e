"""Top eigenvectors of the loss Hessian by power iteration on Hessian-vector products."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from viz3d.errors import LandscapeError
from viz3d.landscape.data import Batch, batch_size
from viz3d.landscape.directions import Direction


def hessian_directions(
    model: nn.Module,
    theta0: dict[str, torch.Tensor],
    loss_fn: Callable,
    batches: list[Batch],
    count: int,
    *,
    seed: int = 0,
    iterations: int = 100,
    tol: float = 1e-4,
) -> tuple[list[Direction], list[float]]:
    """Eigenvectors of the ``count`` largest-magnitude Hessian eigenvalues.

    Each iteration costs one double-backward pass over all batches (accumulated batch by
    batch, so memory does not grow with the data set). Later eigenvectors are kept
    orthogonal to earlier ones (deflation). Eigenvectors have unit global norm, so grid
    coordinates are distances in parameter space.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated through ``torch.func.functional_call`` at ``theta0``; never modified.
    theta0 : dict
        Parameters at which the Hessian is taken.
    loss_fn : callable
        Scalar mean loss of ``(outputs, targets)``.
    batches : list
        ``[(inputs_tuple, targets), ...]``; the loss is their size-weighted mean.
    count : int
        Number of eigenvectors.
    seed : int
        Seed of the random starting vectors.
    iterations : int
        Maximum power iterations per eigenvector.
    tol : float
        Stop when the eigenvalue estimate changes by less than this, relatively.

    Returns
    -------
    directions : list of dict
    eigenvalues : list of float

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> x = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    >>> batches = [((x,), torch.zeros(2, 1))]
    >>> theta = {n: p.detach() for n, p in model.named_parameters()}
    >>> dirs, vals = hessian_directions(model, theta, torch.nn.MSELoss(), batches, 1)
    >>> round(vals[0], 3), round(abs(dirs[0]["weight"][0, 0].item()), 3)
    (9.0, 1.0)
    """
    names = list(theta0)
    sizes = torch.tensor([batch_size(b) for b in batches], dtype=torch.float64)
    weights = (sizes / sizes.sum()).tolist()

    def hvp(v: list[torch.Tensor]) -> list[torch.Tensor]:
        out = [torch.zeros_like(t) for t in v]
        for (inputs, targets), weight in zip(batches, weights):
            params = {n: theta0[n].detach().clone().requires_grad_(True) for n in names}
            with torch.enable_grad():
                loss = loss_fn(functional_call(model, params, inputs), targets)
                if loss.numel() != 1:
                    raise LandscapeError(
                        f"loss_fn returned shape {tuple(loss.shape)}; Hessian directions need "
                        "a scalar mean loss"
                    )
                grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
                dot = sum((g * t).sum() for g, t in zip(grads, v))
                hv = torch.autograd.grad(dot, list(params.values()), allow_unused=True)
            for acc, h in zip(out, hv):
                if h is not None:
                    acc.add_(h.detach(), alpha=weight)
        return out

    generator = torch.Generator().manual_seed(seed)
    vectors: list[list[torch.Tensor]] = []
    values: list[float] = []
    for _ in range(count):
        v = [
            torch.randn(theta0[n].shape, generator=generator, dtype=torch.float64).to(theta0[n])
            for n in names
        ]
        v = _unit(_orthogonal(v, vectors))
        estimate = None
        for _ in range(iterations):
            hv = _orthogonal(hvp(v), vectors)
            new = float(sum((a * b).sum() for a, b in zip(hv, v)))
            norm = _norm(hv)
            if norm == 0.0:
                break
            v = [t / norm for t in hv]
            if estimate is not None and abs(new - estimate) <= tol * (abs(estimate) + 1e-12):
                estimate = new
                break
            estimate = new
        vectors.append(v)
        values.append(float(estimate or 0.0))
    return [dict(zip(names, v)) for v in vectors], values


def _norm(v: list[torch.Tensor]) -> float:
    return float(torch.sqrt(sum(t.double().pow(2).sum() for t in v)))


def _unit(v: list[torch.Tensor]) -> list[torch.Tensor]:
    norm = _norm(v)
    return [t / norm for t in v]


def _orthogonal(v: list[torch.Tensor], basis: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    for u in basis:
        dot = sum((a * b).sum() for a, b in zip(v, u))
        v = [a - dot * b for a, b in zip(v, u)]
    return v
