"""The first channels of every convolution's output, kept while the model is traced.

``enhanced_3d_visualization(..., feature_maps=True)`` draws them as textured slices on the
layers of the default scene. Only ``k`` channels of image 0 are copied out of each output, in
the forward hook itself, so nothing else of the activations outlives the trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from torch import nn

from viz3d.errors import InputError
from viz3d.features.capture import first_tensor, model_device

#: Layers whose outputs are feature maps ``N x C x H x W``.
CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)


@contextmanager
def first_channels(model: nn.Module, k: int = 4) -> Iterator[dict[str, np.ndarray]]:
    """Record the first ``k`` channels of image 0 of every 2D convolution's output.

    Use it around any forward pass (:func:`viz3d.trace` included); the yielded dict fills with
    ``{qualified name: k x H x W float32 array}`` in run order (a layer called twice keeps its
    last call). The hooks are removed on exit, also when the forward fails.

    Parameters
    ----------
    model : torch.nn.Module
        Must hold real weights (not ``meta``) and at least one ``Conv2d``/``ConvTranspose2d``.
    k : int, default: 4
        Channels kept per layer (fewer if the layer has fewer).

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3), torch.nn.ReLU())
    >>> with first_channels(model, k=2) as maps:
    ...     _ = model(torch.rand(3, 1, 8, 8))
    >>> {name: m.shape for name, m in maps.items()}
    {'0': (2, 6, 6)}
    """
    if k < 1:
        raise InputError(f"feature maps need k >= 1 channels per layer, got {k}")
    model_device(model)  # a meta model has shapes only: refuse it before running anything
    layers = {n: m for n, m in model.named_modules() if isinstance(m, CONVOLUTIONS)}
    if not layers:
        raise InputError(
            f"{type(model).__name__} has no Conv2d/ConvTranspose2d layer, so it has no feature "
            "maps to show: drop feature_maps (--feature-maps)"
        )
    maps: dict[str, np.ndarray] = {}

    def hook_for(name: str):
        def keep(module: nn.Module, args: Any, output: Any) -> None:
            tensor = first_tensor(output)
            if tensor is None or tensor.dim() != 4 or tensor.is_meta:
                return
            maps.pop(name, None)  # re-insert: the dict stays in run order of last calls
            maps[name] = tensor[0, :k].detach().float().cpu().numpy()

        return keep

    handles = [m.register_forward_hook(hook_for(n)) for n, m in layers.items()]
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()
