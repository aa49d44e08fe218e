"""Benchmark: scene build, first 1280x720 frame and orbit frame rate; layout of 50k nodes.

Run: ``python bench/scene.py`` (prints one line per measurement). GPT-2-medium (on meta) is
measured as two scenes, each line says which: the unfolded op-level graph (every op a node) and
the default ``enhanced_3d_visualization`` view (collapsed, repeated blocks folded). Targets on a
2-core CPU with Mesa llvmpipe: build + first frame <= 10 s, orbit >= 3 frames/s; a 50k-node
ladder lays out in seconds.
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
    seconds = time.perf_counter() - start
    print(f"layout {n}-node ladder: {seconds:.2f} s ({int(layout.edge_skip.sum())} skip arcs)")


def _gpt2_medium():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config(n_layer=24, n_embd=1024, n_head=16))


def _first_frame_and_orbit(label: str, scene, started: float, frames: int) -> None:
    """Time the first 1280x720 frame (from ``started``) and the orbit frame rate of ``scene``."""
    plotter = scene.plotter(off_screen=True, window_size=(1280, 720), interactive=False)
    plotter.render()
    first = time.perf_counter() - started
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
    print(
        f"{label}: up to the first 1280x720 frame {first:.2f} s; orbit {fps:.1f} frames/s over "
        f"{frames} frames ({len(scene.actors)} actors, {len(scene.node_info)} nodes in the scene)"
    )
    plotter.close()


def bench_gpt2_medium(frames: int = 36) -> None:
    """Two scenes of the same model: the unfolded op-level graph, and the default view."""
    import viz3d
    from viz3d.layout import compute_layout
    from viz3d.render import build_scene

    model = _gpt2_medium()
    start = time.perf_counter()
    graph = viz3d.trace(model, input_shape=(1, 64))
    print(
        f"trace gpt2-medium (meta): {time.perf_counter() - start:.2f} s, {len(graph)} op-level "
        "nodes"
    )
    start = time.perf_counter()
    scene = build_scene(compute_layout(graph))
    print(f"op-level scene, not folded: layout + scene build {time.perf_counter() - start:.2f} s")
    _first_frame_and_orbit("op-level scene, not folded", scene, start, frames)

    start = time.perf_counter()
    scene = viz3d.enhanced_3d_visualization(model, input_shape=(1, 64), show=False)
    print(
        "default view (enhanced_3d_visualization: collapsed, blocks folded, as in bench/movie.py):"
        f" trace + layout + scene build {time.perf_counter() - start:.2f} s"
    )
    _first_frame_and_orbit("default view", scene, start, frames)


if __name__ == "__main__":
    bench_layout()
    bench_gpt2_medium()
