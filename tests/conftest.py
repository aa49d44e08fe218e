"""Shared test set-up: offscreen rendering, a fixed seed for every test, a real browser."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _missing(what: str) -> None:
    # CI must run the browser tests: there a missing browser is a failure, not a skip
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing, and CI must run the browser tests: install it")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright, with SwiftShader WebGL (one per test module)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        _missing("Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright (pip install playwright)")
    with sync_playwright() as p:
        args = ["--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]
        launched = p.chromium.launch(executable_path=chromium, args=args)
        try:
            yield launched
        finally:
            launched.close()
