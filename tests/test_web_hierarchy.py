"""Containers and folded blocks opening and closing in the web viewer, in a real browser.

The layout is laid out by hand (:func:`_serpentine`): three serpentine rows, the middle one
running back (-x), a folded ``x4`` block with its members' own facts in that middle row, a
folded ``x3`` block without them, and module containers (shared contract 2) around each
module's nodes in each row, one module spanning two rows. So the tests hold whatever the
automatic layout does today. Debian's chromium is driven by Playwright with SwiftShader.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from test_web_viewer import open_viewer, settle
from torch import nn

import viz3d
from viz3d.layout import Layout, compute_layout
from viz3d.layout.layout import LAYER_GAP
from viz3d.render import build_scene
from viz3d.render.web import scene_data

VIEWPORT = {"width": 1100, "height": 640}
#: Columns per row, spacing of columns and rows, and the margin of a container per level.
PER_ROW, STEP, ROW_GAP, PAD = 12, 2.2, 7.0, 0.15


class Stage(nn.Module):
    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.fc = nn.Linear(a, b)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x))


class Long(nn.Module):
    """Stages of growing width (never folded) around two runs of identical layers (folded)."""

    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Sequential(*[Stage(8 + k, 9 + k) for k in range(8)])
        self.rep = nn.Sequential(*[nn.Linear(16, 16) for _ in range(4)])
        self.post = nn.Sequential(*[Stage(16 + k, 17 + k) for k in range(6)])
        self.twice = nn.Sequential(*[nn.Linear(22, 22) for _ in range(3)])
        self.head = nn.Linear(22, 3)

    def forward(self, x):
        return self.head(self.twice(self.post(self.rep(self.pre(x)))))


def _serpentine(layout: Layout) -> Layout:
    """``layout`` in rows of :data:`PER_ROW` columns, every other row running back, with one
    container per module and row (nested as the modules are)."""
    pos = layout.positions.copy()
    row_of = layout.layers // PER_ROW
    col = layout.layers % PER_ROW
    pos[:, 0] = np.where(row_of % 2 == 0, col, PER_ROW - 1 - col) * STEP
    pos[:, 2] = -row_of * ROW_GAP
    move = pos - layout.positions
    half = layout.sizes / 2
    boxes: list[dict] = []
    where: dict[tuple[str, int], int] = {}
    for i, node in enumerate(layout.nodes):
        parts = str(node["name"]).split(".")
        for depth in range(len(parts) - 1):  # "post.0.fc" lies in "post" and "post.0"
            name = ".".join(parts[: depth + 1])
            if ".." in node["name"] and depth > 0:
                break  # a fold node ("rep.0..3") lies in its Sequential only
            key = (name, int(row_of[i]))
            if key not in where:
                parent = where.get((".".join(parts[:depth]), key[1])) if depth else None
                where[key] = len(boxes)
                boxes.append(
                    {"name": name, "type": "Module", "depth": depth, "nodes": [],
                     "parent": parent, "repeat": 1, "ghost_offset": [0.0, 0.0, 0.0],
                     "collapsed": False, "lo": pos[i] - half[i], "hi": pos[i] + half[i]}
                )  # fmt: skip
            box = boxes[where[key]]
            box["nodes"].append(i)
            box["lo"] = np.minimum(box["lo"], pos[i] - half[i])
            box["hi"] = np.maximum(box["hi"], pos[i] + half[i])
    for box in boxes:
        pad = PAD * (3 - box["depth"])
        box["lo"], box["hi"] = (box["lo"] - pad).tolist(), (box["hi"] + pad).tolist()
        # a module's parameters (all its rows), the FLOPs of this box's nodes
        whole = [i for b in boxes if b["name"] == box["name"] for i in b["nodes"]]
        box["params"] = sum(layout.nodes[i].get("params") or 0 for i in whole)
        box["flops"] = sum(layout.nodes[i].get("flops") or 0 for i in box["nodes"])
    return replace(
        layout,
        positions=pos,
        edge_points=[np.array([pos[u], pos[v]]) for u, v in layout.edge_index],
        neuron_points=layout.neuron_points + move[layout.neuron_owner],
        badges=[{**b, "position": list(b["position"] + move[b["node"]])} for b in layout.badges],
        containers=boxes,
    )  # fmt: skip


@pytest.fixture(scope="module")
def layout() -> Layout:
    torch.manual_seed(0)
    graph = viz3d.trace(Long(), torch.randn(2, 8)).fold_repeats()
    out = _serpentine(compute_layout(graph))
    names = [n["name"] for n in out.nodes]
    # the x3 block without its members' facts: its members show shares of its totals
    twice = out.nodes[names.index("twice.0..2")]
    twice.pop("member_facts", None)
    assert out.nodes[names.index("rep.0..3")]["member_facts"]
    return out


@pytest.fixture(scope="module")
def page(layout, browser, tmp_path_factory):
    path = build_scene(layout).export_html(tmp_path_factory.mktemp("hier") / "long.html")
    page = open_viewer(browser, path, VIEWPORT)
    yield page
    page.close()


def _positions(page, names: list[str]) -> dict[str, np.ndarray]:
    return {n: np.array(page.evaluate(f"viz3d.position({json.dumps(n)})")) for n in names}


def _hover(page, name: str) -> str:
    point = page.evaluate(f"viz3d.project({json.dumps(name)})")
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function(
        "name => { const t = document.getElementById('tooltip');"
        " return !t.hidden && t.firstChild && t.firstChild.textContent === name; }",
        arg=name,
        timeout=5_000,
    )
    text = page.inner_text("#tooltip")
    page.mouse.move(2, VIEWPORT["height"] - 2)
    return text


def test_the_page_gets_the_containers_and_the_members_facts(layout):
    data = scene_data(build_scene(layout))
    boxes = {(c["name"], tuple(c["nodes"])): c for c in data["containers"]}
    names = [n["name"] for n in layout.nodes]
    post = [c for c in data["containers"] if c["name"] == "post"]
    assert len(post) == 2  # one box per row, the totals of the whole module on each
    inside = [i for i, n in enumerate(names) if n.startswith("post.")]
    assert {post[0]["count"], post[1]["count"]} == {len(inside)}
    assert post[0]["flops"] == sum(layout.nodes[i].get("flops") or 0 for i in inside)
    child = next(c for (name, _), c in boxes.items() if name == "post.0")
    assert data["containers"][child["parent"]]["name"] == "post"
    # the PNG's container meshes stay behind: the page draws (and opens) its own
    assert not {m["name"] for m in data["meshes"]} & {"containers", "container-edges"}
    folds = {data["nodes"][f["node"]]["name"]: f["members"] for f in data["folds"]}
    real = layout.nodes[names.index("rep.0..3")]["member_facts"]
    assert [m["name"] for m in folds["rep.0..3"]] == ["rep.0", "rep.1", "rep.2", "rep.3"]
    assert [m["params"] for m in folds["rep.0..3"]] == [f["params"] for f in real]
    assert not any(m.get("share") for m in folds["rep.0..3"])
    assert all(m["share"] for m in folds["twice.0..2"])
    assert "member_facts" not in data["nodes"][names.index("rep.0..3")]  # sent once, not twice


def test_a_fold_in_a_row_running_back_opens_along_that_row(page, layout):
    assert page.evaluate("viz3d.rowDirection('rep.0..3')") == [-1, 0, 0]
    assert page.evaluate("viz3d.rowDirection('pre.0.fc')") == [1, 0, 0]
    names = ["pre.7.act", "post.0.fc", "post.1.act", "post.4.fc", "head"]
    before, count = _positions(page, names), page.evaluate("viz3d.visibleNodeCount()")
    page.evaluate("viz3d.expand('rep.0..3')")
    settle(page)
    assert page.evaluate("viz3d.visibleNodeCount()") == count + 3
    after = _positions(page, names)
    # what follows the block in its row gives way along the row (-x); nothing else moves
    shift = after["post.0.fc"] - before["post.0.fc"]
    width = layout.sizes[[n["name"] for n in layout.nodes].index("rep.0..3"), 0]
    assert np.allclose(shift, [-3 * (width + LAYER_GAP), 0, 0], atol=1e-4)
    assert np.allclose(after["post.1.act"] - before["post.1.act"], shift)
    for name in ("pre.7.act", "post.4.fc", "head"):
        assert np.allclose(after[name], before[name]), name
    members = [page.evaluate(f"viz3d.position('rep.{k}')") for k in range(4)]
    assert np.all(np.diff(np.array(members)[:, 0]) < -1)  # laid out along the row, in order
    text = _hover(page, "rep.2")
    assert "member: 3 of 4" in text and "params: 272\n" in text + "\n" and "share" not in text
    page.evaluate("viz3d.expand('rep.0..3', false)")
    settle(page)
    assert page.evaluate("viz3d.visibleNodeCount()") == count
    restored = _positions(page, names)
    assert all(np.allclose(restored[n], before[n]) for n in names)


def test_fold_members_without_their_own_facts_say_share(page):
    page.evaluate("viz3d.expand('twice.0..2')")
    settle(page)
    text = _hover(page, "twice.1")
    assert "share of twice.0..2" in text
    page.evaluate("viz3d.expand('twice.0..2', false)")
    settle(page)


def test_collapsing_a_module_closes_up_its_row_and_a_click_opens_it(page):
    names = ["pre.7.act", "post.0.fc", "post.1.fc", "post.3.fc", "twice.0..2", "head"]
    before, count = _positions(page, names), page.evaluate("viz3d.visibleNodeCount()")
    # post.0 sits in the row running back: post.1 after it closes up towards +x
    page.evaluate("viz3d.collapse('post.0')")
    settle(page)
    assert page.evaluate("viz3d.visibleNodeCount()") == count - 1  # two nodes, one box
    closed = _positions(page, names)
    assert closed["post.1.fc"][0] - before["post.1.fc"][0] > 0.5
    assert np.allclose(closed["post.1.fc"][1:], before["post.1.fc"][1:])
    for name in ("pre.7.act", "post.3.fc", "head"):
        assert np.allclose(closed[name], before[name]), name
    page.evaluate("viz3d.collapse('post.0', false)")
    settle(page)
    # "post" spans two rows: its tree entry closes both boxes, each row closing up on its own
    page.click(".tree-row:has-text('post') .box-toggle")
    settle(page)
    inside = 12  # six stages of fc + act
    assert page.evaluate("viz3d.visibleNodeCount()") == count - inside + 2
    closed = _positions(page, names)
    assert closed["twice.0..2"][0] < before["twice.0..2"][0] - 2 * STEP  # row 3 runs +x
    assert np.allclose(closed["pre.7.act"], before["pre.7.act"])
    text = _hover(page, "post")
    assert f"nodes: {inside} (collapsed)" in text and "params: " in text
    # a click on the solid box that stands for the module opens it again
    point = page.evaluate("viz3d.project('post')")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function(f"viz3d.visibleNodeCount() === {count}", timeout=5_000)
    settle(page)
    restored = _positions(page, names)
    assert all(np.allclose(restored[n], before[n]) for n in names)


def test_collapsed_modules_are_drawn_as_solid_boxes(page):
    import imageio.v3 as iio

    page.evaluate("viz3d.resetView()")
    settle(page)
    open_ = iio.imread(page.locator("canvas").screenshot())[..., :3].astype(int)
    page.evaluate("viz3d.collapse('pre')")
    settle(page)
    shut = iio.imread(page.locator("canvas").screenshot())[..., :3].astype(int)
    page.evaluate("viz3d.collapse('pre', false)")
    settle(page)
    assert (np.abs(open_ - shut).sum(axis=2) > 40).mean() > 0.01


def test_the_hierarchy_page_logs_no_errors(page):
    assert page.errors == []
