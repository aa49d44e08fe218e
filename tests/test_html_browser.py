"""The HTML export of a GPT-2 (attention masks full of "minus infinity") opens in a real browser.

Debian's chromium is driven by Playwright: the page must raise no console or page error, load
nothing from the network, and draw the scene on its canvas. Under CI (``CI`` set) a missing
chromium or Playwright fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("pyvista")

import viz3d
from viz3d.cli import main as viz3d_main
from viz3d.render.builder import BACKGROUND
from viz3d.zoo import build_sample

#: Seconds a page gets to draw its scene.
DRAW_TIMEOUT = 15.0
VIEWPORT = {"width": 640, "height": 400}
#: The scene's background colour as 0-255 RGB.
BACKGROUND_RGB = np.array([int(BACKGROUND[i : i + 2], 16) for i in (1, 3, 5)])


@pytest.fixture(scope="module")
def cli_page(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "gpt2.html"
    assert viz3d_main(["render", "sample:gpt2", "-o", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def api_page(tmp_path_factory) -> Path:
    # padding masked out too: more "minus infinity" entries than the causal mask alone
    ids = torch.randint(0, 100, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 8:] = 0
    scene = viz3d.enhanced_3d_visualization(
        build_sample("gpt2"), {"input_ids": ids, "attention_mask": mask}, fold=False, show=False
    )
    return scene.export_html(tmp_path_factory.mktemp("api") / "gpt2.html")


def _no_constant(name: str) -> None:
    raise AssertionError(f"non-finite JSON literal {name}")


def _json_documents(page: str) -> list[str]:
    """The web viewer's scene data (every page is the viewer now)."""
    viewer = re.search(r'id="viz3d-data">(.*?)</script>', page, re.S)
    assert viewer, "not the viz3d viewer page"
    return [viewer.group(1)]


def _open(browser, path: Path) -> tuple[list[str], np.ndarray]:
    """Console/page errors and failed requests while ``path`` loads, and the drawn canvas."""
    import imageio.v3 as iio

    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    try:
        page.goto(path.as_uri())
        canvas = page.locator("canvas").first
        canvas.wait_for(timeout=DRAW_TIMEOUT * 1000)
        deadline = time.monotonic() + DRAW_TIMEOUT
        while True:  # the scene is drawn a moment after the canvas appears
            image = iio.imread(canvas.screenshot())[..., :3].astype(int)
            if _drawn(image) > 0.03 or time.monotonic() > deadline or errors:
                return errors, image
            page.wait_for_timeout(250)
    finally:
        page.close()


def _drawn(image: np.ndarray) -> float:
    """Fraction of pixels that differ from the scene's background colour."""
    return float((np.abs(image - BACKGROUND_RGB).sum(axis=2) > 40).mean())


@pytest.mark.parametrize("which", ["cli_page", "api_page"])
def test_gpt2_page_holds_only_strict_json(which, request):
    text = request.getfixturevalue(which).read_text(encoding="utf-8")
    for document in _json_documents(text):
        json.loads(document, parse_constant=_no_constant)


@pytest.mark.parametrize("which", ["cli_page", "api_page"])
def test_gpt2_page_opens_in_chromium_without_errors(which, request, browser):
    errors, image = _open(browser, request.getfixturevalue(which))
    assert errors == []
    # the page shows the scene's own background (its most common colour) and the model on it
    colours, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    assert np.abs(colours[counts.argmax()] - BACKGROUND_RGB).max() <= 6
    assert _drawn(image) > 0.03
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 100
