"""Flat diagram of the sample ResNet: samples/images/resnet_diagram.svg (the whole model, for
papers and slides) and resnet_diagram.png (its left part, for the README).

Needs Graphviz's ``dot`` (Debian/Ubuntu: ``apt-get install graphviz``). Run from the repository
root: ``python samples/diagram.py``.
"""

import io
from pathlib import Path

import torch
from PIL import Image

import viz3d
from viz3d.diagram import render_dot
from viz3d.zoo import SAMPLES, build_sample

OUT = Path(__file__).resolve().parent / "images"
#: Width of the README picture: input, stem, the folded layer1 and layer2's first block.
README_WIDTH = 1800

if __name__ == "__main__":
    torch.manual_seed(0)
    graph = viz3d.trace(build_sample("resnet"), input_shape=SAMPLES["resnet"].input_shape)
    svg = graph.to_svg(OUT / "resnet_diagram.svg")
    print(f"wrote {svg} ({svg.stat().st_size // 1024} KB)")
    picture = Image.open(io.BytesIO(render_dot(graph.to_dot(), "png")))
    png = OUT / "resnet_diagram.png"
    picture.crop((0, 0, min(README_WIDTH, picture.width), picture.height)).save(png)
    print(f"wrote {png} ({png.stat().st_size // 1024} KB, left part of {picture.width} px)")
