"""Lecture videos of the built-in 'resnet' sample: an orbit, a fly-through and a forward pass.

Run from the repository root: ``python samples/movie_resnet.py [--size 1280x720] [--seconds 6]``.
Writes ``samples/videos/resnet_{orbit,flythrough,forward_pass}.mp4`` and a small looping
``resnet_orbit.gif`` for the README (about a minute on a 2-core CPU at 720p).
"""

import argparse
import logging
from pathlib import Path

import torch

import viz3d
from viz3d.api import enhanced_3d_visualization
from viz3d.render.pyvista.movie import flythrough_movie, forward_pass_movie, orbit_movie
from viz3d.zoo import SAMPLES, build_sample

OUT = Path(__file__).resolve().parent / "videos"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="frame size WIDTHxHEIGHT")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    torch.manual_seed(0)
    graph = viz3d.trace(build_sample("resnet"), input_shape=SAMPLES["resnet"].input_shape)
    scene = enhanced_3d_visualization(graph, show=False)
    OUT.mkdir(exist_ok=True)
    title = "A small ResNet, layer by layer"
    orbit_movie(
        scene, OUT / "resnet_orbit.mp4", seconds=args.seconds, window_size=size, title=title
    )
    flythrough_movie(
        scene, OUT / "resnet_flythrough.mp4", seconds=args.seconds * 1.5, window_size=size
    )
    forward_pass_movie(
        scene, OUT / "resnet_forward_pass.mp4", seconds=args.seconds, window_size=size, title=title
    )
    orbit_movie(scene, OUT / "resnet_orbit.gif", seconds=4, fps=15, window_size=(480, 270))
    for path in sorted(OUT.glob("resnet_*")):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
