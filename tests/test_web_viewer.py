"""The three.js web viewer (``scene.export_html``) in a real browser, and inside a notebook.

Debian's chromium is driven by Playwright with SwiftShader WebGL. One page is opened for the
whole module; each test leaves it as it found it. Under CI (``CI`` set) a missing chromium or
Playwright fails these tests instead of skipping them.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import viz3d
from viz3d.render.colors import type_color

VIEWPORT = {"width": 1000, "height": 640}
#: A class name that would run script if it reached the page as markup.
HOSTILE = '</script><img src=x onerror="window.__pwned=1">'


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        return torch.relu(self.fc(x))


Hostile = type(HOSTILE, (nn.Module,), {"forward": lambda self, x: x * 2})


class Net(nn.Module):
    """A stem, four identical blocks (folded into one x4 block), a hostile module, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(8, 16)
        self.blocks = nn.Sequential(*[Block() for _ in range(4)])
        self.odd = Hostile()
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.odd(self.blocks(self.stem(x))))


@pytest.fixture(scope="module")
def scene():
    torch.manual_seed(0)
    scene = viz3d.enhanced_3d_visualization(Net(), input_shape=(2, 8), depth=2, show=False)
    scene.add_overlay("my metric", {"stem": 0.1, "head": 3.0})
    return scene


@pytest.fixture(scope="module")
def viewer(scene, browser, tmp_path_factory):
    """The scene's page, opened once; ``viewer.errors`` collects console and page errors."""
    page = open_viewer(browser, scene.export_html(tmp_path_factory.mktemp("web") / "net.html"))
    yield page
    page.close()


def open_viewer(browser, path: Path, viewport: dict = VIEWPORT):
    """``path`` opened until its first frame; ``.errors`` collects console and page errors."""
    page = browser.new_page(viewport=viewport, bypass_csp=True)  # Playwright evals its waits
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_function("window.viz3d && window.viz3d.frames > 0", timeout=20_000)
    page.errors = errors
    page.path = path
    return page


def settle(page) -> None:
    """Wait until camera flights and expand animations are over and a frame is drawn."""
    page.wait_for_function("!window.viz3d.busy", timeout=10_000)
    page.wait_for_timeout(100)


def _canvas(page) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(page.locator("canvas").screenshot())[..., :3].astype(int)


def _has_colour(image: np.ndarray, rgb, tol: float = 0.03) -> float:
    """Fraction of pixels of the hue of ``rgb`` at any shade: lit faces are ``rgb`` times a
    brightness, so the pixel's colour direction is within ``tol`` (radians) of ``rgb``'s."""
    pixels = image.reshape(-1, 3).astype(float)
    norm = np.linalg.norm(pixels, axis=1)
    want = np.asarray(rgb, dtype=float) / np.linalg.norm(rgb)
    cos = pixels @ want / np.maximum(norm, 1e-9)
    return float(((cos > np.cos(tol)) & (norm > 60)).mean())


def test_page_is_one_offline_file_with_strict_json(viewer):
    text = viewer.path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:|//)", text)
    data = re.search(r'id="viz3d-data">(.*?)</script>', text, re.S).group(1)

    def no_constant(name):
        raise AssertionError(f"non-finite JSON literal {name}")

    names = [n["type"] for n in json.loads(data, parse_constant=no_constant)["nodes"]]
    assert HOSTILE in names  # the class name survives as data ...
    assert HOSTILE not in text  # ... and never appears raw in the page


def test_hover_shows_the_layer_facts(viewer):
    point = viewer.evaluate("viz3d.project('head')")
    viewer.mouse.move(point["x"], point["y"])
    viewer.wait_for_selector("#tooltip:not([hidden])", timeout=5_000)
    text = viewer.inner_text("#tooltip")
    assert text.splitlines()[0] == "head"
    assert "class: Linear" in text and "params: 51" in text and "output: (2, 3)" in text
    viewer.mouse.move(2, VIEWPORT["height"] - 2)


def test_search_moves_camera_and_highlights_the_match(viewer):
    before = viewer.evaluate("viz3d.cameraPosition()")
    viewer.fill("#search", "head")
    viewer.wait_for_function("viz3d.highlighted().length > 0", timeout=5_000)
    settle(viewer)
    assert viewer.evaluate("viz3d.highlighted()") == ["head"]
    after = viewer.evaluate("viz3d.cameraPosition()")
    assert np.linalg.norm(np.subtract(after, before)) > 0.5
    assert viewer.inner_text(".tree-row.match").startswith("head")
    assert "1 match" in viewer.inner_text("#search-count")
    viewer.fill("#search", "")
    viewer.wait_for_function("viz3d.highlighted().length === 0", timeout=5_000)
    viewer.evaluate("viz3d.resetView()")
    settle(viewer)


