"""Activation maximisation: the input a channel, a neuron or a class logit responds to most."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from viz3d.errors import InputError
from viz3d.features.capture import OUTPUT, first_tensor, model_device, recording, resolve_layer
from viz3d.features.figures import grid_figure, save_figure
from viz3d.features.maps import _layout, _show
from viz3d.features.param import FourierImage, robustness_transforms, total_variation
from viz3d.graph import LayerGraph

Objective = Literal["channel", "neuron"]


@dataclass
class FeatureImages:
    """Images optimised to excite units of one layer (see :func:`feature_visualization`).

    Attributes
    ----------
    images : numpy.ndarray
        ``N x H x W x C`` in [0, 1]: image ``i`` maximises ``channels[i]``.
    layer : str
        The layer, or ``"output"`` for class logits.
    channels : list of int
        The channel, neuron channel or class of each image.
    objective : str
        ``"channel"`` (mean over the map), ``"neuron"`` (the centre unit) or ``"class logit"``.
    scores : numpy.ndarray
        The objective reached by each final image, shown untransformed.
    graph : LayerGraph or None
        The traced model, for :meth:`render`.
    """

    images: np.ndarray
    layer: str
    channels: list[int]
    objective: str
    scores: np.ndarray
    graph: LayerGraph | None = None

    @property
    def inputs(self) -> torch.Tensor:
        """The images as an ``N x C x H x W`` float tensor, ready for the model (unpreprocessed)."""
        return torch.from_numpy(np.ascontiguousarray(self.images.transpose(0, 3, 1, 2)))

    def display(self) -> np.ndarray:
        """``N x H x W x 3`` images for display (one channel repeated; more than 3: the first)."""
        if self.images.shape[-1] == 3:
            return self.images
        return np.repeat(self.images[..., :1], 3, axis=-1)

    def figure(self, *, columns: int = 8) -> Any:
        """A matplotlib gallery: one image per channel, captioned with the score it reaches."""
        what = "class" if self.objective == "class logit" else self.objective
        cells = [
            (image, f"{what} {c}: {score:.3g}")
            for image, c, score in zip(self.display(), self.channels, self.scores)
        ]
        return grid_figure(
            [(f"{self.layer}: inputs maximising each {self.objective}", cells)], columns=columns
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`figure` to a PNG/PDF/SVG file, atomically."""
        return save_figure(self.figure(), path)

    def render(self, *, show: bool = True) -> Any:
        """A 3D view: the images as textured slices above their layer (returns the Scene)."""
        from viz3d.render.features import SliceStack, render_feature_slices

        what = "class" if self.objective == "class logit" else "ch"
        stack = SliceStack(
            self.layer,
            list(self.display()),
            f"{self.layer}: {what} {', '.join(map(str, self.channels[:6]))}"
            + (" ..." if len(self.channels) > 6 else ""),
        )
        scene = render_feature_slices(
            _layout(self.graph), [stack], title_suffix=f"what {self.layer} responds to"
        )
        return _show(scene, show)


