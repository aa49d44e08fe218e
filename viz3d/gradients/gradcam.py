"""Grad-CAM (Selvaraju et al. 2017): where in an image a conv layer found evidence for a class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from viz3d.errors import InputError
from viz3d.graph import LayerGraph


@dataclass
class GradCAM:
    """A Grad-CAM result: ``heatmap`` (H x W, in [0, 1], the input's size) for ``target``.

    ``image`` is the input as an H x W x 3 float array in [0, 1] for display, ``features`` up to
    16 of the layer's feature maps (C x h x w) and ``channel_weights`` their Grad-CAM weights.
    """

    heatmap: np.ndarray
    image: np.ndarray
    target: int | str
    layer: str
    score: float
    features: np.ndarray
    channel_weights: np.ndarray
    graph: LayerGraph | None = None

    def overlay(self, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
        """The heatmap blended over the image, as an H x W x 3 ``uint8`` array."""
        from matplotlib import colormaps

        coloured = colormaps[cmap](self.heatmap)[..., :3]
        blended = (1 - alpha) * self.image + alpha * coloured
        return (np.clip(blended, 0, 1) * 255).astype(np.uint8)

    def render(self, *, show: bool = True) -> Any:
        """A 3D view: the architecture with the input, this overlay and the layer's feature maps
        as textured planes beside it (returns the :class:`viz3d.Scene`)."""
        if self.graph is None:
            raise InputError(
                "this GradCAM has no traced graph: build it with viz3d.grad_cam(model, image, ...)"
            )
        from viz3d.layout import compute_layout
        from viz3d.render.gradients import render_grad_cam

        scene = render_grad_cam(
            compute_layout(self.graph),
            self.image,
            self.overlay(),
            self.features,
            layer=self.layer,
            target=self.target,
        )
        if show:
            scene.show()
        return scene


def _resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> tuple[str, nn.Module]:
    named = dict(model.named_modules())
    if isinstance(layer, str):
        if layer not in named:
            raise InputError(f"{type(model).__name__} has no module named {layer!r}")
        return layer, named[layer]
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer:
                return name, module
        raise InputError("layer is not a submodule of the model")
    convs = [(n, m) for n, m in named.items() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise InputError(f"{type(model).__name__} has no Conv2d layer; pass layer=<module or name>")
    return convs[-1]


def _display_image(image: torch.Tensor) -> np.ndarray:
    x = image.detach().float().cpu()
    x = x[:3] if x.shape[0] >= 3 else x[:1].expand(3, -1, -1)
    low, high = float(x.min()), float(x.max())
    x = (x - low) / (high - low) if high > low else torch.zeros_like(x)
    return x.permute(1, 2, 0).numpy()


def grad_cam(
    model: nn.Module,
    image: torch.Tensor,
    *,
    target: int | Callable[[torch.Tensor], torch.Tensor],
    layer: nn.Module | str | None = None,
) -> GradCAM:
    """Grad-CAM heatmap of ``target`` at ``layer`` (default: the last ``Conv2d``).

    ``image`` is C x H x W or 1 x C x H x W; ``target`` a class index of the output, or a function
    of the output returning a scalar. The heatmap is ReLU(Σ_c w_c A_c) with w_c the spatial mean of
    ∂score/∂A_c, upsampled bilinearly to the input's size and scaled to [0, 1]. The model's flags
    and parameters' ``.grad`` are left as they were.

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
    ...                             torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))
    >>> cam = viz3d.grad_cam(model, torch.rand(1, 8, 8), target=2)
    >>> cam.heatmap.shape, cam.layer, bool(cam.heatmap.min() >= 0)
    ((8, 8), '0', True)
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[0] != 1:
        raise InputError(f"grad_cam needs one image of shape C x H x W, got {list(image.shape)}")
    name, module = _resolve_layer(model, layer)
    captured: dict[str, torch.Tensor] = {}

    def keep(mod: nn.Module, args: Any, output: torch.Tensor) -> None:
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            raise InputError(
                f"Grad-CAM layer {name!r} must output N x C x h x w, got "
                f"{type(output).__name__}{list(getattr(output, 'shape', []))}"
            )
        captured["features"] = output

    training = [(m, m.training) for m in model.modules()]
    grads = {p: p.grad for p in model.parameters()}
    handle = module.register_forward_hook(keep)
    try:
        model.eval()
        with torch.enable_grad():
            output = model(image)
            if callable(target):
                score, label = target(output), getattr(target, "__name__", "custom")
            else:
                if not 0 <= target < output.shape[-1]:
                    raise InputError(
                        f"target {target} is outside the model's {output.shape[-1]} outputs"
                    )
                score, label = output.reshape(-1, output.shape[-1])[0, target], target
            features = captured["features"]
            (gradient,) = torch.autograd.grad(score, features)
    finally:
        handle.remove()
        for m, flag in training:
            m.training = flag
        for p, g in grads.items():
            p.grad = g
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * features).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    heatmap = (cam / peak if peak > 0 else cam).cpu().numpy()
    from viz3d.trace import trace

    keep_channels = min(16, features.shape[1])
    order = weights[0, :, 0, 0].abs().argsort(descending=True)[:keep_channels]
    return GradCAM(
        heatmap=heatmap,
        image=_display_image(image[0]),
        target=label,
        layer=name,
        score=float(score.detach()),
        features=features[0, order].detach().cpu().numpy(),
        channel_weights=weights[0, order, 0, 0].detach().cpu().numpy(),
        graph=trace(model, image),
    )