def test_a_folded_block_shows_its_inside_and_collapses_to_one_box(viewer, scene):
    from viz3d.render.web import scene_data

    # the x4 block shows member 0's inside in a box with ghosts behind it (contract 2)
    assert viewer.evaluate("viz3d.containers()") == ["blocks", "blocks.0"]
    before = viewer.evaluate("viz3d.visibleNodeCount()")
    viewer.evaluate("viz3d.select('blocks.0.fc')")
    viewer.click("#details button:has-text('Collapse blocks.0')")
    settle(viewer)
    assert viewer.evaluate("viz3d.visibleNodeCount()") == before - 1  # fc and relu: one box
    point = viewer.evaluate("viz3d.project('blocks.0')")
    viewer.mouse.move(point["x"], point["y"])
    viewer.wait_for_selector("#tooltip:not([hidden])", timeout=5_000)
    text = viewer.inner_text("#tooltip")
    assert text.splitlines()[0] == "blocks.0" and "repeat: x4" in text
    assert "params: 272 per member" in text and "nodes: 2 (collapsed)" in text
    viewer.mouse.move(2, VIEWPORT["height"] - 2)
    viewer.evaluate("viz3d.collapse('blocks.0', false)")
    settle(viewer)
    assert viewer.evaluate("viz3d.visibleNodeCount()") == before
    # the last ghost, just under its top back edge (above the others): member 4's own facts
    box = next(c for c in scene_data(scene)["containers"] if c["name"] == "blocks.0")
    top = np.add([(box["lo"][0] + box["hi"][0]) / 2, box["hi"][1] - 0.1, box["hi"][2] - 0.1],
                 np.multiply(box["ghost_offset"], 3))  # fmt: skip
    point = viewer.evaluate(f"viz3d.projectPoint({json.dumps(top.tolist())})")
    viewer.mouse.move(point["x"], point["y"])
    viewer.wait_for_selector("#tooltip:not([hidden])", timeout=5_000)
    text = viewer.inner_text("#tooltip")
    assert text.splitlines()[0] == "blocks.3" and "member: 4 of 4" in text
    assert "params: 272\n" in text and "share" not in text
    viewer.mouse.move(2, VIEWPORT["height"] - 2)
    viewer.click("#details-close")


def test_switching_overlays_changes_the_canvas_colours(viewer):
    assert viewer.evaluate("viz3d.overlays()") == [
        "activation",
        "params",
        "flops",
        "type",
        "my metric",
    ]
    viewer.evaluate("viz3d.setOverlay('activation')")
    settle(viewer)
    activation = _canvas(viewer)
    viewer.evaluate("viz3d.setOverlay('type')")
    settle(viewer)
    by_type = _canvas(viewer)
    linear = np.array(type_color("Linear")) * 255
    assert _has_colour(by_type, linear) > 5 * max(_has_colour(activation, linear), 1e-4)
    assert (np.abs(by_type - activation).sum(axis=2) > 30).mean() > 0.005
    assert "Linear" in viewer.inner_text("#legend")
    viewer.evaluate("viz3d.setOverlay('activation')")
    settle(viewer)


def test_a_hostile_class_name_shows_as_text(viewer):
    name = viewer.evaluate("viz3d.select('odd')")  # the Hostile module is called "odd"
    assert name == "odd"
    details = viewer.inner_text("#details")
    assert HOSTILE in details
    assert viewer.evaluate("window.__pwned") is None
    assert viewer.evaluate("document.querySelectorAll('img').length") == 0
    viewer.click("#details-close")


