"""Pictures as model inputs: read a file, or fit a batch to the channels and size a model takes."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from viz3d.errors import InputError


def fit_images(
    images: torch.Tensor, channels: int | None = None, size: Sequence[int] | None = None
) -> torch.Tensor:
    """``N x C x H x W`` images with ``channels`` channels (grey <-> RGB) and ``size`` pixels.

    Examples
    --------
    >>> import torch
    >>> fit_images(torch.rand(2, 3, 16, 16), channels=1, size=(8, 8)).shape
    torch.Size([2, 1, 8, 8])
    """
    x = images.float()
    if channels is not None and x.shape[1] != channels:
        if channels == 1:
            x = x.mean(dim=1, keepdim=True)
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise InputError(
                f"cannot turn {x.shape[1]}-channel images into the {channels} channels the model "
                "takes; pass images with the right channels"
            )
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    return x.contiguous()


def load_image(
    path: str | os.PathLike, channels: int | None = None, size: Sequence[int] | None = None
) -> torch.Tensor:
    """A picture file (PNG, JPEG, ...) as a ``1 x C x H x W`` tensor in [0, 1].

    Examples
    --------
    >>> import os, tempfile
    >>> import imageio.v3 as iio, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> iio.imwrite(path, np.zeros((4, 6, 3), dtype=np.uint8))
    >>> load_image(path, channels=1).shape
    torch.Size([1, 1, 4, 6])
    """
    import imageio.v3 as iio

    try:
        pixels = np.asarray(iio.imread(path))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read {path} as a picture ({exc}); use a PNG or JPEG file"
        ) from exc
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise InputError(f"{path} holds {pixels.ndim}D data ({pixels.shape}), not one picture")
    peak = np.iinfo(pixels.dtype).max if np.issubdtype(pixels.dtype, np.integer) else 1.0
    rgb = pixels[..., :3] if pixels.shape[-1] >= 3 else pixels[..., :1]
    x = torch.from_numpy(rgb.astype(np.float32) / peak).permute(2, 0, 1)[None]
    return fit_images(x, channels, size)
