"""Benchmark issue 13's scene targets: GPT-2-medium at op level, 50k-node layout, orbit rate.

Run: ``python bench/scene.py`` (one line per measurement, each with its ratio to the target).

* **GPT-2-medium shape on ``meta``, op level** (every op a node, not folded) with its module
  containers and layer labels: trace + layout + scene build + the first 1280x720 frame
  <= 10 s; orbiting that scene >= 5 frames/s.
* **Layout of a 50,000-node graph** (a ladder with a skip arc every 3 layers) <= 5 s.

The default ``enhanced_3d_visualization`` view of the same model (collapsed, blocks folded) is
measured too, for reference (no target). Timings are wall-clock on whatever machine runs it:
say which (the project's numbers come from a 2-core CPU rendering with Mesa llvmpipe).
"""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")

#: Issue 13's targets.
BUILD_AND_FIRST_FRAME_S = 10.0
LAYOUT_50K_S = 5.0
ORBIT_FPS = 5.0
WINDOW = (1280, 720)


def _verdict(value: float, target: float, *, at_most: bool) -> str:
    """``value`` against ``target`` as a ratio (<= 1 is met for times, >= 1 for rates)."""
    ratio = value / target
    met = ratio <= 1 if at_most else ratio >= 1
    sign = "<=" if at_most else ">="
    return f"{ratio:.2f}x of target {sign} {target:g} ({'met' if met else 'MISSED'})"


def bench_layout(n: int = 50_000) -> None:
    from viz3d.layout import compute_layout
    from viz3d.zoo.graphs import chain_graph

    graph = chain_graph(n, skip_every=3, name=f"ladder{n}")
    start = time.perf_counter()
    layout = compute_layout(graph)
    seconds = time.perf_counter() - start
    print(
        f"layout of a {n}-node ladder ({int(layout.edge_skip.sum())} skip arcs): {seconds:.2f} s; "
        + _verdict(seconds, LAYOUT_50K_S, at_most=True)
    )


def _gpt2_medium():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config(n_layer=24, n_embd=1024, n_head=16))


def _first_frame(scene):
    plotter = scene.plotter(off_screen=True, window_size=WINDOW, interactive=False)
    plotter.render()
    return plotter


def _orbit(plotter, frames: int) -> float:
    """Frames per second of a full turn around the scene's focal point."""
    camera = plotter.camera
    focal = np.array(camera.focal_point)
    offset = np.array(camera.position) - focal
    start = time.perf_counter()
    for k in range(frames):
        angle = 2 * np.pi * k / frames
        c, s = np.cos(angle), np.sin(angle)
        camera.position = tuple(
            focal + [c * offset[0] - s * offset[1], s * offset[0] + c * offset[1], offset[2]]
        )
        plotter.renderer.ResetCameraClippingRange()
        # render the window itself: Plotter.render() skips frames it thinks are unchanged
        plotter.render_window.Render()
    return frames / (time.perf_counter() - start)


def _describe(scene, layout) -> str:
    containers = getattr(layout, "containers", None)
    boxes = "no Layout.containers" if containers is None else f"{len(containers)} containers"
    labels = sum(len(p.labels) for p in scene.point_labels)
    return f"{len(layout)} nodes, {boxes}, {labels} labels on screen, {len(scene.actors)} actors"


def bench_gpt2_medium_op_level(frames: int = 36) -> None:
    """Issue 13's scene: the op-level graph with containers and labels, from the model."""
    import viz3d
    from viz3d.layout import compute_layout
    from viz3d.render import build_scene

    model = _gpt2_medium()
    start = time.perf_counter()
    graph = viz3d.trace(model, input_shape=(1, 64))
    traced = time.perf_counter()
    layout = compute_layout(graph)
    laid = time.perf_counter()
    scene = build_scene(layout, labels=True)
    built = time.perf_counter()
    plotter = _first_frame(scene)
    first = time.perf_counter()
    total = first - start
    print(
        f"gpt2-medium (meta) op level ({_describe(scene, layout)}): trace {traced - start:.2f} s"
        f" + layout {laid - traced:.2f} s + scene {built - laid:.2f} s + first "
        f"{WINDOW[0]}x{WINDOW[1]} frame {first - built:.2f} s = {total:.2f} s; "
        + _verdict(total, BUILD_AND_FIRST_FRAME_S, at_most=True)
    )
    fps = _orbit(plotter, frames)
    print(
        f"gpt2-medium op level: orbit {fps:.1f} frames/s over {frames} frames; "
        + _verdict(fps, ORBIT_FPS, at_most=False)
    )
    plotter.close()


def bench_gpt2_medium_default(frames: int = 36) -> None:
    """For reference: the default view (collapsed, repeated blocks folded)."""
    import viz3d

    model = _gpt2_medium()
    start = time.perf_counter()
    scene = viz3d.enhanced_3d_visualization(model, input_shape=(1, 64), show=False)
    plotter = _first_frame(scene)
    first = time.perf_counter() - start
    fps = _orbit(plotter, frames)
    plotter.close()
    print(
        f"gpt2-medium default view ({scene.metadata['nodes']} nodes, {len(scene.actors)} actors,"
        f" no target): up to the first frame {first:.2f} s; orbit {fps:.1f} frames/s"
    )


if __name__ == "__main__":
    bench_layout()
    bench_gpt2_medium_op_level()
    bench_gpt2_medium_default()
