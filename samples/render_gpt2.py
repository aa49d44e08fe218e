"""Render the built-in 'gpt2' sample model to samples/images/gpt2.png (a README picture).

Run from the repository root: ``python samples/render_gpt2.py``.
"""

from pathlib import Path

import torch

import viz3d
from viz3d.api import enhanced_3d_visualization
from viz3d.zoo import SAMPLES, build_sample

OUT = Path(__file__).resolve().parent / "images" / "gpt2.png"

if __name__ == "__main__":
    torch.manual_seed(0)
    graph = viz3d.trace(build_sample("gpt2"), input_shape=SAMPLES["gpt2"].input_shape)
    scene = enhanced_3d_visualization(graph, show=False)
    scene.screenshot(OUT, window_size=(1280, 720))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")
