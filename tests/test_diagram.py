"""Flat Graphviz diagrams (viz3d.diagram): DOT text, SVG/PDF files, the CLI outputs.

The golden DOT file is regenerated with ``VIZ3D_UPDATE_GOLDEN=1 pytest tests/test_diagram.py``
(after checking the new picture: ``dot -Tpng tests/golden/tiny_residual.dot``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch import nn

import viz3d
from viz3d.diagram import MAX_DIAGRAM_NODES, diagram_view, render_dot, to_dot, write_diagram
from viz3d.errors import GraphError, RenderError
from viz3d.graph import GraphInfo, LayerGraph, split_call_key
from viz3d.zoo import SAMPLES, build_sample

GOLDEN = Path(__file__).parent / "golden" / "tiny_residual.dot"
SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
HOSTILE = [
    'a"];evil[label="x',
    "</text><script>alert(1)</script>",
    "back\\N\\slash & <b>",
    "amp&amp;ent&#92;",
    "trailing\\",
]

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.fc(x))


class TinyResidual(nn.Module):
    """The golden fixture: nesting three deep, one residual skip, one op between modules."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.block = Residual()
        self.head = nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.block(self.embed(x))))


@pytest.fixture(scope="module")
def resnet() -> LayerGraph:
    return viz3d.trace(build_sample("resnet"), input_shape=SAMPLES["resnet"].input_shape)


@pytest.fixture(scope="module")
def hostile() -> LayerGraph:
    model = nn.Sequential()
    for name in HOSTILE[:-1]:
        model.add_module(name, nn.Linear(3, 3))
    model.add_module(HOSTILE[-1], nn.Sequential(nn.Linear(3, 2)))
    return viz3d.trace(model, torch.randn(1, 3))


def _parse(dot: str) -> tuple[dict[str, list[str]], dict[str, str], list[tuple[str, str, str]]]:
    """Our DOT's structure: node id -> enclosing cluster tooltips (qualnames, outermost first),
    cluster tooltip -> parent cluster tooltip, and edges (source, target, attributes)."""
    stack: list[str | None] = []
    parents: dict[str, str] = {}
    nodes: dict[str, list[str]] = {}
    edges = []
    for line in dot.splitlines():
        text = line.strip()
        if text.startswith('subgraph "cluster_'):
            stack.append(None)
        elif text.startswith("graph [") and stack and stack[-1] is None:
            stack[-1] = re.search(r'tooltip="((?:[^"\\]|\\.)*)"', text).group(1)
            outer = [s for s in stack[:-1] if s]
            parents[stack[-1]] = outer[-1] if outer else ""
        elif text == "}" and stack:
            stack.pop()
        elif match := re.match(r'"(n\d+)" -> "(n\d+)"(?: \[(.*)\])?;$', text):
            edges.append((match.group(1), match.group(2), match.group(3) or ""))
        elif match := re.match(r'"(n\d+)" \[', text):
            nodes[match.group(1)] = list(stack)
    return nodes, parents, edges


