"""Benchmark: seconds per 1280x720 orbit frame, viz3d's writer against a plain PyVista loop.

Run: ``python bench/movie.py [--frames 60] [--size 1280x720] [--repeat 1]``. For the ResNet
sample scene and GPT-2-medium (on ``meta``, the ``enhanced_3d_visualization`` default view) it
times, in the same run and on the same scene:

* ``plain``: ``scene.plotter()`` + ``open_movie`` + ``camera.Azimuth`` + ``write_frame`` (PyVista's
  own movie loop);
* ``orbit``: :func:`viz3d.render.pyvista.movie.orbit_movie` in this process;
* ``orbit x2``: the same with ``workers=2`` (two render processes, one encoder).

All three encode with the same settings, viz3d's (libx264, ``H264_PARAMS``: preset veryfast,
CRF 20, yuv420p), so the ratios measure viz3d's frame loop, not a cheaper encoder; the benchmark
reads the x264 settings back from every file and stops if they differ. Each time covers the
whole call (plotter set-up, every frame, encoder flush). Timings on a shared 2-core machine are
noisy: ``--repeat N`` runs the three N times, interleaved, and keeps each one's best time; the
CPU seconds per frame (all threads and child processes) printed beside the wall-clock time
change much less with the load of other programs.
Target: <= 0.3 s per 720p frame.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


def _scene(name: str):
    import torch

    from viz3d.api import enhanced_3d_visualization
    from viz3d.zoo import build_sample

    torch.manual_seed(0)
    shape = {"resnet": (1, 3, 32, 32), "gpt2-medium": (1, 64)}[name]
    return enhanced_3d_visualization(build_sample(name), input_shape=shape, show=False)


def _plain(scene, path: Path, frames: int, size: tuple[int, int]) -> None:
    from viz3d.render.pyvista.movie import H264_PARAMS

    pl = scene.plotter(off_screen=True, window_size=size)
    # viz3d's encoder settings (imageio's defaults would be libx264 at preset medium)
    pl.open_movie(
        str(path),
        framerate=30,
        quality=None,
        codec="libx264",
        pixelformat="yuv420p",
        macro_block_size=2,
        ffmpeg_log_level="error",
        output_params=list(H264_PARAMS),
    )
    for _ in range(frames):
        pl.camera.Azimuth(360.0 / frames)
        pl.write_frame()
    pl.close()


def _orbit(scene, path: Path, frames: int, size: tuple[int, int], workers: int) -> None:
    from viz3d.render.pyvista.movie import orbit_movie

    orbit_movie(
        scene, path, seconds=frames / 30, fps=30, window_size=size, progress=False, workers=workers
    )


def _timed(run, frames: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds per frame of ``run()``; CPU time counts every thread and the
    finished child processes (ffmpeg, render workers), so it holds up on a busy machine."""
    before, start = os.times(), time.perf_counter()
    run()
    wall, after = time.perf_counter() - start, os.times()
    cpu = sum(after[:4]) - sum(before[:4])  # user, system, children's user and system
    return wall / frames, cpu / frames


def _x264_settings(path: Path) -> str:
    """The encoder settings x264 writes into the stream (``options: ... crf=20.0 ...``)."""
    data = path.read_bytes()
    start = data.find(b"options: ")
    if start < 0:
        raise SystemExit(f"{path} holds no x264 settings: not encoded with libx264")
    return data[start : data.index(b"\0", start)].decode("ascii", "replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--repeat", type=int, default=1, help="keep the best of N runs")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("resnet", "gpt2-medium"):
            scene = _scene(name)
            out = Path(tmp)
            variants = {
                "plain": partial(_plain, scene, out / "plain.mp4", args.frames, size),
                "orbit": partial(_orbit, scene, out / "one.mp4", args.frames, size, 1),
                "orbit x2": partial(_orbit, scene, out / "two.mp4", args.frames, size, 2),
            }
            best = {variant: (float("inf"), float("inf")) for variant in variants}
            for _ in range(max(args.repeat, 1)):
                for variant, run in variants.items():
                    wall, cpu = _timed(run, args.frames)
                    best[variant] = (min(best[variant][0], wall), min(best[variant][1], cpu))
            settings = {_x264_settings(out / f) for f in ("plain.mp4", "one.mp4", "two.mp4")}
            if len(settings) != 1:
                raise SystemExit(f"the runs used different encoder settings: {settings}")
            (plain, plain_cpu), (one, one_cpu), (two, two_cpu) = best.values()
            print(
                f"{name:12s} {size[0]}x{size[1]} x{args.frames}, same encoder, s/frame "
                f"wall (CPU): plain PyVista {plain:.3f} ({plain_cpu:.3f}) | "
                f"orbit {one:.3f} ({one_cpu:.3f}), {plain / one:.2f}x plain "
                f"({plain_cpu / one_cpu:.2f}x in CPU) | orbit workers=2 {two:.3f} ({two_cpu:.3f}), "
                f"{plain / two:.2f}x plain"
            )


if __name__ == "__main__":
    main()
