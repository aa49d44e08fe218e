"""Directions in parameter space: random (filter/layer/model normalised) and explicit ones.

A direction is a ``dict`` mapping parameter names to tensors shaped like the parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from viz3d.errors import LandscapeError

Direction = dict[str, torch.Tensor]

RANDOM_KINDS = ("filter", "layer", "model")
IGNORE_OPTIONS = ("biasbn", None)


def parameters_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached floating-point parameters by name (shared parameters appear once)."""
    return {name: p.detach() for name, p in model.named_parameters() if p.is_floating_point()}


def random_directions(
    theta0: Mapping[str, torch.Tensor],
    count: int,
    kind: str,
    *,
    seed: int,
    ignore: str | None = "biasbn",
) -> list[Direction]:
    """Gaussian directions normalised to the weights' scale.

    Parameters
    ----------
    theta0 : Mapping[str, torch.Tensor]
        The centre weights.
    count : int
        Number of directions.
    kind : {"filter", "layer", "model"}
        ``"filter"`` (Li et al. 2018): each slice along dim 0 of a tensor with more than one
        dimension gets the norm of the matching weight slice. ``"layer"``: each tensor gets
        its weight tensor's norm. ``"model"``: the whole direction gets the model's norm.
    seed : int
        Seed of the CPU generator, so directions are identical on every device and rank.
    ignore : {"biasbn", None}
        With ``"biasbn"`` one-dimensional tensors (biases, BatchNorm gamma/beta) are zero in
        the direction; with ``None`` they are set equal to the weights (filter/layer) or
        included in the normalisation (model).

    Returns
    -------
    list of dict

    Examples
    --------
    >>> import torch
    >>> theta = {"w": torch.ones(3, 4), "b": torch.ones(3)}
    >>> (d,) = random_directions(theta, 1, "filter", seed=0)
    >>> torch.allclose(d["w"].norm(dim=1), torch.full((3,), 2.0)), bool((d["b"] == 0).all())
    (True, True)
    """
    if kind not in RANDOM_KINDS:
        raise LandscapeError(f"unknown random direction kind {kind!r}; use one of {RANDOM_KINDS}")
    if ignore not in IGNORE_OPTIONS:
        raise LandscapeError(f"ignore={ignore!r} is not supported; use 'biasbn' or None")
    generator = torch.Generator().manual_seed(seed)
    directions = []
    for _ in range(count):
        raw = {
            name: torch.randn(w.shape, generator=generator, dtype=torch.float64).to(w)
            for name, w in theta0.items()
        }
        directions.append(_normalise(raw, theta0, kind, ignore))
    return directions


def _normalise(
    raw: Direction, theta0: Mapping[str, torch.Tensor], kind: str, ignore: str | None
) -> Direction:
    out: Direction = {}
    for name, d in raw.items():
        w = theta0[name]
        if w.dim() <= 1:
            if ignore == "biasbn":
                out[name] = torch.zeros_like(w)
                continue
            if kind != "model":
                out[name] = w.clone()
                continue
        if kind == "filter" and w.dim() > 1:
            w_norm = w.flatten(1).norm(dim=1)
            d_norm = d.flatten(1).norm(dim=1)
            scale = w_norm / (d_norm + 1e-10)
            out[name] = d * scale.view(-1, *([1] * (w.dim() - 1)))
        elif kind in ("filter", "layer"):
            out[name] = d * (w.norm() / (d.norm() + 1e-10))
        else:
            out[name] = d
    if kind == "model":
        active = [n for n in out if not (ignore == "biasbn" and theta0[n].dim() <= 1)]
        w_norm = torch.sqrt(sum(theta0[n].double().pow(2).sum() for n in active))
        d_norm = torch.sqrt(sum(out[n].double().pow(2).sum() for n in active))
        scale = (w_norm / (d_norm + 1e-10)).item()
        for n in active:
            out[n] = out[n] * scale
    return out


def explicit_directions(
    theta0: Mapping[str, torch.Tensor], given: Sequence[Any], count: int
) -> list[Direction]:
    """Check user-given directions (dicts or state dicts) against the model's parameters.

    Names of buffers (e.g. BatchNorm running statistics in a state dict) are ignored;
    parameters missing from a direction are not moved along it.
    """
    if len(given) != count:
        raise LandscapeError(
            f"{len(given)} directions given for a {count}D landscape; pass exactly {count}"
        )
    directions = []
    for k, direction in enumerate(given):
        if isinstance(direction, torch.nn.Module):
            direction = direction.state_dict()
        if not isinstance(direction, Mapping):
            raise LandscapeError(
                f"direction {k} is a {type(direction).__name__}; pass a dict of "
                "parameter name -> tensor (a state dict works)"
            )
        if not any(name in theta0 for name in direction):
            raise LandscapeError(
                f"direction {k} names none of the model's parameters "
                f"(first names: {list(direction)[:3]}, model: {list(theta0)[:3]})"
            )
        out = {}
        for name, w in theta0.items():
            d = direction.get(name)
            if d is None:
                out[name] = torch.zeros_like(w)
                continue
            d = torch.as_tensor(d)
            if tuple(d.shape) != tuple(w.shape):
                raise LandscapeError(
                    f"direction {k}, parameter {name!r}: shape {tuple(d.shape)} does not match "
                    f"the model's {tuple(w.shape)}"
                )
            out[name] = d.detach().to(w)
        directions.append(out)
    return directions


def norms(direction: Mapping[str, torch.Tensor]) -> float:
    """Global Euclidean norm of a direction."""
    return float(torch.sqrt(sum(d.double().pow(2).sum() for d in direction.values())))


def tensor_hash(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 of names, shapes and bytes of tensors, to fingerprint weights or directions."""
    digest = hashlib.sha256()
    for name, t in tensors.items():
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        fresh = torch.empty(t.shape, dtype=t.dtype).copy_(t.detach())  # standard strides for view
        digest.update(fresh.reshape(-1).view(torch.uint8).numpy().tobytes())  # 0-d too
    return digest.hexdigest()


def flatten(direction: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate a direction into one 1-D tensor (parameter order of the dict)."""
    return torch.cat([d.reshape(-1) for d in direction.values()])


def unflatten(vector: torch.Tensor, like: Mapping[str, torch.Tensor]) -> Direction:
    """Split a 1-D tensor back into tensors shaped like ``like``."""
    out, offset = {}, 0
    for name, w in like.items():
        out[name] = torch.empty_like(w, memory_format=torch.contiguous_format).copy_(
            vector[offset : offset + w.numel()].reshape(w.shape)
        )
        offset += w.numel()
    return out
