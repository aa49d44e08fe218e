"""Benchmark: scene build, first 1280x720 frame and orbit frame rate; layout of 50k nodes.

Run: ``python bench/scene.py`` (prints one line per measurement). Targets on a 2-core CPU with
Mesa llvmpipe: GPT-2-medium (meta, op level) build + first frame <= 10 s, orbit >= 3 frames/s;
a 50k-node ladder lays out in seconds.
"""

from __future__ import annotations

import os
import time

import networkx as nx
import numpy as np

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


def _ladder(n: int):
    from viz3d.graph import GraphInfo, LayerGraph

    g = nx.DiGraph()
    for i in range(n):
        g.add_node(
            i,
            kind="module",
            name=f"l{i}",
            type="Linear",
            params=100 + i % 7,
            order=i,
            out_shapes=[[1, 64]],
        )
    g.add_edges_from((i, i + 1) for i in range(n - 1))
    g.add_edges_from((i, i + 3) for i in range(0, n - 3, 3))
    return LayerGraph(g, GraphInfo(model_name=f"ladder{n}"))


def bench_layout(n: int = 50_000) -> None:
    from viz3d.layout import compute_layout

    graph = _ladder(n)
    start = time.perf_counter()
    layout = compute_layout(graph)
    print(
        f"layout {n}-node ladder: {time.perf_counter() - start:.2f} s ({int(layout.edge_skip.sum())} skip arcs)"
    )


def bench_gpt2_medium(frames: int = 36) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    import viz3d
    from viz3d.layout import compute_layout
    from viz3d.render import build_scene

    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config(n_layer=24, n_embd=1024, n_head=16))
    start = time.perf_counter()
    graph = viz3d.trace(model, input_shape=(1, 64))
    print(
        f"trace gpt2-medium (meta): {time.perf_counter() - start:.2f} s, {len(graph)} op-level nodes"
    )

    start = time.perf_counter()
    scene = build_scene(compute_layout(graph))
    built = time.perf_counter() - start
    plotter = scene.plotter(off_screen=True, window_size=(1280, 720), interactive=False)
    plotter.render()
    first = time.perf_counter() - start
    print(
        f"layout + scene build: {built:.2f} s; + first 1280x720 frame: {first:.2f} s "
        f"({len(scene.actors)} actors, {len(scene.node_info)} nodes)"
    )

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
    fps = frames / (time.perf_counter() - start)
    print(f"orbit: {fps:.1f} frames/s over {frames} frames")
    plotter.close()


if __name__ == "__main__":
    bench_layout()
    bench_gpt2_medium()
