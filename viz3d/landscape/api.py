"""Public entry points :func:`loss_landscape` and :func:`interpolate`, and the shared run loop."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from viz3d.errors import LandscapeError
from viz3d.landscape import distributed
from viz3d.landscape.data import as_batches
from viz3d.landscape.data import fingerprint as data_fingerprint
from viz3d.landscape.directions import (
    RANDOM_KINDS,
    Direction,
    explicit_directions,
    flatten,
    norms,
    parameters_of,
    random_directions,
    tensor_hash,
)
from viz3d.landscape.evaluate import Evaluator
from viz3d.landscape.grid import make_axes, point_coefficients
from viz3d.landscape.hessian import hessian_directions
from viz3d.landscape.landscape import Landscape, Trajectory
from viz3d.landscape.lossid import loss_fingerprint
from viz3d.landscape.store import Store, check_resume

# Directions are stored in the result only up to this many values (dims x parameters),
# because the store file is rewritten as points complete.
_MAX_STORED_DIRECTION_VALUES = 2_000_000


def loss_landscape(
    model: nn.Module,
    loss_fn: Callable,
    data: Any,
    *,
    dims: int = 2,
    steps: int | Sequence[int] = 51,
    span: float | Sequence[float] = 1.0,
    directions: str | Sequence[Any] = "filter",
    seed: int = 0,
    store: str | None = None,
    resume: str = "auto",
    batch_points: int | None = None,
    progress: bool = True,
    ignore: str | None = "biasbn",
    bn: str = "eval",
    device: str | torch.device | None = None,
) -> Landscape:
    """Loss on a 1D line or 2D plane of weights ``theta0 + a * d1 (+ b * d2)``.

    The model is evaluated in eval mode (BatchNorm uses its running statistics, dropout is
    off) on a private copy: the model passed in is never modified, not even temporarily.

    Parameters
    ----------
    model : torch.nn.Module
        The model at the centre of the grid.
    loss_fn : callable
        ``loss_fn(outputs, targets)`` returning the mean loss of a batch as a scalar tensor.
    data : tuple or iterable
        An ``(inputs, targets)`` pair, or an iterable of them (a DataLoader). The loss at a
        point is the mean over all of it, batches weighted by size.
    dims : {1, 2}
        A curve or a surface.
    steps : int or tuple of int
        Points per axis, from ``-span`` to ``+span``; odd counts include the centre
        exactly. ``losses[i, j]`` is the point ``(coords[0][i], coords[1][j])``.
    span : float or tuple of float
        Half-width of each axis, in units of the directions.
    directions : str or sequence
        ``"filter"`` (Li et al. 2018 filter-normalised Gaussian), ``"layer"``, ``"model"``,
        ``"hessian"`` (top eigenvectors of the loss Hessian, unit norm), or ``dims``
        explicit directions (dicts of parameter name -> tensor, or state dicts). For PCA
        directions use :func:`landscape_from_trajectory`.
    seed : int
        Seed of the random directions (the same on every device and rank).
    store : str, optional
        ``.npz`` file written as points complete; rerunning with the same arguments
        computes only the missing points. A different configuration is refused (also a
        loss function configured differently: its arguments, state and code are compared).
    resume : {"auto", "force"}
        Where the loss function's configuration cannot be determined (a callable object
        whose state viz3d cannot read), ``store`` is resumed only with ``"force"``.
    batch_points : int, optional
        Grid points per batched pass; by default chosen from a memory budget.
    progress : bool
        Show a progress bar (on rank 0).
    ignore : {"biasbn", None}
        ``"biasbn"`` keeps biases and BatchNorm parameters fixed (zero direction).
    bn : {"eval", "recalibrate"}
        ``"recalibrate"`` re-estimates BatchNorm running statistics from ``data`` at every
        point (on the private copy), doubling the cost and evaluating point by point.
    device : str or torch.device, optional
        Where to evaluate; defaults to the model's device.

    Returns
    -------
    Landscape
        Under ``torchrun`` the points are sharded over ranks and every rank returns the
        full landscape; only rank 0 writes ``store``.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> ls = loss_landscape(model, torch.nn.CrossEntropyLoss(), (x, y), steps=5, progress=False)
    >>> ls.losses.shape
    (5, 5)
    >>> abs(ls.center_loss - torch.nn.functional.cross_entropy(model(x), y).item()) < 1e-5
    True
    """
    check_resume(resume)
    device = _device(model, device)
    private = _private_copy(model, device)
    theta0 = parameters_of(private)
    batches = as_batches(data, device)
    info: dict[str, Any]
    if isinstance(directions, str):
        if directions in RANDOM_KINDS:
            dirs = random_directions(theta0, dims, directions, seed=seed, ignore=ignore)
            info = {"kind": directions, "ignore": ignore}
        elif directions == "hessian":
            dirs, eigenvalues = hessian_directions(
                private, theta0, loss_fn, batches, dims, seed=seed
            )
            info = {"kind": "hessian", "eigenvalues": eigenvalues}
        elif directions == "pca":
            raise LandscapeError(
                "directions='pca' needs a training trajectory; call "
                "landscape_from_trajectory(model, checkpoints, loss_fn, data) instead"
            )
        else:
            raise LandscapeError(
                f"unknown directions {directions!r}; use 'filter', 'layer', 'model', "
                "'hessian', or a list of direction dicts"
            )
    else:
        dirs = explicit_directions(theta0, list(directions), dims)
        info = {"kind": "explicit"}
    distributed.broadcast_directions(dirs)
    axes = make_axes(dims, steps, span)
    config = {"seed": seed, "ignore": ignore}
    return run(
        private,
        theta0,
        dirs,
        loss_fn,
        batches,
        axes,
        info,
        config,
        store=store,
        resume=resume,
        batch_points=batch_points,
        progress=progress,
        bn=bn,
    )


def interpolate(
    model_a: nn.Module,
    model_b: nn.Module,
    loss_fn: Callable,
    data: Any,
    *,
    steps: int = 51,
    start: float = 0.0,
    stop: float = 1.0,
    store: str | None = None,
    resume: str = "auto",
    batch_points: int | None = None,
    progress: bool = True,
    bn: str = "eval",
    device: str | torch.device | None = None,
) -> Landscape:
    """Loss along the line ``(1 - t) * model_a + t * model_b`` (e.g. init -> trained).

    Parameters and floating-point buffers (BatchNorm running statistics) are both
    interpolated, so ``t = 0`` and ``t = 1`` reproduce the two models' eval-mode losses.

    Parameters
    ----------
    model_a, model_b : torch.nn.Module
        Two models of the same architecture; neither is modified.
    loss_fn : callable
        Scalar mean loss of ``(outputs, targets)``.
    data : tuple or iterable
        As in :func:`loss_landscape`.
    steps : int
        Number of values of ``t``.
    start, stop : float
        Range of ``t``; e.g. ``start=-0.25, stop=1.25`` to look past both ends.
    store, resume, batch_points, progress, bn, device
        As in :func:`loss_landscape`.

    Returns
    -------
    Landscape
        A 1D landscape whose axis is ``t``.

    Examples
    --------
    >>> import torch
    >>> a, b = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> curve = interpolate(a, b, torch.nn.MSELoss(), (x, y), steps=5, progress=False)
    >>> curve.coords[0].tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if not (np.isfinite(start) and np.isfinite(stop) and stop > start and steps >= 2):
        raise LandscapeError(
            f"interpolate needs finite start < stop and steps >= 2, got "
            f"start={start}, stop={stop}, steps={steps}"
        )
    check_resume(resume)
    device = _device(model_a, device)
    private = _private_copy(model_a, device)
    theta_a = {**parameters_of(private), **_float_buffers(private)}
    theta_b = {**parameters_of(model_b), **_float_buffers(model_b)}
    for name, w in theta_a.items():
        if name not in theta_b or tuple(theta_b[name].shape) != tuple(w.shape):
            found = tuple(theta_b[name].shape) if name in theta_b else "missing"
            raise LandscapeError(
                f"model_b does not match model_a at {name!r} (model_a {tuple(w.shape)}, "
                f"model_b {found}); interpolate between two models of the same architecture"
            )
    direction = {name: theta_b[name].to(w) - w for name, w in theta_a.items()}
    batches = as_batches(data, device)
    axes = (np.linspace(float(start), float(stop), int(steps)),)
    info = {"kind": "interpolation"}
    return run(
        private,
        theta_a,
        [direction],
        loss_fn,
        batches,
        axes,
        info,
        {},
        store=store,
        resume=resume,
        batch_points=batch_points,
        progress=progress,
        bn=bn,
    )


