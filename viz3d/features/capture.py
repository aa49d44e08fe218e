"""Which layers to look at, and recording their outputs during a forward pass.

Every view of this package runs the model in eval mode and puts its train/eval flags back
afterwards; hooks are removed in a ``finally`` so a failing forward leaves the model as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.gradients.gradcam import _resolve_layer

#: The pseudo-layer whose "activations" are the model's output (class logits).
OUTPUT = "output"

LayerRef = nn.Module | str


def resolve_layers(
    model: nn.Module, layers: LayerRef | Sequence[LayerRef] | None
) -> dict[str, nn.Module]:
    """``{qualified name: module}`` for ``layers`` (names or modules); ``None``: every ``Conv2d``.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    >>> list(resolve_layers(model, None)), list(resolve_layers(model, "1"))
    (['0', '2'], ['1'])
    """
    if layers is None:
        convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
        if not convs:
            raise InputError(
                f"{type(model).__name__} has no Conv2d layer; name the layers to show "
                "(layers=[...] in Python, --layer on the command line)"
            )
        return convs
    if isinstance(layers, str | nn.Module):
        layers = [layers]
    return dict(_resolve_layer(model, layer) for layer in layers)


def resolve_layer(model: nn.Module, layer: LayerRef | None) -> tuple[str, nn.Module]:
    """``(qualified name, module)`` of one layer; ``None``: the last ``Conv2d``."""
    return _resolve_layer(model, layer)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free model)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.device.type == "meta":
            raise InputError(
                f"{type(model).__name__} lives on meta (no weights, no activations): build it "
                "on cpu or cuda"
            )
        return tensor.device
    return torch.device("cpu")


def first_tensor(value: Any) -> torch.Tensor | None:
    """The first tensor in a module output (a tensor, a tuple/list, or a dict such as HF's)."""
    if isinstance(value, torch.Tensor):
        return value
    items = list(value.values()) if isinstance(value, dict) else value
    if isinstance(items, list | tuple):
        return next((v for v in items if isinstance(v, torch.Tensor)), None)
    return None


@contextmanager
def recording(
    model: nn.Module, layers: dict[str, nn.Module], *, detach: bool = True
) -> Iterator[dict[str, torch.Tensor]]:
    """Record each layer's output (its last call) into the yielded dict, in eval mode.

    With ``detach=False`` the recorded tensors keep their autograd graph (activation
    maximisation differentiates through them).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    >>> with recording(model, {"1": model[1]}) as seen:
    ...     _ = model(torch.rand(1, 1, 5, 5))
    >>> tuple(seen["1"].shape), model.training
    ((1, 2, 3, 3), True)
    """
    seen: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def keep(module: nn.Module, args: Any, output: Any) -> None:
            tensor = first_tensor(output)
            if tensor is not None:
                seen[name] = tensor.detach() if detach else tensor

        return keep

    training = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(hook_for(n)) for n, m in layers.items()]
    try:
        model.eval()
        yield seen
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training:
            module.training = flag


def as_batch(images: torch.Tensor, what: str) -> torch.Tensor:
    """Images as ``N x C x H x W`` float (a single ``C x H x W`` image gets a batch dim)."""
    if not isinstance(images, torch.Tensor):
        raise InputError(f"{what} needs a torch.Tensor image, got {type(images).__name__}")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4:
        raise InputError(
            f"{what} needs images shaped C x H x W or N x C x H x W, got {list(images.shape)}"
        )
    return images.float()


def spatial(name: str, activation: torch.Tensor | None) -> torch.Tensor:
    """Check that a recorded activation is ``N x C x h x w`` (a feature map), and return it."""
    if activation is None:
        raise InputError(f"layer {name!r} did not run during the forward pass; pick another layer")
    if activation.dim() != 4:
        raise InputError(
            f"layer {name!r} outputs {list(activation.shape)}, not N x C x h x w feature maps; "
            "pick a convolutional layer (or the activation right after one)"
        )
    return activation
