"""Rendering: pixels of screenshots, merged actors, exports read back, HTML escaping and browser."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

pv = pytest.importorskip("pyvista")

import viz3d
from viz3d.api import enhanced_3d_visualization
from viz3d.errors import RenderError
from viz3d.files import atomic_write
from viz3d.layout import compute_layout
from viz3d.render import Scene, build_scene
from viz3d.render.pyvista.mesh import to_pyvista
from viz3d.render.pyvista.picking import format_node_info, pick_node

SIZE = (480, 270)


class _Block(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = (
            torch.nn.Linear(width, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, width),
        )

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


def _residual_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(16, 32), _Block(32), _Block(32), torch.nn.Linear(32, 4)
    )


@pytest.fixture(scope="module")
def graph():
    torch.manual_seed(0)
    return viz3d.trace(_residual_model(), torch.randn(8, 16))


def _colours(image: np.ndarray) -> int:
    return len(np.unique(image.reshape(-1, image.shape[-1]), axis=0))


def test_screenshot_is_not_blank_and_has_many_colours(graph, tmp_path):
    scene = build_scene(compute_layout(graph))
    image = scene.screenshot(tmp_path / "shot.png", window_size=SIZE)
    assert image.shape == (SIZE[1], SIZE[0], 3)
    background = image[0, -1]
    assert (np.abs(image.astype(int) - background).sum(axis=2) > 30).mean() > 0.03
    assert _colours(image) > 200
    assert (tmp_path / "shot.png").stat().st_size > 1000


def test_activation_magnitude_changes_the_picture():
    torch.manual_seed(0)
    model = _residual_model()
    small = viz3d.trace(model, torch.randn(8, 16) * 0.01)
    large = viz3d.trace(model, torch.randn(8, 16) * 10.0)
    layouts = [compute_layout(g) for g in (small, large)]
    # same clim for both, so colours compare magnitudes rather than each picture's own range
    images = []
    for layout in layouts:
        scene = build_scene(layout, labels=False)
        for spec in scene.actors:
            if spec.name in ("layers", "ops"):
                spec.kwargs["clim"] = (0.0, 5.0)
            if spec.name == "neurons":
                spec.kwargs["clim"] = (-2.0, 2.0)
        images.append(scene.screenshot(window_size=SIZE).astype(int))
    assert np.abs(images[0] - images[1]).mean() > 1.0


def test_layers_are_few_merged_actors_with_node_ids(graph):
    scene = build_scene(compute_layout(graph))
    names = [a.name for a in scene.actors]
    assert names.count("layers") == 1 and len(scene.actors) <= 12
    ids = np.unique(scene.actors[names.index("layers")].mesh.cell_data["node_id"])
    assert (
        len(ids) == sum(1 for n in graph.nodes if graph.nodes[n]["params"] > 0) + 2
    )  # + input, output


def test_collapse_depth_changes_the_nodes_on_screen(graph):
    def drawn(g):
        scene = build_scene(compute_layout(g))
        return len(
            np.unique(
                np.concatenate([a.mesh.cell_data["node_id"] for a in scene.actors if a.pickable])
            )
        )

    assert drawn(graph.collapse(1)) < drawn(graph)


def test_residual_skip_arc_is_drawn_off_the_main_line(graph):
    scene = build_scene(compute_layout(graph))
    skips = next(a for a in scene.actors if a.name == "skips")
    layers = next(a for a in scene.actors if a.name == "layers")
    assert len(skips.mesh.cells("lines")) == 2
    assert skips.mesh.bounds[5] > layers.mesh.bounds[5]


def test_hover_picks_the_layer_under_the_mouse(graph):
    scene = build_scene(compute_layout(graph))
    pl = scene.plotter(off_screen=True, window_size=SIZE)
    try:
        pl.render()
        layers = to_pyvista(next(a for a in scene.actors if a.name == "layers").mesh)
        node = int(layers.cell_data["node_id"][0])
        center = np.asarray(
            layers.extract_cells(np.flatnonzero(layers.cell_data["node_id"] == node)).center
        )
        pl.renderer.SetWorldPoint(*center, 1.0)
        pl.renderer.WorldToDisplay()
        x, y, _ = pl.renderer.GetDisplayPoint()
        assert pick_node(pl, x, y) == node
    finally:
        pl.close()
    text = format_node_info(scene.node_info[node])
    assert "params:" in text and "activation:" in text


def _neuron_rings(scene, pl, inner: float, outer: float) -> np.ndarray:
    """Mask of the pixels between ``inner`` and ``outer`` neuron radii from any neuron centre."""
    spec = next(a for a in scene.actors if a.name == "neurons")
    radius = spec.kwargs["point_size"] / 2
    rows, cols = np.mgrid[: SIZE[1], : SIZE[0]]
    mask = np.zeros(rows.shape, bool)
    for point in spec.mesh.points:
        pl.renderer.SetWorldPoint(*point, 1.0)
        pl.renderer.WorldToDisplay()
        x, y, _ = pl.renderer.GetDisplayPoint()
        d = np.hypot(cols - x, rows - (SIZE[1] - 1 - y)) / radius
        mask |= (d >= inner) & (d < outer)
    return mask


def test_glow_adds_light_around_each_neuron_and_nowhere_else(graph):
    layout = compute_layout(graph)
    images, scenes = {}, {}
    for glow in (False, True):
        scenes[glow] = build_scene(layout, glow=glow, labels=False)
        pl = scenes[glow].plotter(off_screen=True, window_size=SIZE, interactive=False)
        try:
            replacements = pl.actors["neurons"].GetShaderProperty().GetNumberOfShaderReplacements()
            assert replacements == (1 if glow else 0), "the glow shader is on the neuron actor"
            images[glow] = pl.screenshot(return_img=True).astype(float).mean(axis=2)
            ring = _neuron_rings(scenes[glow], pl, 0.5, 1.0)
            far = ~_neuron_rings(scenes[glow], pl, 0.0, 3.0)
        finally:
            pl.close()
    gain = images[True] - images[False]
    assert gain[ring].mean() > 15, "the neurons' outer rings brighten"
    assert (gain[ring] >= -1).mean() > 0.95, "the glow only adds light"
    assert np.abs(gain[far]).mean() < 0.5, "away from the neurons nothing changes"


def test_shader_check_compiles_the_kind_of_actor_it_is_applied_to(tmp_path, monkeypatch):
    from viz3d.render.pyvista import shaders

    # valid GLSL only where VTK passes per-vertex colours to the fragment shader
    (tmp_path / "tint.glsl").write_text(
        "//@@ fragment //VTK::Color::Impl\n  diffuseColor *= vertexColorVSOutput.rgb;\n"
    )
    monkeypatch.setenv("VIZ3D_SHADER_DIR", str(tmp_path))
    pl = pv.Plotter(off_screen=True, window_size=(64, 64))
    try:
        ball = pv.Sphere()
        ball["rgb"] = np.full((ball.n_points, 3), 200, np.uint8)
        coloured = pl.add_mesh(ball, scalars="rgb", rgb=True)
        plain = pl.add_mesh(pv.Sphere(center=(2, 0, 0)), color="white")
        assert shaders.apply_shader(coloured, "tint") is True
        assert shaders.apply_shader(plain, "tint") is False
        assert plain.GetShaderProperty().GetNumberOfShaderReplacements() == 0, "taken off again"
        assert coloured.GetShaderProperty().GetNumberOfShaderReplacements() == 1
        assert pl.screenshot(return_img=True).astype(int).sum() > 0
    finally:
        pl.close()


def test_rejected_shader_falls_back_with_a_note(tmp_path, monkeypatch, caplog):
    from viz3d.render.pyvista import shaders

    (tmp_path / "broken.glsl").write_text("//@@ fragment //VTK::Light::Impl\n  this is not glsl;\n")
    monkeypatch.setenv("VIZ3D_SHADER_DIR", str(tmp_path))
    pl = pv.Plotter(off_screen=True, window_size=(32, 32))
    actor = pl.add_mesh(pv.Sphere())
    with caplog.at_level("INFO", logger="viz3d.render.pyvista.shaders"):
        assert shaders.apply_shader(actor, "broken") is False
    pl.close()
    assert "rejected" in caplog.text


def test_color_modes_give_different_pictures(graph):
    layout = compute_layout(graph)
    by_type = build_scene(layout, color_by="type", labels=False).screenshot(window_size=SIZE)
    by_params = build_scene(layout, color_by="params", labels=False).screenshot(window_size=SIZE)
    assert np.abs(by_type.astype(int) - by_params).mean() > 0.5


def test_gltf_and_vtm_exports_read_back(graph, tmp_path):
    scene = build_scene(compute_layout(graph))
    exported = [a.name for a in scene.actors if a.only != "screen"]
    gltf = pv.read(scene.export_gltf(tmp_path / "model.gltf"))

    def leaves(block) -> int:
        if isinstance(block, pv.MultiBlock):
            return sum(leaves(b) for b in block)
        return int(block is not None and block.n_points > 0)

    assert leaves(gltf) == len(exported)
    vtm = pv.read(scene.export_vtk(tmp_path / "model.vtm"))
    assert vtm.n_blocks == len(exported)
    assert vtm.keys()[0] == "layers"


HOSTILE = "</script><script>alert(1)</script>"


def _hostile_scene() -> Scene:
    class Evil(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x)

    Evil.__name__ = Evil.__qualname__ = HOSTILE
    model = Evil()
    return enhanced_3d_visualization(model, torch.randn(2, 4), show=False)


def test_html_escapes_hostile_class_names(tmp_path):
    scene = _hostile_scene()
    assert HOSTILE in scene.title
    html = scene.export_html(tmp_path / "evil.html").read_text()
    assert "<script>alert(1)" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html


# under CI a missing chromium must fail the test (FileNotFoundError below), not skip it
@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="chromium is not installed",
)
def test_html_renders_in_headless_chromium(graph, tmp_path):
    page = build_scene(compute_layout(graph)).export_html(tmp_path / "scene.html")
    shot = tmp_path / "browser.png"
    cmd = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--use-gl=angle",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=640,400",
        "--virtual-time-budget=8000",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    import imageio.v3 as iio

    image = iio.imread(shot)[..., :3].astype(int)
    background = np.median(image.reshape(-1, 3), axis=0)
    assert (np.abs(image - background).sum(axis=2) > 40).mean() > 0.01
    assert _colours(image) > 50


def test_exports_carry_the_colour_bar_as_a_gradient_mesh_not_2d_bars():
    import torch

    from viz3d.api import enhanced_3d_visualization
    from viz3d.zoo import build_sample

    scene = enhanced_3d_visualization(build_sample("cnn"), torch.randn(1, 1, 16, 16), show=False)
    screen = scene.plotter(off_screen=True, window_size=(200, 100))
    export = scene.plotter(off_screen=True, window_size=(200, 100), target="export")
    try:
        assert len(screen.scalar_bars) >= 1 and len(export.scalar_bars) == 0
    finally:
        screen.close()
        export.close()
    bar = next(a.mesh for a in scene.actors if a.name == "colorbar-3d")
    assert len(np.unique(bar.point_data["value"])) > 10


def _two_block_scene(third: bool = False) -> Scene:
    scene = Scene(title="blocks")
    scene.add_mesh(pv.Cube(), name="cube")
    scene.add_mesh(pv.Sphere(), name="ball")
    if third:
        scene.add_mesh(pv.Cone(), name="cone")
    return scene


def _pair(vtm) -> tuple[list[str], list[str]]:
    """Block names read back and every file of the export folder."""
    folder = vtm.with_suffix("")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return pv.read(vtm).keys(), files


def test_vtk_export_refuses_a_folder_holding_files_it_did_not_write(tmp_path):
    vtm = tmp_path / "results.vtm"
    _two_block_scene().export_vtk(vtm)
    before = _pair(vtm)
    notes = tmp_path / "results" / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(RenderError, match=r"notes\.txt") as err:
        _two_block_scene(third=True).export_vtk(vtm)
    assert "move them" in str(err.value)
    assert notes.read_text() == "my notes"
    assert _pair(vtm) == (before[0], sorted([*before[1], "notes.txt"]))

    fresh = tmp_path / "fresh.vtm"
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "data.csv").write_text("1,2")
    with pytest.raises(RenderError, match=r"data\.csv"):
        _two_block_scene().export_vtk(fresh)
    assert not fresh.exists() and (tmp_path / "fresh" / "data.csv").read_text() == "1,2"


def test_vtk_export_replaces_its_own_blocks_and_nothing_else(tmp_path):
    vtm = tmp_path / "results.vtm"
    _two_block_scene().export_vtk(vtm)
    first = _pair(vtm)[1]
    _two_block_scene(third=True).export_vtk(vtm)
    names, files = _pair(vtm)
    assert names == ["cube", "ball", "cone"]
    assert len(files) == 3 and not set(files) & set(first)
    assert len({f.split("/")[0] for f in files}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "results.vtm"]


def test_vtk_export_replaces_a_pyvista_written_pair(tmp_path):
    old = pv.MultiBlock()
    old.append(pv.Cube(), "old")
    old.save(tmp_path / "results.vtm")  # pyvista's layout: results/results_0.vtp
    assert (tmp_path / "results" / "results_0.vtp").exists()
    _two_block_scene().export_vtk(tmp_path / "results.vtm")
    names, files = _pair(tmp_path / "results.vtm")
    assert names == ["cube", "ball"] and "results_0.vtp" not in files


@pytest.mark.parametrize("stage", ["blocks", "vtm"])
def test_interrupted_vtk_export_keeps_the_old_pair(tmp_path, monkeypatch, stage):
    from viz3d.render.pyvista import export

    vtm = tmp_path / "results.vtm"
    _two_block_scene().export_vtk(vtm)
    before = _pair(vtm)
    if stage == "blocks":  # the writer dies after the first block file

        def save(self, filename, **kwargs):
            folder = Path(filename).with_suffix("")
            folder.mkdir()
            (folder / f"{folder.name}_0.vtp").write_text("<VTKFile half")
            raise OSError("disk full")

        monkeypatch.setattr(pv.MultiBlock, "save", save)
    else:  # the blocks are complete, the new .vtm dies half-written

        def atomic(path, write, suffix):
            def half(tmp):
                write(tmp)
                tmp.write_bytes(tmp.read_bytes()[:50])
                raise OSError("disk full")

            return atomic_write(path, half, suffix=suffix)

        monkeypatch.setattr(export, "_atomic", atomic)
    with pytest.raises(RenderError, match="disk full"):
        _two_block_scene(third=True).export_vtk(vtm)
    assert _pair(vtm) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "results.vtm"]
    monkeypatch.undo()
    _two_block_scene(third=True).export_vtk(vtm)
    assert _pair(vtm)[0] == ["cube", "ball", "cone"]


def test_vtk_export_interrupted_after_the_swap_has_the_new_pair(tmp_path, monkeypatch):
    from viz3d.render.pyvista import export

    vtm = tmp_path / "results.vtm"
    _two_block_scene().export_vtk(vtm)
    monkeypatch.setattr(export, "_remove_old_blocks", lambda *a, **k: None)  # killed here
    _two_block_scene(third=True).export_vtk(vtm)
    names, files = _pair(vtm)
    assert names == ["cube", "ball", "cone"] and len(files) == 5  # the old blocks still there
    monkeypatch.undo()
    _two_block_scene().export_vtk(vtm)  # the leftovers are recognised as ours and cleared
    assert len(_pair(vtm)[1]) == 2
