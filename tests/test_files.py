"""Output files: atomic replacement, permissions from the umask, strict JSON."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest
import torch

import viz3d
from viz3d.files import atomic_write, current_umask, file_mode, finite_json, write_json
from viz3d.gradients.flow import GradientFlow
from viz3d.graph import LayerGraph
from viz3d.landscape.landscape import write_npz
from viz3d.layout import Layout, compute_layout


@pytest.fixture
def umask():
    """Set the process umask for one test (restored afterwards)."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _graph() -> LayerGraph:
    return viz3d.trace(
        torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU()), torch.randn(2, 3)
    )


def _flow() -> GradientFlow:
    return GradientFlow(grad_norms={"a": 1.0, "b": 1e-6}, weight_norms={"a": 1.0, "b": 1.0})


def _writers():
    """Each public writer as ``name -> write(path)``."""
    return {
        "atomic_write": lambda p: atomic_write(p, lambda tmp: tmp.write_text("x")),
        "LayerGraph.to_json": lambda p: _graph().to_json(p),
        "Layout.save": lambda p: Layout.empty().save(p),
        "GradientFlow.plot": lambda p: _flow().plot(p),
        "landscape write_npz": lambda p: write_npz(p, {"a": np.zeros(2)}),
    }


@pytest.mark.parametrize(
    "mask, expected",
    [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)],
    ids=["umask077", "umask022", "umask002"],
)
@pytest.mark.parametrize("writer", sorted(_writers()))
def test_written_files_follow_the_umask(tmp_path, umask, writer, mask, expected):
    umask(mask)
    assert current_umask() == mask and file_mode() == expected
    suffix = {"GradientFlow.plot": ".png", "LayerGraph.to_json": ".json"}.get(writer, ".npz")
    path = tmp_path / f"out{suffix}"
    _writers()[writer](path)
    assert _mode(path) == expected


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("yesterday's result")

    def half_then_fail(tmp):
        tmp.write_text("half of the new con")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "yesterday's result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]


def test_interrupted_layout_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = compute_layout(_graph()).save(tmp_path / "layout.npz")
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        Layout.empty().save(path)
    assert path.read_bytes() == before
    assert len(Layout.load(path)) > 0
    assert [p.name for p in tmp_path.iterdir()] == ["layout.npz"]


def test_interrupted_gradient_plot_keeps_the_old_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = tmp_path / "flow.png"
    _flow().plot(path)
    before = path.read_bytes()
    assert before.startswith(b"\x89PNG")

    def broken_savefig(self, fname, **kwargs):
        with open(fname, "wb") as fh:
            fh.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        _flow().plot(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["flow.png"]


def test_gradient_plot_keeps_the_format_of_the_extension(tmp_path):
    assert _flow().plot(tmp_path / "flow.svg") is not None
    assert (tmp_path / "flow.svg").read_text().lstrip().startswith("<?xml")


def _strict_loads(text: str):
    def reject(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def test_graph_json_is_strict_json_with_null_for_non_finite_numbers(tmp_path):
    data = _graph().to_dict()
    node = next(n for n in data["nodes"] if n.get("stats"))
    node["stats"]["mean"] = float("nan")
    node["stats"]["std"] = float("inf")
    node["stats"]["absmax"] = np.float32("-inf")
    path = LayerGraph.from_dict(data).to_json(tmp_path / "g.json")
    parsed = _strict_loads(path.read_text())
    stats = next(n for n in parsed["nodes"] if n["id"] == node["id"])["stats"]
    assert stats["mean"] is None and stats["std"] is None and stats["absmax"] is None
    back = LayerGraph.from_json(path)
    assert back.total_params == 16
    # a graph read back with null statistics still lays out
    assert len(compute_layout(back)) == len(back)


def test_old_graph_json_with_nan_literals_still_loads(tmp_path):
    data = _graph().to_dict()
    node = next(n for n in data["nodes"] if n.get("stats"))
    node["stats"]["std"] = float("nan")
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data, allow_nan=True))  # what viz3d wrote before
    assert "NaN" in old.read_text()
    back = LayerGraph.from_json(old)
    assert math.isnan(back.nodes[node["id"]]["stats"]["std"])


def test_finite_json_and_write_json(tmp_path):
    assert finite_json((np.float32(1.5), np.int64(3), np.array([np.nan, 2.0]))) == [
        1.5,
        3,
        [None, 2.0],
    ]
    path = write_json(tmp_path / "x.json", {"a": [float("inf")]})
    assert _strict_loads(path.read_text()) == {"a": [None]}
