"""Render the built-in 'unet' sample model to samples/images/unet.png (a README picture).

Run from the repository root: ``python samples/render_unet.py``.
"""

from pathlib import Path

import torch

import viz3d
from viz3d.api import enhanced_3d_visualization
from viz3d.zoo import SAMPLES, build_sample

OUT = Path(__file__).resolve().parent / "images" / "unet.png"

if __name__ == "__main__":
    torch.manual_seed(0)
    graph = viz3d.trace(build_sample("unet"), input_shape=SAMPLES["unet"].input_shape)
    scene = enhanced_3d_visualization(graph, show=False)
    scene.screenshot(OUT, window_size=(1280, 720))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")
