"""Benchmark: the web viewer of a 10k-node graph (HTML size, first frame, hover latency).

Run: ``python bench/web.py [--nodes 10000] [--hovers 20]`` (prints one line per measurement).
Debian's chromium is driven by Playwright with SwiftShader (software WebGL), as in the tests;
``--gpu`` drops the SwiftShader flags to use hardware WebGL where a GPU is present.
Targets (issue 14): HTML <= 8 MB, first frame <= 3 s, hover response <= 100 ms.

* HTML size: the one self-contained file (three.js + page + data).
* first frame: from ``page.goto`` to the first drawn frame (parse, decode, build, render),
  and the page's own ``performance.now()`` at that frame (since navigation start).
* hover: a real mouse move over a node's projected centre until the tooltip names the node
  (Playwright round trips included), and the pick alone measured inside the page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
from tqdm import tqdm

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")

TYPES = ("Linear", "ReLU", "LayerNorm", "Conv2d", "GELU", "Dropout")


def graph(n: int):
    """A traced-looking graph of ``n`` modules in blocks of 8, with a skip arc per block."""
    from viz3d.graph import GraphInfo, LayerGraph

    rng = np.random.default_rng(0)
    g = nx.DiGraph()
    for i in range(n):
        kind = TYPES[i % len(TYPES)]
        mean, std = float(rng.normal()), float(rng.uniform(0.1, 2))
        g.add_node(
            i,
            kind="module",
            name=f"blocks.{i // 8}.{kind.lower()}{i % 8}",
            module=f"blocks.{i // 8}.{kind.lower()}{i % 8}",
            type=kind,
            params=int(rng.integers(0, 5000)) if kind in ("Linear", "Conv2d") else 0,
            flops=int(rng.integers(1000, 10**6)),
            order=i,
            in_shapes=[[1, 64]],
            out_shapes=[[1, 64]],
            stats={"mean": mean, "std": std, "absmax": abs(mean) + 3 * std, "neuron_count": 64},
        )
    g.add_edges_from((i, i + 1) for i in range(n - 1))
    g.add_edges_from((i, i + 8) for i in range(0, n - 8, 8))
    return LayerGraph(g, GraphInfo(model_name=f"synthetic-{n}", total_params=n * 1000))


def model_graph(spec: str, depth: int | None, fold: bool):
    """A real model's graph, as ``viz3d render SPEC`` would draw it."""
    from viz3d import trace
    from viz3d.api import choose_view
    from viz3d.spec import resolve_spec

    resolved = resolve_spec(spec)
    traced = trace(resolved.model, input_shape=resolved.input_shape, device=resolved.device)
    return choose_view(traced, depth=depth, fold=fold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--spec", help="a model instead, e.g. sample:llama7b (meta)")
    parser.add_argument("--depth", type=int, help="with --spec: collapse to this depth")
    parser.add_argument("--no-fold", action="store_true", help="with --spec: keep every block")
    parser.add_argument("--hovers", type=int, default=20)
    parser.add_argument("--gpu", action="store_true", help="hardware WebGL (no SwiftShader)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from viz3d.layout import compute_layout
    from viz3d.render import build_scene
    from viz3d.render.web import write_viewer

    t0 = time.perf_counter()
    source = (
        model_graph(args.spec, args.depth, not args.no_fold) if args.spec else graph(args.nodes)
    )
    layout = compute_layout(source)
    t1 = time.perf_counter()
    scene = build_scene(layout, labels=False)
    t2 = time.perf_counter()
    path = write_viewer(scene, Path(tempfile.mkdtemp()) / "big.html")
    t3 = time.perf_counter()
    size = path.stat().st_size
    print(f"{args.spec or 'synthetic'}: {len(layout)} nodes, {len(layout.neuron_points)} neurons")
    print(
        f"trace + layout {t1 - t0:.2f} s, build_scene {t2 - t1:.2f} s, write_viewer {t3 - t2:.2f} s"
    )
    print(f"HTML size: {size / 1e6:.2f} MB (target <= 8 MB)")

    flags = [] if args.gpu else ["--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), args=[*flags, "--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 720}, bypass_csp=True)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        start = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_function("window.viz3d && window.viz3d.frames > 0", timeout=120_000)
        wall = time.perf_counter() - start
        inside = page.evaluate("viz3d.firstFrameMs") / 1000
        renderer = page.evaluate(
            "(() => { const gl = document.createElement('canvas').getContext('webgl2');"
            " const d = gl && gl.getExtension('WEBGL_debug_renderer_info');"
            " return d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : 'unknown'; })()"
        )
        print(f"WebGL renderer: {renderer}")
        print(f"first frame: {wall:.2f} s from goto, {inside:.2f} s page time (target <= 3 s)")

        rng = np.random.default_rng(1)
        picks, moves, events = [], [], []
        for k in tqdm(rng.integers(0, len(layout), args.hovers), desc="hovers"):
            name = layout.nodes[k]["name"]
            page.evaluate(f"viz3d.flyTo({int(k)})")
            page.wait_for_function("!window.viz3d.busy", timeout=10_000)
            pt = page.evaluate(f"viz3d.project({int(k)})")
            picks.append(
                page.evaluate(
                    f"(() => {{ const t = performance.now(); viz3d.pick({pt['x']}, {pt['y']});"
                    " return performance.now() - t; })()"
                )
            )
            page.mouse.move(pt["x"] - 5, pt["y"] - 5)
            page.wait_for_timeout(50)
            t = time.perf_counter()
            page.mouse.move(pt["x"], pt["y"])
            page.wait_for_function(
                "name => { const t = document.getElementById('tooltip');"
                " return !t.hidden && t.firstChild && t.firstChild.textContent === name; }",
                arg=name,
                polling=5,  # not "raf": the tooltip is shown before the next frame is drawn
                timeout=10_000,
            )
            moves.append((time.perf_counter() - t) * 1000)
            events.append(page.evaluate("viz3d.hoverLatency"))
        print(
            f"hover: input event to tooltip (in page) median {np.median(events):.1f} ms, "
            f"max {np.max(events):.1f} ms (target <= 100 ms); pick alone median "
            f"{np.median(picks):.1f} ms; Playwright mouse move to tooltip seen median "
            f"{np.median(moves):.0f} ms (includes waiting for frames in flight)"
        )
        page.evaluate("viz3d.resetView()")
        page.wait_for_function("!window.viz3d.busy", timeout=10_000)
        frames = page.evaluate("viz3d.frames")
        start = time.perf_counter()
        for k in range(5):
            page.evaluate(f"viz3d.setOverlay(viz3d.overlays()[{k % 2}])")
            page.wait_for_function(f"viz3d.frames >= {frames + k + 1}", polling=5)
        print(f"full redraw (overlay switch): {(time.perf_counter() - start) / 5 * 1000:.0f} ms")
        print(f"console errors: {len(errors)}")
        browser.close()


if __name__ == "__main__":
    main()