def _svg(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


# ------------------------------------------------------------------ DOT text
@needs_dot
@pytest.mark.parametrize("color_by", ["activation", "params", "flops", "type"])
def test_dot_is_accepted_by_graphviz(resnet, color_by):
    dot = resnet.to_dot(color_by=color_by, rankdir="TB")
    svg = ET.fromstring(render_dot(dot, "svg"))
    drawn = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    assert len(drawn) == len(resnet.fold_repeats())


def test_cluster_nesting_equals_module_hierarchy(resnet):
    clusters = {}
    for depth in (None, 2):
        view, _ = diagram_view(resnet, depth=depth, fold=False)
        nodes, parents, _ = _parse(to_dot(resnet, depth=depth, fold=False))
        assert len(nodes) == len(view)
        for i, node in enumerate(view.nodes):
            scope = [split_call_key(k)[0] for k in view.nodes[node]["scope"]]
            assert nodes[f"n{i}"] == [q for q in scope if q], view.nodes[node]["name"]
        for child, parent in parents.items():
            assert child.rpartition(".")[0] == parent  # each cluster sits in its parent module
        clusters[depth] = set(parents)
    assert {"layer2", "layer2.0", "layer2.0.shortcut"} <= clusters[None]
    assert clusters[2] == {"stem", "layer1", "layer2", "layer3"}


def test_resnet_skip_edges_are_drawn_as_skips(resnet):
    view, _ = diagram_view(resnet, fold=False)
    _, _, edges = _parse(to_dot(resnet, fold=False))
    names = {f"n{i}": view.nodes[n]["name"] for i, n in enumerate(view.nodes)}
    skips = [(names[u], names[v]) for u, v, attrs in edges if 'class="skip"' in attrs]
    assert all("constraint=false" in a and "dashed" in a for *_, a in edges if "skip" in a)
    # one skip per basic block, into its add: identity from the block input, or the shortcut
    assert sorted(v for _, v in skips) == ["add"] * 6
    assert sum(u.endswith("shortcut.1") for u, _ in skips) == 2
    assert len(edges) - len(skips) == len(view.edges) - 6


def test_golden_dot_of_a_small_model():
    torch.manual_seed(0)
    graph = viz3d.trace(TinyResidual(), torch.randn(2, 3))
    dot = graph.to_dot(color_by="params")
    if os.environ.get("VIZ3D_UPDATE_GOLDEN"):
        GOLDEN.write_text(dot)
    assert dot == GOLDEN.read_text()
    assert dot == graph.to_dot(color_by="params")  # deterministic


def test_type_colours_are_the_scene_palette_slots(resnet):
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from viz3d.render import colors

    dot = resnet.to_dot(color_by="type", fold=False)
    fills: dict[str, set[str]] = {}
    for cls, fill in re.findall(r"</B><BR/>(\w+)<BR/>.*?fillcolor=\"(#\w+)\"", dot):
        if cls != "Output":
            fills.setdefault(cls, set()).add(fill)
    assert {"Conv2d", "BatchNorm2d", "ReLU", "Linear"} <= set(fills)
    assert all(len(f) == 1 for f in fills.values())  # one colour per class
    tab10 = [to_hex(colormaps["tab10"](i)) for i in range(10)]
    scene = [tuple(float(c) for c in rgb) for rgb in colors._PALETTE]
    for cls, (fill,) in fills.items():
        assert tab10.index(fill) == scene.index(colors.type_color(cls)), cls


def test_scalar_colours_come_from_the_traced_values():
    def fills(dot: str) -> list[str]:
        return re.findall(r"fillcolor=\"(#\w+)\"", dot)

    model = build_sample("mlp")
    x = torch.randn(4, 64)
    by_params = viz3d.trace(model, x).to_dot(color_by="params")
    assert "log10 params" in by_params and "activation RMS" not in by_params
    first = viz3d.trace(model, x).to_dot()
    with torch.no_grad():
        model[0].weight.mul_(50)
    second = viz3d.trace(model, x).to_dot()
    assert "activation RMS" in first
    assert fills(first) != fills(second)
    assert fills(by_params) == fills(viz3d.trace(model, x).to_dot(color_by="params"))


def test_bad_options_raise_viz3d_errors(resnet, tmp_path):
    with pytest.raises(GraphError, match="rankdir"):
        resnet.to_dot(rankdir="sideways")
    with pytest.raises(GraphError, match="color_by"):
        resnet.to_dot(color_by="mood")
    with pytest.raises(RenderError, match=r"\.svg, \.pdf"):
        write_diagram(resnet, tmp_path / "model.jpg")
    assert not list(tmp_path.iterdir())


def test_partial_graph_marks_the_failed_module():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))  # the second cannot take 4 features
    graph = viz3d.trace(model, torch.randn(2, 3))
    assert graph.partial
    dot = graph.to_dot()
    failed = [line for line in dot.splitlines() if 'color="#e53e3e"' in line]
    assert len(failed) == 1 and "<B>1</B>" in failed[0]
    assert "partial graph: " in dot and "with input shapes [2, 4]" in dot


# ------------------------------------------------------------------ escaping
@needs_dot
def test_svg_shows_hostile_names_as_text(hostile, tmp_path):
    svg = _svg(hostile.to_svg(tmp_path / "hostile.svg"))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    titles = [a.get(XLINK_TITLE) or "" for a in svg.iter(f"{SVG}a")]
    for name in HOSTILE[:-1]:
        assert name in texts
        assert any(t.startswith(f"{name} (Linear)") for t in titles)
    assert HOSTILE[-1] in " ".join(t for t in texts if t)  # the cluster label
    assert not [e for e in svg.iter() if e.tag.endswith("script")]
    assert sum(g.get("class") == "node" for g in svg.iter(f"{SVG}g")) == len(hostile)


