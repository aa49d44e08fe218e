"""Turning what the user passed (tensor, tuple, dict, shape or nothing) into forward arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from viz3d.errors import InputError

ShapeLike = Sequence[int] | Sequence[Sequence[int]]


def _first_leaf(model: nn.Module) -> nn.Module | None:
    for module in model.modules():
        if next(module.children(), None) is None and (
            isinstance(module, (nn.Embedding, nn.Linear, nn.RNNBase, nn.modules.conv._ConvNd))
        ):
            return module
    return None


def infer_input_shape(model: nn.Module) -> tuple[tuple[int, ...], bool]:
    """Guess ``(shape, integer_ids)`` from the model's first layer, or raise :class:`InputError`."""
    if getattr(getattr(model, "config", None), "vocab_size", None):
        return (1, 16), True
    first = _first_leaf(model)
    if isinstance(first, nn.Embedding):
        return (1, 16), True
    if isinstance(first, nn.Linear):
        return (1, first.in_features), False
    if isinstance(first, nn.RNNBase):
        return (
            (1, 16, first.input_size) if first.batch_first else (16, 1, first.input_size)
        ), False
    if isinstance(first, nn.modules.conv._ConvNd):
        spatial = {1: (64,), 2: (32, 32), 3: (16, 16, 16)}[len(first.kernel_size)]
        return (1, first.in_channels, *spatial), False
    raise InputError(
        f"cannot guess an input for {type(model).__name__}: its first layer is "
        f"{type(first).__name__ if first else 'unknown'}; pass inputs=... or input_shape=(...)"
    )


def _id_range(model: nn.Module) -> int:
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab:
        return int(vocab)
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return module.num_embeddings
    return 2


def random_inputs(
    model: nn.Module,
    shape: ShapeLike,
    *,
    integer_ids: bool | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device,
) -> tuple[Any, ...]:
    """Seeded random positional inputs of ``shape`` (one shape or a list of shapes).

    Token ids (``torch.long`` in the embedding's range) when the model starts with an embedding,
    floats otherwise. On ``meta`` the tensors have shapes but no values.
    """
    shapes = [tuple(shape)] if all(isinstance(d, int) for d in shape) else [tuple(s) for s in shape]
    if integer_ids is None:
        integer_ids = isinstance(_first_leaf(model), nn.Embedding) or bool(
            getattr(getattr(model, "config", None), "vocab_size", None)
        )
    generator = torch.Generator().manual_seed(0)
    made = []
    for s in shapes:
        if any(d <= 0 for d in s):
            raise InputError(f"input_shape {s} has a non-positive dimension")
        if integer_ids:
            if device.type == "meta":
                made.append(torch.empty(s, dtype=torch.long, device=device))
            else:
                made.append(torch.randint(0, _id_range(model), s, generator=generator).to(device))
        elif device.type == "meta":
            made.append(torch.empty(s, dtype=dtype or torch.float32, device=device))
        else:
            made.append(
                torch.randn(s, generator=generator, dtype=dtype or torch.float32).to(device)
            )
    return tuple(made)


def _rebuild(value: list | tuple, items: list[Any]) -> list | tuple:
    """A list or tuple like ``value`` holding ``items``: namedtuples take fields positionally."""
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return type(value)(*items)
    try:
        return type(value)(items)
    except TypeError:  # a subclass with its own constructor: keep the plain container
        return tuple(items) if isinstance(value, tuple) else list(items)


def _move(value: Any, device: torch.device, dtype: torch.dtype | None) -> Any:
    if isinstance(value, torch.Tensor):
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return _rebuild(value, [_move(v, device, dtype) for v in value])
    if isinstance(value, Mapping):
        return {k: _move(v, device, dtype) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _move(getattr(value, f.name), device, dtype)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


def prepare_inputs(
    model: nn.Module,
    inputs: Any,
    input_shape: ShapeLike | None,
    dtype: torch.dtype | None,
    device: torch.device,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` for ``model(*args, **kwargs)``, on ``device``.

    A tensor is one positional argument, a tuple or list several, a dict keyword arguments
    (Hugging Face style); a namedtuple or dataclass is one argument, as the forward reads it.
    With neither ``inputs`` nor ``input_shape`` the shape is guessed from the first layer
    (see :func:`infer_input_shape`).
    """
    if inputs is None:
        integer_ids = None
        if input_shape is None:
            input_shape, integer_ids = infer_input_shape(model)
        return random_inputs(
            model, input_shape, integer_ids=integer_ids, dtype=dtype, device=device
        ), {}
    if isinstance(inputs, Mapping):
        return (), dict(_move(dict(inputs), device, dtype))
    if isinstance(inputs, (tuple, list)) and not hasattr(type(inputs), "_fields"):
        return tuple(_move(list(inputs), device, dtype)), {}
    return (_move(inputs, device, dtype),), {}
