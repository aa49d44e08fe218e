"""Benchmark: seconds per 1280x720 orbit frame, viz3d's writer against a plain PyVista loop.

Run: ``python bench/movie.py [--frames 60] [--size 1280x720]``. For the ResNet sample scene and
GPT-2-medium (on ``meta``, the ``enhanced_3d_visualization`` default view) it times, in the same
run and on the same scene:

* ``plain``: ``scene.plotter()`` + ``open_movie`` + ``camera.Azimuth`` + ``write_frame`` (PyVista's
  own movie loop, imageio defaults);
* ``orbit``: :func:`viz3d.render.movie.orbit_movie` in this process;
* ``orbit x2``: the same with ``workers=2`` (two render processes, one encoder).

Each time covers the whole call (plotter set-up, every frame, encoder flush). Timings on a
shared 2-core machine are noisy: run it twice before trusting a difference. Target: <= 0.3 s per
720p frame.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


def _scene(name: str):
    import torch

    from viz3d.api import enhanced_3d_visualization
    from viz3d.zoo import build_sample

    torch.manual_seed(0)
    shape = {"resnet": (1, 3, 32, 32), "gpt2-medium": (1, 64)}[name]
    return enhanced_3d_visualization(build_sample(name), input_shape=shape, show=False)


def _plain(scene, path: Path, frames: int, size: tuple[int, int]) -> float:
    start = time.perf_counter()
    pl = scene.plotter(off_screen=True, window_size=size)
    pl.open_movie(str(path), framerate=30)
    for _ in range(frames):
        pl.camera.Azimuth(360.0 / frames)
        pl.write_frame()
    pl.close()
    return (time.perf_counter() - start) / frames


def _orbit(scene, path: Path, frames: int, size: tuple[int, int], workers: int) -> float:
    from viz3d.render.movie import orbit_movie

    start = time.perf_counter()
    orbit_movie(
        scene, path, seconds=frames / 30, fps=30, window_size=size, progress=False, workers=workers
    )
    return (time.perf_counter() - start) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("resnet", "gpt2-medium"):
            scene = _scene(name)
            plain = _plain(scene, Path(tmp) / "plain.mp4", args.frames, size)
            one = _orbit(scene, Path(tmp) / "one.mp4", args.frames, size, 1)
            two = _orbit(scene, Path(tmp) / "two.mp4", args.frames, size, 2)
            print(
                f"{name:12s} {size[0]}x{size[1]} x{args.frames}: plain PyVista {plain:.3f} s/frame | "
                f"orbit {one:.3f} s/frame ({plain / one:.2f}x plain) | orbit workers=2 {two:.3f} s/frame "
                f"({plain / two:.2f}x plain, {one / two:.2f}x one process)"
            )


if __name__ == "__main__":
    main()
