"""Benchmark: viz3d loss landscapes vs loss-landscapes (PyPI) vs a naive copy-weights loop.

Same model, data (all 1797 digits samples), loss and grid for every method, in one process.
The methods use different direction conventions; only the time for the same amount of work
matters. ``first``: the method's first call in a fresh process (after importing the libraries,
building the model, loading the data and one warm-up matmul), best of ``--fresh`` processes.
``best``: in this process the methods take turns ``--repeat`` times, so that other load on the
machine hits them alike, and each one's best time counts.

The *algebraic limit* is the time the FLOPs that remain after viz3d's affine first-layer trick
would take at the matrix-multiply throughput measured in the same run (the best of square
``torch.mm`` products timed before and between the turns, same thread count): per point, the
forward FLOPs without the first layer plus ``2 (k+1)`` per first-layer output (combining the
cached products), and once, the ``k+1`` first-layer products. ``limit / time`` is the
fraction printed; 100% is unreachable in practice (activations, the loss and memory traffic
are not matmuls).

Run: python bench/landscape.py [--repeat 5] [--fresh 3] [--steps 25 51] [--models mlp cnn]
[--threads N]
Needs scikit-learn (bundled digits data) and, for the comparison, ``pip install loss-landscapes``.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from viz3d.landscape import loss_landscape
from viz3d.zoo import build_sample, digits

DIMS = 2  # a plane: k = 2 directions


def build(kind: str) -> nn.Sequential:
    torch.manual_seed(0)
    return build_sample("mlp" if kind == "mlp" else "digits-cnn")


def data_for(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    return digits(images=kind == "cnn")


def flops(module: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()


def algebraic_flops(model: nn.Sequential, x: torch.Tensor, points: int) -> int:
    """FLOPs left after the affine first-layer trick, for ``points`` grid points."""
    first = next(m for m in model if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)))
    with torch.no_grad():
        out_elements = first(x).numel()
    first_flops = flops(first, x)
    per_point = flops(model, x) - first_flops + 2 * (DIMS + 1) * out_elements
    return points * per_point + (DIMS + 1) * first_flops


def matmul_flops_per_second(repeat: int = 10) -> float:
    """Best ``torch.mm`` throughput over a few square sizes (output buffer reused)."""
    best = 0.0
    for size in (512, 1024, 2048):
        a, b, out = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
        seconds = best_time(lambda a=a, b=b, out=out: torch.mm(a, b, out=out), repeat + 1)
        best = max(best, 2 * size**3 / seconds)
    return best


def best_time(fn: Callable[[], object], repeat: int) -> float:
    return min(timed(fn) for _ in range(repeat))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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


def first_call(method: str, name: str, steps: int, threads: int, fresh: int) -> float:
    """Best time of the method's first call, each in a fresh Python process."""
    command = [sys.executable, __file__, "--first-call", method, "--models", name]
    command += ["--steps", str(steps), "--threads", str(threads)]
    times = []
    for _ in range(fresh):
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        times.append(float(result.stdout.split()[-1]))
    return min(times)


METHODS = {"viz3d": run_viz3d, "loss-landscapes": run_loss_landscapes, "naive loop": run_naive_loop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes per first call")
    parser.add_argument("--steps", type=int, nargs="+", default=[25])
    parser.add_argument("--models", nargs="+", default=["mlp"], choices=["mlp", "cnn"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-competitor", action="store_true")
    parser.add_argument("--first-call", choices=list(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    loss_fn = nn.CrossEntropyLoss()
    if args.first_call:  # the child process of first_call
        import loss_landscapes.metrics  # noqa: F401 - imports are not part of the call

        model, data = build(args.models[0]), data_for(args.models[0])
        torch.mm(torch.randn(256, 256), torch.randn(256, 256))  # the user has used torch
        call = METHODS[args.first_call]
        print(timed(lambda: call(model, loss_fn, data, args.steps[0])))
        return
    methods = dict(METHODS)
    if args.skip_competitor:
        del methods["loss-landscapes"]
    load_before = os.getloadavg()[0]
    peak = matmul_flops_per_second()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"measured matmul throughput {peak / 1e9:.0f} GFLOP/s (best torch.mm 512-2048)"
    )
    for name in args.models:
        model, data = build(name), data_for(name)
        total = flops(model, data[0])
        print(
            f"\n{name}: {sum(p.numel() for p in model.parameters())} parameters, "
            f"{total / 1e6:.1f} MFLOP per point ({len(data[0])} samples)"
        )
        for steps in args.steps:
            points = steps * steps
            calls = {
                m: (lambda f=f, m=model, d=data, s=steps: f(m, loss_fn, d, s))
                for m, f in methods.items()
            }
            best = {m: timed(call) for m, call in calls.items()}
            for _ in range(args.repeat):  # take turns, so load on the machine hits all alike
                for m, call in calls.items():
                    best[m] = min(best[m], timed(call))
                # the throughput too: under load a low one would flatter the fraction below
                peak = max(peak, matmul_flops_per_second(repeat=3))
            first = {m: first_call(m, name, steps, args.threads, args.fresh) for m in methods}
            ls = run_viz3d(model, loss_fn, data, steps)
            work = algebraic_flops(model, data[0], points)
            limit = work / peak
            print(
                f"  {steps}x{steps} grid ({points} points): viz3d strategy "
                f"{ls.metadata['strategy']!r}, {ls.metadata['batch_points']} points per pass; "
                f"algebraic limit {limit * 1e3:.0f} ms ({work / 1e9:.1f} GFLOP at the best "
                f"matmul throughput of the run, {peak / 1e9:.0f} GFLOP/s)"
            )
            for m in methods:
                print(
                    f"    {m:16s} first {first[m]:7.3f} s  best {best[m]:7.3f} s  "
                    f"viz3d is {first[m] / first['viz3d']:5.2f}x (first) "
                    f"{best[m] / best['viz3d']:5.2f}x (best) faster"
                )
            print(
                f"    viz3d at {limit / best['viz3d']:.0%} of the algebraic limit "
                f"({limit / first['viz3d']:.0%} on its first call)"
            )
    print(f"\nload average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
