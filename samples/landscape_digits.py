"""Loss landscapes of a small MLP and CNN trained on scikit-learn's digits (no download).

Trains both models, keeps a checkpoint per epoch, and saves to ``OUT_DIR`` (default
``out/``) one ``.npz`` per landscape, loadable with ``viz3d.landscape.Landscape.load``:

* ``{mlp,cnn}_filter.npz``      2D, filter-normalised random directions (Li et al. 2018)
* ``{mlp,cnn}_trajectory.npz``  2D, PCA plane of the training path, path projected on it
* ``{mlp,cnn}_interpolation.npz``  1D, initial -> trained weights, t in [-0.25, 1.25]
* ``mlp_hessian.npz``           2D, top two Hessian eigenvectors

It then draws each one to ``IMAGES`` (default ``samples/images``, the README's pictures:
``landscape_{mlp,cnn}_{filter,trajectory,interpolation}.png``, ``landscape_mlp_hessian.png``) and
films the MLP's surface morphing over its training checkpoints
(``landscape_evolution.gif``, small enough for the README; ``--video out/evolution.mp4`` for a
full-size one). Run: ``python samples/landscape_digits.py [OUT_DIR] [--steps 31]``.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from torch import nn

import viz3d
from viz3d.landscape import Landscape, interpolate, landscape_from_trajectory, loss_landscape
from viz3d.zoo import build_sample, digits


def build(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return build_sample("mlp" if kind == "mlp" else "digits-cnn")


def data_for(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    return digits(images=kind == "cnn")


def train(model: nn.Module, data, epochs: int) -> list[dict[str, torch.Tensor]]:
    """Mini-batch Adam; returns a state dict per epoch (the training trajectory)."""
    x, y = data
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    checkpoints = []
    for _ in range(epochs):
        model.train()
        for index in torch.randperm(len(x), generator=generator).split(64):
            optimiser.zero_grad()
            loss_fn(model(x[index]), y[index]).backward()
            optimiser.step()
        checkpoints.append(copy.deepcopy(model.state_dict()))
    model.eval()
    return checkpoints


def compute(out_dir: Path, steps: int, epochs: int) -> tuple[list[Path], dict]:
    """Train, compute every landscape, save them; returns the files written and, per model
    kind, the trained model, its data and its checkpoints."""
    loss_fn = nn.CrossEntropyLoss()
    written = []
    runs = {}
    for kind in ("mlp", "cnn"):
        torch.manual_seed(0)
        model, data = build(kind), data_for(kind)
        initial = copy.deepcopy(model)
        checkpoints = train(model, data, epochs)
        runs[kind] = (model, data, checkpoints)
        landscapes = {
            "filter": loss_landscape(model, loss_fn, data, steps=steps, span=1.0),
            "trajectory": landscape_from_trajectory(
                model, checkpoints[:-1], loss_fn, data, steps=steps
            ),
            "interpolation": interpolate(
                initial, model, loss_fn, data, steps=2 * steps, start=-0.25, stop=1.25
            ),
        }
        if kind == "mlp":
            landscapes["hessian"] = loss_landscape(
                model, loss_fn, data, steps=steps, span=0.5, directions="hessian"
            )
        for name, landscape in landscapes.items():
            path = landscape.save(out_dir / f"{kind}_{name}.npz")
            _, low = landscape.minimum
            print(
                f"{path}: centre loss {landscape.center_loss:.4f}, lowest {low:.4f}, "
                f"{landscape.metadata['seconds']:.2f} s ({landscape.metadata['strategy']})"
            )
            written.append(path)
    return written, runs


def draw(files: list[Path], runs: dict, images: Path, video: Path | None) -> None:
    """The README's pictures from the saved files, and the evolution movie of the MLP."""
    images.mkdir(parents=True, exist_ok=True)
    for path in files:
        target = images / f"landscape_{path.stem}.png"
        Landscape.load(path).render().screenshot(target)
        print(f"wrote {target}")
    model, data, checkpoints = runs["mlp"]
    evolution = {"loss_fn": nn.CrossEntropyLoss(), "data": data, "steps": 21}
    gif = viz3d.landscape_evolution_movie(
        images / "landscape_evolution.gif",
        model,
        checkpoints,
        seconds=4,
        fps=6,
        window_size=(480, 270),
        **evolution,
    )
    print(f"wrote {gif}")
    if video is not None:
        print(f"wrote {viz3d.landscape_evolution_movie(video, model, checkpoints, **evolution)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="out", type=Path)
    parser.add_argument("--steps", type=int, default=31, help="grid points per axis")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--images", type=Path, default=Path("samples/images"))
    parser.add_argument("--video", type=Path, help="also write a full-size evolution movie (.mp4)")
    args = parser.parse_args()
    started = time.perf_counter()
    files, runs = compute(args.out_dir, args.steps, args.epochs)
    print(f"{len(files)} landscapes in {time.perf_counter() - started:.1f} s under {args.out_dir}/")
    draw(files, runs, args.images, args.video)


if __name__ == "__main__":
    main()
