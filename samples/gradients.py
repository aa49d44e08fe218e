"""Gradient flow and Grad-CAM pictures for the README.

    python samples/gradients.py [--out samples/images]

1. A 20-layer sigmoid MLP and the same MLP with residual connections: one backward pass each,
   the architecture coloured by log10 gradient norm; the plain one's first layers vanish.
2. A small CNN trained for a few seconds on scikit-learn's bundled 8x8 digits (no download),
   then Grad-CAM of its prediction for one test digit, shown beside the architecture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import viz3d
from viz3d.zoo import digits
from viz3d.zoo.data import TRAIN_DIGITS, fit_digits
from viz3d.zoo.vision import digits_gap_cnn


def sigmoid_mlp(depth: int = 20, width: int = 16, residual: bool = False) -> nn.Module:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(
                nn.Sequential(nn.Linear(width, width), nn.Sigmoid()) for _ in range(depth)
            )
            self.head = nn.Linear(width, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for block in self.blocks:
                x = x + block(x) if residual else block(x)
            return self.head(x)

    return Net()


def train_digits_cnn() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    images, labels = digits(images=True)
    model = digits_gap_cnn()
    accuracy = fit_digits(model, epochs=60, batch=250, lr=1e-2)
    print(f"digits CNN test accuracy: {accuracy:.3f}")
    return model, images[TRAIN_DIGITS:], labels[TRAIN_DIGITS:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="samples/images")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    x, y = torch.randn(64, 16), torch.randn(64, 1)

    def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output - target).pow(2).mean()

    for name, residual in (("plain", False), ("residual", True)):
        flow = viz3d.gradient_flow(sigmoid_mlp(residual=residual), x, loss_fn=mse, targets=y)
        print(f"{name}: {len(flow.vanishing)} vanishing layers, {len(flow.exploding)} exploding")
        flow.render(show=False).screenshot(out / f"gradients_{name}.png")
        if not residual:
            flow.plot(out / "gradients_chart.png")

    model, images, labels = train_digits_cnn()
    image, label = images[3], int(labels[3])
    cam = viz3d.grad_cam(model, image, target=label)
    print(f"Grad-CAM of class {label} at layer {cam.layer}")
    cam.render(show=False).screenshot(out / "grad_cam.png")


if __name__ == "__main__":
    main()