def run(
    model: nn.Module,
    theta0: dict[str, torch.Tensor],
    directions: list[Direction],
    loss_fn: Callable,
    batches: list,
    axes: tuple[np.ndarray, ...],
    info: dict[str, Any],
    config: dict[str, Any],
    *,
    store: str | None,
    resume: str = "auto",
    batch_points: int | None,
    progress: bool,
    bn: str,
    trajectory: Trajectory | None = None,
) -> Landscape:
    """Evaluate every missing grid point (sharded over ranks) and assemble the Landscape.

    ``model`` is the private copy; ``config`` holds the options that make the run unique
    beyond weights, directions, data and grid.
    """
    started = time.perf_counter()
    rank, world = distributed.rank_and_world()
    shape = tuple(len(axis) for axis in axes)
    total = int(np.prod(shape))
    fingerprint = {
        "parameters": [[n, list(w.shape), str(w.dtype)] for n, w in theta0.items()],
        "theta0_sha256": tensor_hash(theta0),
        "directions_sha256": tensor_hash(
            {f"{k}:{n}": t for k, d in enumerate(directions) for n, t in d.items()}
        ),
        "loss": loss_fingerprint(loss_fn),
        "data": data_fingerprint(batches),
        "dims": len(axes),
        "steps": list(shape),
        "axes": [[float(a[0]), float(a[-1])] for a in axes],
        "directions": info["kind"],
        "bn": bn,
        **config,
    }
    info = {**info, "norms": [norms(d) for d in directions]}
    vectors = None
    if len(directions) * sum(w.numel() for w in theta0.values()) <= _MAX_STORED_DIRECTION_VALUES:
        stacked = torch.stack([flatten(d).cpu() for d in directions])
        keep = stacked.dtype in (torch.float32, torch.float64)  # numpy has no bfloat16
        vectors = (stacked if keep else stacked.float()).numpy()
    losses = np.full(total, np.nan)
    done = np.zeros(total, dtype=bool)
    writer = Store(store, fingerprint, resume=resume) if store is not None and rank == 0 else None
    ok = True
    try:
        previous = writer.load() if writer is not None else None
        if previous is not None:
            losses, done = previous.losses.ravel().copy(), previous.done.ravel().copy()
    except LandscapeError:
        ok = False
        raise
    finally:
        if world > 1:
            losses, done = distributed.broadcast_state(losses, done, ok)

    evaluator, failure, own_error = None, None, None
    try:
        evaluator = Evaluator(
            model, theta0, directions, loss_fn, batches, bn=bn, batch_points=batch_points
        )
    except BaseException as exc:
        if world == 1:
            raise
        failure, own_error = _describe(exc), exc  # the others must hear of it
    chunk, failed = distributed.agree(evaluator.batch_points if evaluator else 1, failure)
    if failed:
        _stop(rank, failed, own_error, store, 0)
    pending = np.flatnonzero(~done)
    mine = distributed.shard(pending)
    evaluated = 0
    error_text = None

    def snapshot(seconds: float) -> Landscape:
        metadata = {
            "fingerprint": fingerprint,
            "strategy": evaluator.strategy,
            "fallback_reason": evaluator.fallback_reason,
            "batch_points": chunk,
            "evaluated_points": evaluated,
            "seconds": seconds,
            "world_size": world,
            "error": error_text,
        }
        return Landscape(
            coords=axes,
            losses=losses.reshape(shape).copy(),
            done=done.reshape(shape).copy(),
            directions=info,
            direction_vectors=vectors,
            trajectory=trajectory,
            metadata=metadata,
        )

    bar = tqdm(
        total=total,
        initial=int(done.sum()),
        disable=not progress or rank != 0,
        desc="loss landscape",
        unit="pt",
    )
    try:
        for r in range(distributed.rounds(len(pending), chunk)):
            indices, values = mine[r * chunk : (r + 1) * chunk], np.zeros(0)
            try:
                if len(indices):
                    values = evaluator(point_coefficients(axes, indices))
            except BaseException as exc:
                if world == 1:
                    raise
                failure, own_error = _describe(exc), exc
                indices = indices[:0]
            indices, values, failed = distributed.gather_round(indices, values, failure)
            losses[indices], done[indices] = values, True
            evaluated += len(indices)
            bar.update(len(indices))
            if failed:
                _stop(rank, failed, own_error, store, int(done.sum()))
            if writer is not None:
                writer.write(snapshot(time.perf_counter() - started))
    except BaseException as exc:
        error_text = _describe(exc)
        raise
    finally:
        bar.close()
        if writer is not None:
            writer.write(snapshot(time.perf_counter() - started), force=True)
    return snapshot(time.perf_counter() - started)


def _stop(
    rank: int, failed: dict[int, str], own_error: BaseException | None, store: str | None, kept: int
) -> None:
    """Raise on every rank once any rank failed: the failed rank its own error, with a note."""
    where = (
        f"the {kept} finished points are kept in {store!r}; fix the error and relaunch all "
        "ranks to resume"
        if store is not None
        else "pass store='file.npz' to keep finished points across runs"
    )
    if own_error is not None:
        own_error.add_note(f"viz3d.landscape: rank {rank} failed and stopped all ranks; {where}")
        raise own_error
    reasons = "; ".join(f"rank {r} failed: {message}" for r, message in sorted(failed.items()))
    raise LandscapeError(f"rank {rank}: stopped because {reasons}; {where}")


def _device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def _private_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A deep copy in eval mode without gradients, so the user's model is never touched."""
    if not isinstance(model, nn.Module):
        raise LandscapeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.is_floating_point() for p in model.parameters()):
        raise LandscapeError(
            f"{type(model).__name__} has no floating-point parameters to move along directions"
        )
    private = copy.deepcopy(model).to(device).eval()
    private.requires_grad_(False)
    return private


def _float_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.detach() for n, b in model.named_buffers() if b.is_floating_point()}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
