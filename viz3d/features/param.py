"""Image parameterisation and transformation robustness for activation maximisation.

Following Olah et al., "Feature Visualization" (Distill, 2017) and their Lucid library:

* the image is optimised in a **decorrelated** space: a Fourier spectrum whose frequencies are
  scaled by ``1 / f`` (so every frequency learns at the same rate, instead of the high ones
  winning and giving adversarial noise), and, for 3-channel images, colours decorrelated with the
  square root of ImageNet's colour covariance; a sigmoid maps the result into [0, 1];
* each step shows the model a randomly **jittered, scaled and rotated** copy, so only patterns
  that survive small transformations grow.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# square root of ImageNet's RGB covariance, from Lucid (lucid/optvis/param/color.py)
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_SQRT = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


class FourierImage(torch.nn.Module):
    """A batch of ``channels x height x width`` images as scaled Fourier coefficients.

    Parameters
    ----------
    batch, channels, height, width : int
        Shape of the images produced by :meth:`forward`.
    generator : torch.Generator
        Seeds the initial spectrum (drawn on the CPU, so a seed gives the same start everywhere).
    decay_power : float, default: 1.0
        Frequencies are scaled by ``1 / f ** decay_power``.

    Examples
    --------
    >>> import torch
    >>> image = FourierImage(2, 3, 8, 8, torch.Generator().manual_seed(0))
    >>> x = image()
    >>> tuple(x.shape), bool(x.min() >= 0), bool(x.max() <= 1)
    ((2, 3, 8, 8), True, True)
    """

    def __init__(
        self,
        batch: int,
        channels: int,
        height: int,
        width: int,
        generator: torch.Generator,
        decay_power: float = 1.0,
    ) -> None:
        super().__init__()
        self.size = (height, width)
        fy = torch.fft.fftfreq(height)[:, None]
        fx = torch.fft.rfftfreq(width)[None, :]
        freqs = (fx**2 + fy**2).sqrt()
        scale = 1.0 / freqs.clamp(min=1.0 / max(height, width)) ** decay_power
        self.register_buffer("scale", scale * math.sqrt(height * width))
        shape = (batch, channels, *freqs.shape, 2)
        self.spectrum = torch.nn.Parameter(0.01 * torch.randn(shape, generator=generator))

    def forward(self) -> torch.Tensor:
        coefficients = torch.view_as_complex(self.spectrum) * self.scale
        # /4 as in Lucid: keeps the start close to grey after the sigmoid
        x = torch.fft.irfft2(coefficients, s=self.size) / 4
        if x.shape[1] == 3:
            x = torch.einsum("bchw,dc->bdhw", x, _COLOR_SQRT.to(x))
        return torch.sigmoid(x)


def robustness_transforms(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    jitter: float,
    scale: float,
    degrees: float,
) -> torch.Tensor:
    """Each image randomly shifted by up to ``jitter`` pixels, scaled by ``1 ± scale`` and
    rotated by up to ``± degrees`` (one affine warp, reflected at the borders).

    The random numbers come from ``generator`` on the CPU, so a seed fixes the whole run.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 1, 8, 8)
    >>> y = robustness_transforms(x, torch.Generator().manual_seed(0), jitter=1, scale=0.1,
    ...                           degrees=5)
    >>> tuple(y.shape), bool((y - x).abs().max() > 0)
    ((2, 1, 8, 8), True)
    >>> same = robustness_transforms(x, torch.Generator(), jitter=0, scale=0, degrees=0)
    >>> bool(torch.allclose(same, x, atol=1e-5))
    True
    """
    n, _, height, width = images.shape
    uniform = torch.rand(n, 4, generator=generator) * 2 - 1
    angle = torch.deg2rad(uniform[:, 0] * degrees)
    zoom = 1 + uniform[:, 1] * scale
    # affine_grid works in [-1, 1] coordinates: a pixel is 2 / size wide
    shift = torch.stack([uniform[:, 2] * 2 * jitter / width, uniform[:, 3] * 2 * jitter / height])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[0]], 1), torch.stack([sin, cos, shift[1]], 1)], 1
    ).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, per image (shape ``(N,)``).

    Examples
    --------
    >>> import torch
    >>> flat, edge = torch.zeros(1, 1, 4, 4), torch.eye(4)[None, None]
    >>> total_variation(flat).tolist(), total_variation(edge).item() > 0
    ([0.0], True)
    """
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    return dx + dy