def _pixels(size: int | Sequence[int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height < 2 or width < 2:
        raise InputError(f"feature_visualization needs an image of at least 2 x 2, got {size}")
    return int(height), int(width)


def _input_channels(model: nn.Module) -> int:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first.in_channels if first is not None else 3


def _selected(
    activation: torch.Tensor, channels: torch.Tensor, objective: str, layer: str
) -> torch.Tensor:
    """The objective of each image ``i`` for ``channels[i]`` (shape ``(N,)``)."""
    if activation.dim() not in (2, 4):
        raise InputError(
            f"layer {layer!r} outputs {list(activation.shape)}: activation maximisation needs "
            "N x C x h x w feature maps or N x F features"
        )
    if int(channels.max()) >= activation.shape[1]:
        where = (
            f"the model has {activation.shape[1]} outputs"
            if layer == OUTPUT
            else f"layer {layer!r} has {activation.shape[1]} channels"
        )
        raise InputError(f"channel {int(channels.max())} is out of range: {where}")
    rows = torch.arange(len(channels), device=activation.device)
    picked = activation[rows, channels.to(activation.device)]
    if picked.dim() == 1:
        return picked
    if objective == "neuron":
        return picked[:, picked.shape[1] // 2, picked.shape[2] // 2]
    return picked.mean(dim=(1, 2))


def feature_visualization(
    model: nn.Module,
    layer: nn.Module | str,
    channels: int | Sequence[int],
    *,
    objective: Objective = "channel",
    steps: int = 256,
    size: int | tuple[int, int] = 64,
    in_channels: int | None = None,
    seed: int = 0,
    lr: float = 0.05,
    jitter: float | None = None,
    scale: float = 0.1,
    degrees: float = 5.0,
    tv: float = 0.05,
    l2: float = 0.0,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
) -> FeatureImages:
    """Optimise one input per channel that maximises it (Olah et al., Distill 2017).

    The image is a decorrelated Fourier parameterisation squashed into [0, 1]; every step shows
    the model a randomly jittered, scaled and rotated copy and adds a total-variation and an L2
    penalty, so the result is a readable pattern rather than adversarial noise (see
    :mod:`viz3d.features.param`). All channels are optimised together as one batch, on the
    model's device; the model's weights, ``.grad`` s and train/eval flags are left as they were.

    Parameters
    ----------
    model : torch.nn.Module
        A model that takes ``N x C x H x W`` images.
    layer : str or torch.nn.Module
        The layer whose units to excite, or ``"output"`` to maximise class logits.
    channels : int or sequence of int
        Channels of ``layer`` (or classes); one image each.
    objective : {"channel", "neuron"}, default: "channel"
        Maximise a channel's mean over its map, or its centre neuron (a 2D layer output has one
        unit per channel either way).
    steps : int, default: 256
        Adam steps.
    size : int or (int, int), default: 64
        Image height and width (use the size the model was trained on).
    in_channels : int, optional
        Image channels; defaults to the first ``Conv2d``'s ``in_channels`` (else 3).
    seed : int, default: 0
        Seeds the start image and the random transformations: a seed gives the same images.
    lr : float, default: 0.05
        Adam learning rate on the Fourier coefficients.
    jitter : float, optional
        Largest shift in pixels (default: ``size / 16``, at least 1).
    scale : float, default: 0.1
        Largest relative zoom in or out.
    degrees : float, default: 5.0
        Largest rotation.
    tv, l2 : float, default: 0.05, 0.0
        Weights of the total-variation penalty and of the L2 penalty (distance from grey).
    preprocess : callable, optional
        Applied to the [0, 1] images before the model (e.g. ImageNet normalisation).
    progress : bool, default: True
        Show a progress bar.

    Returns
    -------
    FeatureImages
        ``.images``, ``.scores``, ``.figure()``, ``.save(path)``, ``.render()``.

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
    >>> result = viz3d.feature_visualization(model, "1", [0, 2], steps=8, size=8, progress=False)
    >>> result.images.shape, result.channels
    ((2, 8, 8, 1), [0, 2])
    """
    wanted = [int(c) for c in ([channels] if isinstance(channels, Integral) else channels)]
    if not wanted or min(wanted) < 0:
        raise InputError(f"channels must be non-negative indices, got {wanted}")
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    height, width = _pixels(size)
    depth = in_channels or _input_channels(model)
    if isinstance(layer, str) and layer == OUTPUT:
        name, modules = OUTPUT, {}
    else:
        name, module = resolve_layer(model, layer)
        modules = {name: module}
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    image = FourierImage(len(wanted), depth, height, width, generator).to(device)
    targets = torch.tensor(wanted)
    shift = max(1.0, min(height, width) / 16) if jitter is None else float(jitter)
    prepare = preprocess or (lambda x: x)

    def objective_of(x: torch.Tensor, seen: dict[str, torch.Tensor]) -> torch.Tensor:
        output = model(prepare(x))
        if name == OUTPUT:
            logits = first_tensor(output)
            return _selected(logits.reshape(len(x), -1), targets, objective, name)
        return _selected(seen[name], targets, objective, name)

    with torch.enable_grad(), recording(model, modules, detach=False) as seen:
        optimizer = torch.optim.Adam(image.parameters(), lr=lr)
        params = list(image.parameters())
        bar = tqdm(range(steps), desc=f"feature visualization of {name}", disable=not progress)
        for _ in bar:
            x = image()
            moved = robustness_transforms(x, generator, jitter=shift, scale=scale, degrees=degrees)
            score = objective_of(moved, seen)
            penalty = tv * total_variation(x) + l2 * (x - 0.5).pow(2).mean(dim=(1, 2, 3))
            loss = (penalty - score).sum()
            # gradients of the image only: the model's .grad stay untouched
            for p, g in zip(params, torch.autograd.grad(loss, params)):
                p.grad = g
            optimizer.step()
            bar.set_postfix(objective=f"{float(score.detach().mean()):.3g}", refresh=False)
        with torch.no_grad():
            final = image()
            scores = objective_of(final, seen).float().cpu().numpy()
    from viz3d.trace import trace

    images = final.detach().float().cpu()
    return FeatureImages(
        images=images.permute(0, 2, 3, 1).numpy(),
        layer=name,
        channels=wanted,
        objective="class logit" if name == OUTPUT else objective,
        scores=scores,
        graph=trace(model, prepare(images[:1].to(device))),
    )
