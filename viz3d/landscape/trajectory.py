"""Landscapes on the PCA plane of a training trajectory, with the path projected onto it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from viz3d.errors import LandscapeError
from viz3d.landscape import distributed
from viz3d.landscape.api import _device, _private_copy, run
from viz3d.landscape.data import as_batches
from viz3d.landscape.directions import Direction, flatten, parameters_of, unflatten
from viz3d.landscape.evaluate import Evaluator
from viz3d.landscape.grid import make_axes
from viz3d.landscape.landscape import Landscape, Trajectory
from viz3d.landscape.store import check_resume


def pca_directions(
    theta_final: dict[str, torch.Tensor], checkpoints: Sequence[dict[str, torch.Tensor]], count: int
) -> tuple[list[Direction], np.ndarray, np.ndarray]:
    """Principal directions of ``theta_i - theta_final`` and the path's coordinates.

    The plane passes through the final weights (no mean is subtracted), as the landscape
    is centred there. Directions are orthonormal, so coordinates are distances in
    parameter space.

    Returns
    -------
    directions : list of dict
    coords : numpy.ndarray
        ``(n_checkpoints, count)`` projections of the checkpoints.
    explained_variance_ratio : numpy.ndarray
        Share of ``sum_i ||theta_i - theta_final||^2`` along each direction.

    Examples
    --------
    >>> import torch
    >>> final = {"w": torch.zeros(3)}
    >>> path = [{"w": torch.tensor([2.0, 0.0, 0.0])}, {"w": torch.tensor([0.0, 1.0, 0.0])}]
    >>> dirs, coords, ratio = pca_directions(final, path, 2)
    >>> sorted(abs(coords).max(axis=0).round(6).tolist()), ratio.round(2).tolist()
    ([1.0, 2.0], [0.8, 0.2])
    """
    centre = flatten(theta_final).double()
    offsets = torch.stack([flatten(ck).double() - centre for ck in checkpoints])
    _, singular, vh = torch.linalg.svd(offsets, full_matrices=False)
    if len(singular) < count or singular[count - 1] <= 1e-12 * max(float(singular[0]), 1e-300):
        raise LandscapeError(
            f"the {len(checkpoints)} checkpoints span fewer than {count} directions away from "
            "the final model; pass more (distinct) checkpoints or use dims=1"
        )
    basis = vh[:count]
    coords = (offsets @ basis.T).numpy()
    energy = singular.pow(2)
    ratio = (energy[:count] / energy.sum()).numpy()
    directions = [unflatten(b, theta_final) for b in basis]
    return directions, coords, ratio


def landscape_from_trajectory(
    model: nn.Module,
    checkpoints: Sequence[Any],
    loss_fn: Callable,
    data: Any,
    *,
    dims: int = 2,
    steps: int | Sequence[int] = 51,
    span: float | Sequence[float] | None = None,
    margin: float = 0.25,
    store: str | None = None,
    resume: str = "auto",
    batch_points: int | None = None,
    progress: bool = True,
    bn: str = "eval",
    device: str | torch.device | None = None,
) -> Landscape:
    """Landscape on the PCA plane of a training path, centred at ``model``.

    The checkpoints lie off the plane in general, so ``trajectory.losses`` (each
    checkpoint's own loss) differ from the surface value under the projected point;
    ``trajectory.explained_variance_ratio`` says how much of the path the plane captures.

    Parameters
    ----------
    model : torch.nn.Module
        The final model (the centre of the plane); not modified.
    checkpoints : sequence
        State dicts or models along training, in order. Buffers they carry (BatchNorm
        statistics) are used for their own path losses.
    loss_fn : callable
        Scalar mean loss of ``(outputs, targets)``.
    data : tuple or iterable
        As in :func:`viz3d.landscape.loss_landscape`.
    dims : {1, 2}
        Number of principal directions.
    steps : int or tuple of int
        Points per axis.
    span : float or tuple of float, optional
        Half-width of each axis; by default the path's extent times ``1 + margin``.
    margin : float
        Extra room around the path when ``span`` is None.
    store, resume, batch_points, progress, bn, device
        As in :func:`viz3d.landscape.loss_landscape`.

    Returns
    -------
    Landscape
        With ``trajectory`` set and ``directions["explained_variance_ratio"]``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> path = [{k: v + 0.1 * i for k, v in model.state_dict().items()} for i in range(1, 4)]
    >>> path[0]["weight"] = path[0]["weight"] * 2
    >>> ls = landscape_from_trajectory(model, path, torch.nn.MSELoss(), (x, y), steps=5,
    ...                                progress=False)
    >>> ls.trajectory.coords.shape
    (3, 2)
    """
    check_resume(resume)
    device = _device(model, device)
    private = _private_copy(model, device)
    theta0 = parameters_of(private)
    reference = {**dict(private.named_buffers()), **theta0}
    states = [_state(ck, reference, theta0, position) for position, ck in enumerate(checkpoints)]
    if len(states) < dims:
        raise LandscapeError(
            f"{len(states)} checkpoints cannot define a {dims}D plane; pass at least {dims}"
        )
    params = [{n: s[n] for n in theta0} for s in states]
    directions, coords, ratio = pca_directions(theta0, params, dims)
    distributed.broadcast_directions(directions)
    if span is None:
        extent = np.abs(coords).max(axis=0)
        extent[extent == 0] = 1.0
        span = tuple(float(e * (1.0 + margin)) for e in extent)
    batches = as_batches(data, device)
    path_losses = _path_losses(private, theta0, loss_fn, batches, states)
    trajectory = Trajectory(coords=coords, losses=path_losses, explained_variance_ratio=ratio)
    info = {"kind": "pca", "explained_variance_ratio": ratio.tolist()}
    return run(
        private,
        theta0,
        directions,
        loss_fn,
        batches,
        make_axes(dims, steps, span),
        info,
        {"margin": margin},
        store=store,
        resume=resume,
        batch_points=batch_points,
        progress=progress,
        bn=bn,
        trajectory=trajectory,
    )


def _state(
    checkpoint: Any, reference: dict, theta0: dict[str, torch.Tensor], position: int
) -> dict:
    """The checkpoint's parameters and buffers, on the model's device and dtypes."""
    if isinstance(checkpoint, nn.Module):
        checkpoint = checkpoint.state_dict()
    if not isinstance(checkpoint, dict):
        raise LandscapeError(
            f"checkpoint {position} is a {type(checkpoint).__name__}; pass state dicts or models"
        )
    state = {}
    for name, value in checkpoint.items():
        if name in reference and isinstance(value, torch.Tensor):
            state[name] = value.detach().to(reference[name])
    for name, w in theta0.items():
        if name not in state or state[name].shape != w.shape:
            found = tuple(state[name].shape) if name in state else "missing"
            raise LandscapeError(
                f"checkpoint {position}: parameter {name!r} is {found}, the model has "
                f"{tuple(w.shape)}; checkpoints must come from the same architecture"
            )
    return state


def _path_losses(
    model: nn.Module, theta0: dict, loss_fn: Callable, batches: list, states: list[dict]
) -> np.ndarray:
    """Each checkpoint's own loss (its full weights, not the projection on the plane)."""
    evaluator = Evaluator(model, theta0, [], loss_fn, batches, batch_points=1)
    values = np.array([evaluator.loss_at(state) for state in states], dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values
