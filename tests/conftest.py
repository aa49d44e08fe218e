"""Shared test set-up: offscreen rendering and a fixed seed for every test."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