def test_labels_do_not_overlap(viewer):
    boxes = viewer.evaluate(
        "[...document.querySelectorAll('.label:not([hidden])')]"
        ".map(e => { const r = e.getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; })"
    )
    assert len(boxes) >= 4
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_theme_animation_and_screenshot(viewer):
    viewer.evaluate("viz3d.setTheme('light')")
    settle(viewer)
    light = _canvas(viewer)
    assert np.abs(np.median(light.reshape(-1, 3), axis=0) - [244, 245, 247]).max() <= 6
    viewer.evaluate("viz3d.setTheme('dark')")
    url = viewer.evaluate("viz3d.screenshot()")
    assert url.startswith("data:image/png;base64,") and len(url) > 5_000
    viewer.evaluate("viz3d.play(true)")
    viewer.wait_for_timeout(600)
    playing = _canvas(viewer)
    viewer.evaluate("viz3d.play(false)")
    settle(viewer)
    assert (np.abs(playing - _canvas(viewer)).sum(axis=2) > 30).mean() > 0.002


def test_the_page_logs_no_errors(viewer):
    # runs last: every interaction above happened on this page
    assert viewer.errors == []


def test_an_executed_notebook_converted_to_html_keeps_a_working_viewer(browser, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nbconvert = pytest.importorskip("nbconvert")
    setup = (
        "import torch, viz3d\n"
        "model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), "
        "torch.nn.Linear(8, 2))"
    )
    cells = [
        setup,
        # show=True (the default) in a notebook: the viewer, once, though the scene is returned
        "viz3d.enhanced_3d_visualization(model, input_shape=(1, 4))",
        "scene = viz3d.enhanced_3d_visualization(model, input_shape=(1, 4), show=False)\nscene",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.km_kwargs = {
        "kernel_cmd": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    }
    client.execute()
    frames = [
        [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
        for cell in nb.cells
    ]
    assert [len(f) for f in frames] == [0, 1, 1]
    frame_html = frames[1][0]
    assert frames[2][0] == frame_html  # show() and the cell's value draw the same viewer
    assert frame_html.startswith('<div class="viz3d-cell"><iframe class="viz3d-viewer" srcdoc="')
    assert 'id="viz3d-data"' in html.unescape(frame_html)
    warned = [o.get("text", "") for o in nb.cells[1].outputs if o.get("name") == "stderr"]
    assert not any("IFrame" in text for text in warned)  # no "use IPython.display.IFrame"
    # the notebook as a static HTML page (jupyter nbconvert --to html): the viewer still
    # draws the model inside its frame, and hover shows a layer's facts
    body, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    out = tmp_path / "notebook.html"
    out.write_text(body, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 900}, bypass_csp=True)
    errors: list[str] = []
    # the converted page's own scripts (MathJax, require.js) come from a CDN, out of reach
    # here; only what the viewer's frame logs counts
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and m.location.get("url", "").startswith("about:srcdoc")
            else None
        ),
    )
    try:
        page.goto(out.as_uri())
        viewer = page.locator("iframe.viz3d-viewer").first
        viewer.scroll_into_view_if_needed()
        inner = next(f for f in page.frames if f.url == "about:srcdoc")
        inner.wait_for_function("window.viz3d && window.viz3d.frames > 0", timeout=20_000)
        assert inner.evaluate("viz3d.nodeCount") == 5
        canvas = _canvas(page.frame_locator("iframe.viz3d-viewer").first)
        background = np.median(canvas.reshape(-1, 3), axis=0)
        assert (np.abs(canvas - background).sum(axis=2) > 40).mean() > 0.01
        box = viewer.bounding_box()
        point = inner.evaluate("viz3d.project('2')")
        page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
        inner.wait_for_selector("#tooltip:not([hidden])", timeout=5_000)
        text = inner.inner_text("#tooltip")
        assert text.splitlines()[0] == "2" and "class: Linear" in text and "params: 18" in text
        assert errors == []
    finally:
        page.close()


def test_overlay_colours_are_the_python_colour_maps(scene):
    import matplotlib

    from viz3d.render.web import scene_data

    data = scene_data(scene)
    metric = next(o for o in data["overlays"] if o["name"] == "my metric")
    rgb = _decode(metric["rgb"]).reshape(-1, 3)
    names = [n["name"] for n in data["nodes"]]
    magma = matplotlib.colormaps["magma"]
    # 0.1 and 3.0 are the ends of the range: the ends of the map; layers without a value: no data
    assert np.abs(rgb[names.index("stem")] - np.array(magma(0.0)[:3]) * 255).max() <= 1
    assert np.abs(rgb[names.index("head")] - np.array(magma(1.0)[:3]) * 255).max() <= 1
    assert rgb[names.index("odd")].tolist() == [0x8A, 0x8F, 0x98]
    assert metric["values"][names.index("odd")] is None


