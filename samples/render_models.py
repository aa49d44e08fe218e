"""Render built-in sample models to samples/images/<name>.png (the README's pictures).

Run from the repository root: ``python samples/render_models.py [cnn resnet unet gpt2]``.
"""

import sys
from pathlib import Path

import torch

import viz3d
from viz3d.zoo import SAMPLES, build_sample

OUT = Path(__file__).resolve().parent / "images"

if __name__ == "__main__":
    for name in sys.argv[1:] or ["cnn", "resnet", "unet", "gpt2"]:
        torch.manual_seed(0)
        graph = viz3d.trace(build_sample(name), input_shape=SAMPLES[name].input_shape)
        scene = viz3d.enhanced_3d_visualization(graph, show=False)
        path = OUT / f"{name}.png"
        scene.screenshot(path, window_size=(1280, 720))
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