def test_hostile_names_stay_inside_their_strings(hostile):
    dot = hostile.to_dot()
    nodes, _, edges = _parse(dot)
    assert len(nodes) == len(hostile) and len(edges) == len(hostile.edges)
    outside_quotes = re.sub(r'"(?:[^"\\]|\\.)*"', '""', dot)
    for raw in ('"];evil[', "<script>", "</text>"):
        assert raw not in outside_quotes
    assert "back\\\\N\\\\slash" in outside_quotes  # Graphviz would expand a lone \N
    assert "a&quot;];evil[label=&quot;x" in outside_quotes
    assert "&lt;/text&gt;&lt;script&gt;" in outside_quotes


# ------------------------------------------------------------------ files and errors
@needs_dot
def test_pdf_and_png_are_written(resnet, tmp_path):
    assert resnet.to_pdf(tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert write_diagram(resnet, tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_dot_says_how_to_install_it(resnet, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        resnet.to_svg(tmp_path / "r.svg")
    assert not (tmp_path / "r.svg").exists()
    assert write_diagram(resnet, tmp_path / "r.dot").read_text().startswith("digraph")


def _wide_graph(blocks: int, width: int) -> LayerGraph:
    """``blocks`` containers of ``width`` distinct leaves each, chained (built without torch)."""
    g = nx.DiGraph()
    g.add_node("in", kind="input", name="input", type="Input")
    modules = {"": {"type": "Wide", "params": 0, "calls": 1}}
    prev, order = "in", 1
    for b in range(blocks):
        modules[f"b{b}"] = {"type": "Block", "params": 0, "calls": 1, "signature": str(b)}
        for leaf in range(width):
            name = f"b{b}.l{leaf}"
            modules[name] = {"type": "Linear", "params": 1, "calls": 1, "signature": name}
            g.add_node(
                name, kind="module", name=name, type="Linear", module=name, params=1, order=order
            )
            g.nodes[name]["scope"] = ["#0", f"b{b}#0"]
            g.add_edge(prev, name)
            prev, order = name, order + 1
    g.add_node("out", kind="output", name="output", type="Output", order=order)
    g.add_edge(prev, "out")
    return LayerGraph(g, GraphInfo(model_name="Wide", modules=modules))


def test_large_graph_is_collapsed_and_says_so(caplog):
    graph = _wide_graph(blocks=70, width=30)
    assert len(graph) > MAX_DIAGRAM_NODES
    with caplog.at_level(logging.WARNING, logger="viz3d.diagram"):
        dot = graph.to_dot()
    nodes, parents, _ = _parse(dot)
    assert len(nodes) == 72 and not parents  # input, 70 blocks, output
    assert "collapsed to module depth 1 to stay readable" in dot
    assert "module depth 1" in caplog.text
    assert len(_parse(graph.to_dot(depth=2))[0]) == len(graph)  # an explicit depth is obeyed


# ------------------------------------------------------------------ command line
@needs_dot
def test_cli_writes_diagrams_without_a_scene(tmp_path, monkeypatch, capsys):
    from viz3d import cli

    def no_scene(*args, **kwargs):
        raise AssertionError("a 3D scene was built for a flat diagram")

    monkeypatch.setattr(cli, "_scene", no_scene)
    dot, svg = tmp_path / "mlp.dot", tmp_path / "mlp.svg"
    assert cli.main(["render", "sample:mlp", "--color-by", "type", "-o", str(dot), str(svg)]) == 0
    graph = viz3d.trace(build_sample("mlp"), input_shape=SAMPLES["mlp"].input_shape)
    assert dot.read_text() == graph.to_dot(color_by="type")
    assert len(_parse(dot.read_text())[2]) == len(graph.edges)
    assert _svg(svg).tag == f"{SVG}svg"
    assert cli.main(["render", "sample:mlp", "-o", str(tmp_path / "mlp.jpg")]) == 2
    err = capsys.readouterr().err
    assert "mlp.jpg" in err and all(ext in err for ext in (".svg", ".pdf", ".dot"))


def test_diagram_module_loads_neither_torch_nor_pyvista():
    code = (
        "import sys, viz3d.diagram; "
        "print(sorted(m for m in ('torch', 'pyvista', 'vtk') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
