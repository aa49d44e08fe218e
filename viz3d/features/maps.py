"""Feature maps: what each convolutional layer's channels hold for one input image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.features.capture import (
    LayerRef,
    as_batch,
    model_device,
    recording,
    resolve_layers,
    spatial,
)
from viz3d.features.figures import grid_figure, save_figure
from viz3d.gradients.gradcam import _display_image
from viz3d.graph import LayerGraph


@dataclass
class FeatureMaps:
    """The activation maps of some convolutional layers for one input.

    Attributes
    ----------
    maps : dict of str to numpy.ndarray
        Layer name -> its output for the input, ``C x h x w`` (every channel), in run order.
    image : numpy.ndarray
        The input as an ``H x W x 3`` float array in [0, 1], for display.
    graph : LayerGraph or None
        The traced model, for :meth:`render`.
    """

    maps: dict[str, np.ndarray]
    image: np.ndarray
    graph: LayerGraph | None = None

    @property
    def layers(self) -> list[str]:
        """The layers held, in the order they ran."""
        return list(self.maps)

    def ranked(self, layer: str, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` channels of ``layer`` with the highest mean activation, strongest first.

        Returns ``(channels, maps)``: channel indices and their ``k x h x w`` maps.

        Examples
        --------
        >>> import numpy as np
        >>> maps = np.stack([np.zeros((2, 2)), np.ones((2, 2))])
        >>> fm = FeatureMaps({"c": maps}, np.zeros((2, 2, 3)))
        >>> fm.ranked("c", k=1)[0]
        array([1])
        """
        if layer not in self.maps:
            raise InputError(f"no feature maps for layer {layer!r}; held: {', '.join(self.maps)}")
        maps = self.maps[layer]
        # stable sort: equal means keep channel order
        order = np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[: max(1, k)]
        return order, maps[order]

    def figure(self, layer: str | None = None, *, k: int = 16, columns: int = 8) -> Any:
        """A matplotlib figure: the input, then for each layer (or just ``layer``) a grid of its
        ``k`` most active channels, one colour range per layer."""
        layers = self.layers if layer is None else [layer]
        blocks = [("input", [(self.image, "")])]
        for name in layers:
            channels, maps = self.ranked(name, k)
            total = len(self.maps[name])
            blocks.append(
                (
                    f"{name}: {len(channels)} of {total} channels, by mean activation",
                    [(m, f"ch {c}  mean {m.mean():.2g}") for c, m in zip(channels, maps)],
                )
            )
        return grid_figure(blocks, columns=columns)

    def save(self, path: str | os.PathLike, layer: str | None = None, *, k: int = 16) -> Path:
        """Write :meth:`figure` to a PNG/PDF/SVG file, atomically."""
        return save_figure(self.figure(layer, k=k), path)

    def render(self, *, k: int = 8, show: bool = True) -> Any:
        """A 3D view: the architecture with each layer's ``k`` most active maps as textured slices
        stacked above it (returns the :class:`viz3d.Scene`)."""
        from viz3d.render.features import SliceStack, render_feature_slices

        stacks = [SliceStack("input", [self.image], "input")]
        for name in self.layers:
            channels, maps = self.ranked(name, k)
            caption = f"{name} · {len(channels)}/{len(self.maps[name])} ch"
            stacks.append(SliceStack(name, list(maps), caption))
        return _show(
            render_feature_slices(_layout(self.graph), stacks, title_suffix="feature maps"), show
        )


def _layout(graph: LayerGraph | None):
    if graph is None:
        raise InputError("this result has no traced graph: build it with the viz3d function")
    from viz3d.layout import compute_layout

    return compute_layout(graph)


def _show(scene: Any, show: bool) -> Any:
    if show:
        scene.show()
    return scene


def feature_maps(
    model: nn.Module,
    image: torch.Tensor,
    layers: LayerRef | Sequence[LayerRef] | None = None,
) -> FeatureMaps:
    """The feature maps of ``layers`` (default: every ``Conv2d``) for one image.

    Parameters
    ----------
    model : torch.nn.Module
        Run once in eval mode; its flags are put back afterwards.
    image : torch.Tensor
        ``C x H x W`` or ``1 x C x H x W``, already preprocessed as the model expects.
    layers : str, module or sequence of them, optional
        Qualified module names (``"layer1.0.conv1"``) or modules; each must output
        ``N x C x h x w``.

    Returns
    -------
    FeatureMaps
        Every channel of each layer; ``.figure()``/``.save()`` show the most active ones in 2D,
        ``.render()`` as slices in 3D.

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
    >>> fm = viz3d.feature_maps(model, torch.rand(1, 8, 8))
    >>> fm.layers, fm.maps["0"].shape
    (['0'], (4, 8, 8))
    """
    batch = as_batch(image, "feature_maps")
    if batch.shape[0] != 1:
        raise InputError(f"feature_maps takes one image, got a batch of {batch.shape[0]}")
    modules = resolve_layers(model, layers)
    batch = batch.to(model_device(model))
    with torch.no_grad(), recording(model, modules) as seen:
        model(batch)
    # the hooks fire in run order; layers that never ran are reported, not silently dropped
    maps = {name: spatial(name, seen[name])[0].float().cpu().numpy() for name in seen}
    for name in modules:
        spatial(name, seen.get(name))
    from viz3d.trace import trace

    return FeatureMaps(maps=maps, image=_display_image(batch[0]), graph=trace(model, batch))
