"""Every scene in the one web viewer: textured feature slices and transformer views, in a real
browser; and the transformer views' computation without PyVista."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

VIEWPORT = {"width": 960, "height": 540}
MAGENTA, GREEN = np.array([255, 0, 255]), np.array([0, 255, 0])


def _decode(array: dict) -> np.ndarray:
    dtype = {"u1": np.uint8, "i4": "<i4", "f4": "<f4"}[array["dtype"]]
    return np.frombuffer(base64.b64decode(array["b64"]), dtype=dtype)


def _png(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def _quadrant_picture() -> np.ndarray:
    """16 x 16 RGB: the top-left quarter magenta, the rest green."""
    picture = np.zeros((16, 16, 3), np.uint8)
    picture[:] = GREEN
    picture[:8, :8] = MAGENTA
    return picture


def _open(browser, path):
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("window.viz3d && window.viz3d.frames > 0", timeout=30_000)
    return page, errors


def _canvas(page) -> np.ndarray:
    from PIL import Image

    shot = page.locator("canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


def _where(picture: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """``(row, col)`` of the pixels of exactly ``colour`` (an unlit texture keeps its colours)."""
    return np.argwhere(np.abs(picture - colour).max(axis=-1) <= 6)


# ----------------------------------------------------------------- textures
def test_texture_travels_as_png_with_its_coordinates():
    import pyvista as pv

    from viz3d.render import Scene
    from viz3d.render.web import scene_data
    from viz3d.render.web.meshes import MAX_TEXTURE, texture_uri

    picture = _quadrant_picture()
    scene = Scene()
    scene.add_mesh(pv.Plane(), name="slice", texture=pv.Texture(picture))
    (entry,) = scene_data(scene)["meshes"]
    np.testing.assert_array_equal(_png(entry["texture"])[..., :3], picture)
    assert len(_decode(entry["uv"])) == 2 * len(_decode(entry["points"])) // 3
    # a pyvista Texture and its array give the same PNG; big pictures are scaled down
    assert texture_uri(pv.Texture(picture)) == texture_uri(picture)
    big = _png(texture_uri(np.zeros((3000, 1500, 3), np.uint8)))
    assert big.shape[:2] == (MAX_TEXTURE, MAX_TEXTURE // 2)


def test_bar_values_show_on_hover_and_picking_ids_do_not():
    from viz3d.render.transformer.saliency import draw_saliency
    from viz3d.render.web import scene_data

    scene = draw_saliency(np.array([1.0, 3.0]), ["a", "b"], title="Saliency", subtitle="2 tokens")
    data = scene_data(scene)
    bars = next(m for m in data["meshes"] if m["name"] == "bars")
    assert list(bars["hover"]) == ["value"]  # a cell array, averaged onto each bar's own points
    assert set(np.round(_decode(bars["hover"]["value"]), 6)) == {1.0, 3.0}
    assert data["title"] == "Saliency" and data["texts"] == ["2 tokens"]  # title: own place


@pytest.fixture()
def quadrant_slice_html(tmp_path):
    import viz3d
    from viz3d.layout import compute_layout
    from viz3d.render.features import SliceStack, render_feature_slices

    model = nn.Sequential(nn.Conv2d(1, 2, 1))
    layout = compute_layout(viz3d.trace(model, torch.rand(1, 1, 4, 4)))
    scene = render_feature_slices(layout, [SliceStack("0", [_quadrant_picture()])])
    scene.set_camera((0.0, -30.0, 0.0), (0.0, 0.0, 0.0), (0, 0, 1))  # straight from the front
    return scene.export_html(tmp_path / "slices.html")


def test_feature_slice_shows_its_picture_upright_in_the_viewer(browser, quadrant_slice_html):
    page_text = quadrant_slice_html.read_text(encoding="utf-8")
    assert 'id="viz3d-data"' in page_text and "OfflineLocalView" not in page_text
    page, errors = _open(browser, quadrant_slice_html)
    try:
        deadline = time.monotonic() + 10
        while True:  # the picture decodes asynchronously, then the page draws again
            picture = _canvas(page)
            magenta, green = _where(picture, MAGENTA), _where(picture, GREEN)
            if (len(magenta) > 20 and len(green) > 60) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(magenta) > 20 and len(green) > 2 * len(magenta), (len(magenta), len(green))
        # the magenta quarter is the picture's top left, as in the PNG of the same scene
        top, left = magenta.mean(axis=0)
        assert top < green.mean(axis=0)[0] and left < green.mean(axis=0)[1]
        assert errors == []
    finally:
        page.close()


# ----------------------------------------------------------------- transformer views
def test_attention_view_opens_in_the_viewer_with_labels_and_hover(browser, tmp_path):
    from viz3d.llm import plot_attention
    from viz3d.zoo import build_sample

    scene = plot_attention(build_sample("gpt2"), input_ids=[5, 6, 7, 8], show=False)
    path = scene.export_html(tmp_path / "attention.html")
    text = path.read_text(encoding="utf-8")
    assert 'id="viz3d-data"' in text and "OfflineLocalView" not in text
    page, errors = _open(browser, path)
    try:
        page.wait_for_timeout(300)
        labels = page.evaluate(
            "[...document.querySelectorAll('#labels .label')].filter((e) => !e.hidden)"
            ".map((e) => e.textContent)"
        )
        assert {"#5", "#6", "#7", "#8", "head 0", "head 3"} <= set(labels), labels
        assert page.inner_text("#title") == "Attention: layer 0, all 4 heads"
        assert "keys" in page.inner_text("#status") and "attention weight" in page.inner_text(
            "#legend"
        )
        # hover an arc: plasma colours (red high, blue low or mid) are arcs, nothing else is
        picture = _canvas(page)
        r, g, b = picture[..., 0], picture[..., 1], picture[..., 2]
        arcs = np.argwhere((r > 150) & (g < 110) & (b > 60))
        assert len(arcs) > 30
        box = page.locator("canvas").bounding_box()
        found = None
        for y, x in arcs[:: max(1, len(arcs) // 15)]:
            page.mouse.move(box["x"] + float(x), box["y"] + float(y))
            page.wait_for_timeout(80)
            if page.is_visible("#tooltip") and "weight: " in page.inner_text("#tooltip"):
                found = page.inner_text("#tooltip")
                break
        assert found is not None and found.startswith("arcs-")
        weight = float(found.split("weight: ")[1].split()[0])
        assert 0.02 <= weight <= 1.0
        assert "x: " not in found  # values, not meaningless coordinates
        assert errors == []
    finally:
        page.close()


def test_transformer_computation_never_imports_pyvista():
    code = (
        "import importlib, pkgutil, sys, viz3d.llm\n"
        "for m in pkgutil.iter_modules(viz3d.llm.__path__):\n"
        "    importlib.import_module('viz3d.llm.' + m.name)\n"
        "from viz3d.llm import attention_weights, token_saliency, model_summary\n"
        "loaded = sorted(k for k in sys.modules if k.split('.')[0] in ('pyvista', 'vtk', "
        "'vtkmodules'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