def test_a_gradient_scene_opens_on_its_gradient_overlay():
    from viz3d.layout import compute_layout
    from viz3d.render.gradients import render_gradient_flow
    from viz3d.render.web import scene_data

    graph = viz3d.trace(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), torch.randn(1, 4))
    layout = compute_layout(graph)
    data = scene_data(render_gradient_flow(layout, {"0": 1e-6, "1": 1.0}))
    assert data["overlay"] == "gradient norm"
    grad = next(o for o in data["overlays"] if o["name"] == "gradient norm")
    assert grad["title"].startswith("log10 gradient norm")


def test_any_scene_exports_the_viewer_which_takes_any_mesh(tmp_path):
    import pyvista as pv

    from viz3d.render import Scene
    from viz3d.render.web import scene_data

    plain = Scene(title="cube")
    plain.add_mesh(pv.Cube(), name="cube", color="red")
    text = plain.export_html(tmp_path / "cube.html").read_text()
    assert "OfflineLocalView" not in text and 'id="viz3d-data"' in text
    (cube,) = scene_data(plain)["meshes"]
    assert cube["name"] == "cube" and cube["color"] == "#ff0000"
    assert len(_decode(cube["triangles"])) == 12 * 3  # six faces, two triangles each


def _decode(array: dict) -> np.ndarray:
    import base64

    dtype = {"u1": np.uint8, "i4": "<i4", "f4": "<f4"}[array["dtype"]]
    return np.frombuffer(base64.b64decode(array["b64"]), dtype=dtype)


def test_a_loss_landscape_opens_in_the_viewer_with_alpha_beta_and_loss(browser, tmp_path):
    from viz3d.landscape.landscape import Landscape
    from viz3d.render.landscape import render_landscape

    axis = np.linspace(-1.0, 1.0, 9)
    losses = 1.0 + np.add.outer(axis**2, 0.5 * axis**2)
    losses[0, 0] = np.nan  # a diverged point is left out, never breaks the page
    land = Landscape(coords=(axis, axis), losses=losses, done=np.ones_like(losses, bool))
    path = render_landscape(land).export_html(tmp_path / "land.html")
    assert 'id="viz3d-data"' in path.read_text(encoding="utf-8")
    page = browser.new_page(viewport=VIEWPORT, bypass_csp=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_function("window.viz3d && window.viz3d.frames > 0", timeout=20_000)
        settle(page)
        box = page.locator("canvas").bounding_box()
        # the landscape's centre (alpha = beta = 0) is its lowest point: hover the middle
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + 5)
        page.wait_for_selector("#tooltip:not([hidden])", timeout=5_000)
        text = page.inner_text("#tooltip")
        assert text.startswith("surface") and "\u03b1: " in text and "\u03b2: " in text
        loss = float(re.search(r"^loss: (\S+)", text, re.M).group(1))
        assert 1.0 <= loss <= 2.5
        assert "loss" in page.inner_text("#legend")
        assert page.is_hidden("#tree") and page.is_hidden("#play")
        assert errors == []
    finally:
        page.close()


def test_a_1d_landscape_keeps_its_curve_colours_and_legend(tmp_path):
    from viz3d.landscape.landscape import Landscape
    from viz3d.render.landscape import render_landscape
    from viz3d.render.web import scene_data

    axis = np.linspace(-1.0, 1.0, 11)
    land = Landscape(coords=(axis,), losses=1.0 + axis**2, done=np.ones(11, bool))
    scene = render_landscape(land)
    data = scene_data(scene)
    curve = next(m for m in data["meshes"] if m["name"] == "curve")
    assert len(_decode(curve["triangles"])) > 0  # a tube of triangle strips
    rgb = _decode(curve["rgb"]).reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 5  # coloured by loss along the curve
    assert data["mesh_legend"]["clim"] == [1.0, 2.0]
    assert 'id="viz3d-data"' in scene.export_html(tmp_path / "curve.html").read_text()


def test_any_scene_with_geometry_shows_the_viewer_inline():
    import pyvista as pv

    from viz3d.render import Scene

    assert Scene(title="nothing yet")._repr_html_() is None  # no geometry: the plain repr
    scene = Scene(title="a surface")
    scene.add_mesh(pv.Plane(), name="surface", color="tomato")
    frame = html.unescape(scene._repr_html_())
    assert 'class="viz3d-viewer"' in frame and 'id="viz3d-data"' in frame and "a surface" in frame
