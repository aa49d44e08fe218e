"""Benchmark: viz3d loss landscapes vs loss-landscapes (PyPI) vs a naive copy-weights loop.

Same model, data (all 1797 digits samples) and grid size for every method. The methods
use different direction conventions; only the time for the same amount of work matters.

Run: python bench/landscape.py [--repeat 3] [--steps 25 51] [--models mlp cnn]
Needs scikit-learn (bundled digits data) and, for the comparison, ``pip install loss-landscapes``.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from viz3d.landscape import loss_landscape
from viz3d.zoo import build_sample, digits


def build(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return build_sample("mlp" if kind == "mlp" else "digits-cnn")


def data_for(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    return digits(images=kind == "cnn")


def forward_flops(model: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def matmul_flops_per_second(size: int = 2048, repeat: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    return 2 * size**3 / best_time(lambda: a @ b, repeat)


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_viz3d(model, loss_fn, data, steps):
    return loss_landscape(model, loss_fn, data, steps=steps, progress=False)


def run_loss_landscapes(model, loss_fn, data, steps):
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(loss_fn, *data)
    # it moves the live weights and leaves them displaced: give it a copy
    return loss_landscapes.random_plane(
        copy.deepcopy(model),
        metric,
        distance=1,
        steps=steps,
        normalization="filter",
        deepcopy_model=True,
    )


def run_naive_loop(model, loss_fn, data, steps):
    """Copy theta0 + a d1 + b d2 into the model for every point, forward, read the loss."""
    model = copy.deepcopy(model).eval()
    theta0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    d1 = {n: torch.randn(w.shape, generator=g) for n, w in theta0.items()}
    d2 = {n: torch.randn(w.shape, generator=g) for n, w in theta0.items()}
    axis = np.linspace(-1, 1, steps)
    out = np.empty((steps, steps))
    with torch.no_grad():
        for i, a in enumerate(axis):
            for j, b in enumerate(axis):
                for n, p in model.named_parameters():
                    p.copy_(theta0[n] + a * d1[n] + b * d2[n])
                out[i, j] = loss_fn(model(data[0]), data[1]).item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 51])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    parser.add_argument("--skip-competitor", action="store_true")
    args = parser.parse_args()

    methods = {"viz3d": run_viz3d, "naive loop": run_naive_loop}
    if not args.skip_competitor:
        methods["loss-landscapes"] = run_loss_landscapes
    peak = matmul_flops_per_second()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"matmul 2048^2: {peak / 1e9:.0f} GFLOP/s (best of 10)"
    )
    loss_fn = nn.CrossEntropyLoss()
    for name in args.models:
        model, data = build(name), data_for(name)
        flops = forward_flops(model, data[0])
        print(
            f"\n{name}: {sum(p.numel() for p in model.parameters())} parameters, "
            f"{flops / 1e6:.1f} MFLOP per point ({len(data[0])} samples)"
        )
        for steps in args.steps:
            points = steps * steps
            times = {
                m: best_time(
                    lambda f=f, model=model, data=data, steps=steps: f(model, loss_fn, data, steps),
                    args.repeat,
                )
                for m, f in methods.items()
            }
            ls = run_viz3d(model, loss_fn, data, steps)
            print(
                f"  {steps}x{steps} grid ({points} points), viz3d strategy "
                f"{ls.metadata['strategy']!r}, {ls.metadata['batch_points']} points per pass"
            )
            for method, seconds in times.items():
                useful = points * flops / seconds
                ratio = seconds / times["viz3d"]
                print(
                    f"    {method:16s} {seconds:8.3f} s  {useful / 1e9:7.1f} GFLOP/s "
                    f"({useful / peak:5.0%} of matmul)  viz3d is {ratio:5.2f}x faster"
                )


if __name__ == "__main__":
    main()
