"""Deep feature factorisation (Collins et al., ECCV 2018): concepts a layer shares across images.

A layer's activations for ``N`` images, ``N x C x h x w``, are read as ``N·h·w`` samples of ``C``
channels and factorised with NMF into ``k`` concepts: ``A ≈ W H``. A row of ``H`` (``C`` values)
is a concept's *embedding*; a column of ``W``, reshaped to ``N x h x w``, is where the concept
lies in each image. Upsampled to the input's size, the arg-max over concepts splits every image
into regions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from viz3d.errors import InputError
from viz3d.features.capture import (
    LayerRef,
    as_batch,
    model_device,
    recording,
    resolve_layer,
    spatial,
)
from viz3d.features.figures import grid_figure, save_figure
from viz3d.features.maps import _layout, _show
from viz3d.features.nmf import Init, nmf
from viz3d.gradients.gradcam import _display_image
from viz3d.graph import LayerGraph

#: Concept colours (matplotlib's tab10), as RGB in [0, 1], and their names for legends.
COLOUR_NAMES = (
    "blue",
    "orange",
    "green",
    "red",
    "purple",
    "brown",
    "pink",
    "grey",
    "olive",
    "cyan",
)
PALETTE = np.array(
    [
        [0.122, 0.467, 0.706],
        [1.000, 0.498, 0.055],
        [0.173, 0.627, 0.173],
        [0.839, 0.153, 0.157],
        [0.580, 0.404, 0.741],
        [0.549, 0.337, 0.294],
        [0.890, 0.467, 0.761],
        [0.498, 0.498, 0.498],
        [0.737, 0.741, 0.133],
        [0.090, 0.745, 0.812],
    ]
)


@dataclass
class Concepts:
    """The ``k`` concepts of one layer across a batch of images.

    Attributes
    ----------
    layer : str
        The factorised layer.
    embeddings : numpy.ndarray
        ``k x C``: each concept's channel loadings, scaled to unit norm.
    weights : numpy.ndarray
        ``N x k x h x w``: how much of each concept each position holds (at the layer's size).
    masks : numpy.ndarray
        ``N x k x H x W``: ``weights`` upsampled to the input's size and scaled to [0, 1] per
        image and concept.
    labels : numpy.ndarray
        ``N x H x W`` integers: the strongest concept at each pixel (the partition).
    images : numpy.ndarray
        ``N x H x W x 3`` inputs in [0, 1], for display.
    relative_error : float
        ``||A - W H|| / ||A||`` of the factorisation.
    top_classes : list of list of (str, float)
        Per concept, the classes the head scores highest for its embedding, with softmax
        probabilities (empty without a head).
    maps : numpy.ndarray
        The layer's ``C x h x w`` activations for the first image (for :meth:`render`).
    """

    layer: str
    embeddings: np.ndarray
    weights: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    relative_error: float
    top_classes: list[list[tuple[str, float]]] = field(default_factory=list)
    maps: np.ndarray | None = None
    graph: LayerGraph | None = None

    @property
    def k(self) -> int:
        """Number of concepts."""
        return len(self.embeddings)

    def colours(self) -> np.ndarray:
        """``k x 3`` RGB colours of the concepts."""
        return PALETTE[np.arange(self.k) % len(PALETTE)]

    def overlay(self, index: int = 0, alpha: float = 0.6) -> np.ndarray:
        """Image ``index`` with each pixel tinted by its concept, as ``H x W x 3`` in [0, 1].

        The tint's strength follows the concept's mask, so weak regions show the image.
        """
        label = self.labels[index]
        strength = np.take_along_axis(self.masks[index], label[None], axis=0)[0][..., None]
        tint = self.colours()[label]
        mix = alpha * strength
        return np.clip((1 - mix) * self.images[index] + mix * tint, 0.0, 1.0)

    def legend(self) -> list[str]:
        """One line per concept: its number, colour and, with a head, its top classes."""
        lines = []
        for j in range(self.k):
            classes = self.top_classes[j] if j < len(self.top_classes) else []
            named = ", ".join(f"{name} {p:.0%}" for name, p in classes)
            colour = COLOUR_NAMES[j % len(COLOUR_NAMES)]
            lines.append(f"concept {j} ({colour})" + (f": {named}" if named else ""))
        return lines

    def figure(self, *, columns: int = 8, max_images: int = 16) -> Any:
        """A matplotlib figure: each input with its concept partition coloured over it, and a
        legend naming each concept's colour and top classes."""
        from matplotlib.patches import Patch

        count = min(len(self.images), max_images)
        cells = [(self.overlay(i), f"image {i}") for i in range(count)]
        fig = grid_figure(
            [(f"{self.layer}: {self.k} concepts (NMF, error {self.relative_error:.2f})", cells)],
            columns=columns,
        )
        handles = [
            Patch(color=colour, label=line) for colour, line in zip(self.colours(), self.legend())
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
        return fig

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`figure` to a PNG/PDF/SVG file, atomically."""
        return save_figure(self.figure(), path)

    def slices(self, k_channels: int = 8) -> list[np.ndarray]:
        """The first image's most active channels, each tinted with the concept it loads on most."""
        if self.maps is None:
            raise InputError("these concepts hold no feature maps: build them with viz3d")
        order = np.argsort(-self.maps.mean(axis=(1, 2)), kind="stable")[:k_channels]
        owner = self.embeddings[:, order].argmax(axis=0)
        # dark where the channel is silent, the concept's colour where it fires
        return [
            (self.maps[c] / max(float(self.maps[c].max()), 1e-12))[..., None] * self.colours()[j]
            for c, j in zip(order, owner)
        ]

    def render(self, *, k_channels: int = 8, show: bool = True) -> Any:
        """A 3D view: the partition over the first inputs above the model's input, and the layer's
        most active feature maps coloured by their concept above the layer (returns the Scene)."""
        from viz3d.render.features import SliceStack, render_feature_slices

        overlays = [self.overlay(i) for i in range(min(4, len(self.images)))]
        stacks = [
            SliceStack("input", overlays, "\n".join(self.legend())),
            SliceStack(self.layer, self.slices(k_channels), f"{self.layer}: channels by concept"),
        ]
        scene = render_feature_slices(
            _layout(self.graph), stacks, title_suffix=f"{self.k} concepts at {self.layer}"
        )
        return _show(scene, show)


def _top_classes(
    head: Callable[[torch.Tensor], torch.Tensor],
    embeddings: torch.Tensor,
    class_names: Sequence[str] | None,
    top: int,
) -> list[list[tuple[str, float]]]:
    with torch.no_grad():
        logits = head(embeddings)
    if logits.dim() != 2 or logits.shape[0] != len(embeddings):
        raise InputError(
            f"head turned {len(embeddings)} concept embeddings of {embeddings.shape[1]} channels "
            f"into {list(logits.shape)}; it must give one row of class scores per concept"
        )
    probs, indices = logits.float().softmax(dim=1).topk(min(top, logits.shape[1]), dim=1)
    names = list(class_names) if class_names is not None else None
    return [
        [(names[i] if names else str(i), float(p)) for p, i in zip(row_p.tolist(), row_i.tolist())]
        for row_p, row_i in zip(probs, indices)
    ]


def deep_feature_factorization(
    model: nn.Module,
    images: torch.Tensor,
    layer: LayerRef | None = None,
    k: int = 4,
    *,
    head: Callable[[torch.Tensor], torch.Tensor] | None = None,
    class_names: Sequence[str] | None = None,
    top: int = 3,
    init: Init = "nndsvd",
    max_iter: int = 500,
) -> Concepts:
    """Split a layer's activations over ``images`` into ``k`` concepts with NMF.

    Parameters
    ----------
    model : torch.nn.Module
        Run once on ``images`` in eval mode (its flags are put back).
    images : torch.Tensor
        ``N x C x H x W`` (or one ``C x H x W`` image), preprocessed as the model expects.
    layer : str or torch.nn.Module, optional
        Must output ``N x C x h x w``; default: the last ``Conv2d``. Negative activations are
        set to 0 (NMF needs non-negative data): pick the ReLU after a convolution to avoid that.
    k : int, default: 4
        Number of concepts.
    head : callable, optional
        The classifier that reads this layer's pooled ``C`` features (e.g. ``model.fc`` of a
        ResNet); each concept's embedding goes through it to name its top classes.
    class_names : sequence of str, optional
        Names of the head's outputs.
    top : int, default: 3
        Classes listed per concept.
    init : {"nndsvd", "nndsvda"}, default: "nndsvd"
        NMF start (deterministic: the same images give the same concepts).
    max_iter : int, default: 500
        Most NMF iterations.

    Returns
    -------
    Concepts

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.ReLU())
    >>> concepts = viz3d.deep_feature_factorization(model, torch.rand(3, 1, 8, 8), "1", k=2)
    >>> concepts.labels.shape, concepts.embeddings.shape
    ((3, 8, 8), (2, 6))
    """
    batch = as_batch(images, "deep_feature_factorization")
    name, module = resolve_layer(model, layer)
    batch = batch.to(model_device(model))
    with torch.no_grad(), recording(model, {name: module}) as seen:
        model(batch)
    activation = spatial(name, seen.get(name)).float().clamp(min=0)
    n, channels, h, w = activation.shape
    if not 1 <= k <= min(channels, n * h * w):
        raise InputError(
            f"k={k} concepts do not fit layer {name!r} ({channels} channels, {n * h * w} "
            f"positions): use 1..{min(channels, n * h * w)}"
        )
    samples = activation.permute(0, 2, 3, 1).reshape(-1, channels)
    if not bool(samples.any()):
        raise InputError(f"layer {name!r} is all zero (after ReLU) for these images: no concepts")
    result = nmf(samples, k, init=init, max_iter=max_iter)
    # unit-norm embeddings put every concept's weights on one scale, so the arg-max is fair
    norms = result.H.norm(dim=1, keepdim=True).clamp(min=1e-12)
    embeddings, weights = result.H / norms, result.W * norms.T
    weights = weights.reshape(n, h, w, k).permute(0, 3, 1, 2).float()
    upsampled = F.interpolate(weights, size=batch.shape[-2:], mode="bilinear", align_corners=False)
    upsampled = upsampled.clamp(min=0)
    peak = upsampled.amax(dim=(2, 3), keepdim=True).clamp(min=1e-12)
    top_classes = []
    if head is not None:
        # the head reads pooled features: give each embedding the typical pooled norm
        typical = activation.mean(dim=(2, 3)).norm(dim=1).mean()
        top_classes = _top_classes(head, (embeddings * typical).to(batch), class_names, top)
    from viz3d.trace import trace

    return Concepts(
        layer=name,
        embeddings=embeddings.float().cpu().numpy(),
        weights=weights.cpu().numpy(),
        masks=(upsampled / peak).cpu().numpy(),
        labels=upsampled.argmax(dim=1).cpu().numpy(),
        images=np.stack([_display_image(image) for image in batch]),
        relative_error=result.relative_error,
        top_classes=top_classes,
        maps=activation[0].cpu().numpy(),
        graph=trace(model, batch[:1]),
    )
