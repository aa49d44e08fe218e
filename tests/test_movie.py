"""Movies: orbit, fly-through and forward-pass pulse, and the atomic MP4/GIF writer.

Renders are tiny (160x120, a few frames) and every check decodes the written file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from viz3d.api import enhanced_3d_visualization
from viz3d.errors import RenderError
from viz3d.render.pyvista import movie, shaders
from viz3d.render.pyvista.camera_paths import flythrough_cameras, forward_path
from viz3d.render.pyvista.movie import (
    MovieWriter,
    flythrough_movie,
    forward_pass_movie,
    movie_from_args,
    orbit_movie,
    write_movie,
)
from viz3d.render.pyvista.pulse import Pulse

SIZE = (160, 120)


@pytest.fixture(scope="module")
def scene():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 4),
    )
    return enhanced_3d_visualization(model, input_shape=(2, 8), show=False)


def frames_of(path: Path) -> np.ndarray:
    return np.stack([np.asarray(f)[..., :3] for f in iio.imiter(path)]).astype(np.int16)


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_orbit_has_the_asked_frame_count_and_size(scene, tmp_path, ext):
    out = orbit_movie(
        scene, tmp_path / f"orbit{ext}", seconds=1, fps=8, window_size=SIZE, progress=False
    )
    frames = frames_of(out)
    assert frames.shape == (8, SIZE[1], SIZE[0], 3)
    assert leftovers(tmp_path) == []


def test_orbit_frames_change_and_the_loop_is_seamless(scene, tmp_path):
    frames = frames_of(
        orbit_movie(scene, tmp_path / "o.mp4", seconds=1, fps=12, window_size=SIZE, progress=False)
    )
    steps = [mean_diff(frames[k], frames[k + 1]) for k in range(len(frames) - 1)]
    assert min(steps) > 0.1, "consecutive frames should differ: the camera moves every frame"
    wrap = mean_diff(frames[-1], frames[0])
    # the last frame is one step before the first: the jump back is an ordinary step, not a
    # repeat, like the steps next to it (the distance follows the model's width from each side)
    assert 0.1 < wrap < 1.25 * max(steps[0], steps[-1])


def test_odd_size_is_rounded_to_even_for_h264(scene, tmp_path, caplog):
    out = orbit_movie(
        scene, tmp_path / "odd.mp4", seconds=0.5, fps=6, window_size=(161, 121), progress=False
    )
    assert frames_of(out).shape[1:3] == (120, 160)
    assert "even frame size" in caplog.text


def test_flythrough_moves_forward_and_names_layers(scene, tmp_path):
    cams, names = flythrough_cameras(scene, 12)
    xs = [c.position[0] for c in cams]
    assert np.all(np.diff(xs) > 0), "the camera travels from input to output"
    path = forward_path(scene)
    assert names[0] == path.names[0] and names[-1] == path.names[-1]
    frames = frames_of(
        flythrough_movie(
            scene, tmp_path / "fly.mp4", seconds=1, fps=6, window_size=SIZE, progress=False
        )
    )
    assert frames.shape[0] == 6
    assert min(mean_diff(frames[k], frames[k + 1]) for k in range(5)) > 0.1


def _screen_points(scene, points: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) of world points in a frame of the scene camera's view."""
    pl = scene.plotter(off_screen=True, window_size=SIZE, interactive=False)
    try:
        pl.ren_win.Render()
        out = []
        for p in points:
            pl.renderer.SetWorldPoint(*p, 1.0)
            pl.renderer.WorldToDisplay()
            x, y, _ = pl.renderer.GetDisplayPoint()
            out.append((SIZE[1] - 1 - round(y), round(x)))
        return out
    finally:
        pl.close()


@pytest.fixture
def pulse_modes(monkeypatch) -> list[str]:
    """The path (``Pulse.mode``) of every pulse the test builds."""
    modes: list[str] = []
    init = Pulse.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        modes.append(self.mode)

    monkeypatch.setattr(Pulse, "__init__", recording_init)
    return modes


@pytest.fixture
def driver_rejects_shaders(monkeypatch):
    """A GL driver that compiles none of viz3d's effects."""
    monkeypatch.setattr(shaders, "_ACCEPTED", {})
    monkeypatch.setattr(shaders, "_compiles", lambda actor: False)


@pytest.mark.parametrize("pulse", ["shader", "cpu", "auto-on-a-driver-without-shaders"])
def test_forward_pass_lights_layers_in_execution_order(
    scene, tmp_path, pulse, pulse_modes, request
):
    if pulse.startswith("auto"):
        request.getfixturevalue("driver_rejects_shaders")
    out = forward_pass_movie(
        scene,
        tmp_path / "fp.mp4",
        seconds=2,
        fps=12,
        window_size=SIZE,
        pulse="auto" if pulse.startswith("auto") else pulse,
        show_layer=False,
        progress=False,
    )
    assert pulse_modes == ["cpu" if pulse.startswith("auto") else pulse], "the path that ran"
    frames = frames_of(out)
    path = forward_path(scene)
    layers = [
        j
        for j, n in enumerate(path.nodes)
        if scene.node_info[int(n)]["kind"] not in ("input", "output")
    ]
    peaks = []
    for row, col in _screen_points(scene, path.centers[layers]):
        brightness = frames[:, row - 1 : row + 2, col - 1 : col + 2].mean(axis=(1, 2, 3))
        assert brightness.max() - brightness.min() > 20, "each layer lights up at some point"
        peaks.append(int(np.argmax(brightness)))
    assert len(peaks) >= 4
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1], (
        f"peak frames {peaks} follow execution order"
    )


def _pulse_frames(scene, mode: str, times) -> tuple[Pulse, np.ndarray]:
    pl = scene.plotter(off_screen=True, window_size=SIZE, interactive=False)
    try:
        pulse = Pulse(scene, pl, mode=mode)
        shots = []
        for t in times:
            pulse.set_time(t)
            pl.render()
            shots.append(pl.screenshot(return_img=True)[..., :3])
        return pulse, np.stack(shots).astype(np.int16)
    finally:
        pl.close()


def test_shader_and_cpu_pulse_look_the_same(scene):
    times = [0.0, 0.3, 0.5, 0.7, 1.0]
    shader, on_gpu = _pulse_frames(scene, "shader", times)
    cpu, on_cpu = _pulse_frames(scene, "cpu", times)
    assert shader.mode == "shader" and cpu.mode == "cpu"
    # the shader path leaves the colours alone; the CPU path rewrites them
    assert all(np.array_equal(item.colors, item.base) for item in shader._actors)
    assert not all(np.array_equal(item.colors, item.base) for item in cpu._actors)
    steps = [mean_diff(on_gpu[k], on_gpu[k + 1]) for k in range(len(times) - 1)]
    assert min(steps) > 0.5, "the shader animates: every time looks different"
    for k in range(len(times)):
        assert mean_diff(on_gpu[k], on_cpu[k]) < 2.0, f"time {times[k]}"


def test_rejected_pulse_shader_falls_back_to_the_cpu(scene, driver_rejects_shaders, caplog):
    times = [0.0, 0.5, 1.0]
    with caplog.at_level("INFO", logger="viz3d.render"):
        pulse, frames = _pulse_frames(scene, None, times)
    assert pulse.mode == "cpu"
    assert "rejected" in caplog.text and "cpu path" in caplog.text
    assert all(
        item.actor.GetShaderProperty().GetNumberOfShaderReplacements() == 0
        for item in pulse._actors
    ), "no shader left on the pulse actors"
    assert mean_diff(frames[0], frames[1]) > 0.5 and mean_diff(frames[1], frames[2]) > 0.5
    _, reference = _pulse_frames(scene, "cpu", times)
    assert mean_diff(frames, reference) < 0.5, "the fallback is the CPU path"


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_failed_render_leaves_no_file_and_keeps_the_old_one(scene, tmp_path, monkeypatch, ext):
    grab = movie._grab_frame
    calls = {"n": 0}

    def failing_grab(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("GPU fell off the bus")
        return grab(*args)

    monkeypatch.setattr(movie, "_grab_frame", failing_grab)
    fresh = tmp_path / f"new{ext}"
    with pytest.raises(RuntimeError, match="fell off"):
        orbit_movie(scene, fresh, seconds=1, fps=8, window_size=SIZE, progress=False)
    assert not fresh.exists()

    old = tmp_path / f"old{ext}"
    old.write_bytes(b"a good movie from yesterday")
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="fell off"):
        orbit_movie(scene, old, seconds=1, fps=8, window_size=SIZE, progress=False)
    assert old.read_bytes() == b"a good movie from yesterday"
    assert leftovers(tmp_path) == []


def test_unsupported_extension_and_bad_lengths_raise_early(scene, tmp_path):
    with pytest.raises(RenderError, match="unsupported extension '.avi'"):
        orbit_movie(scene, tmp_path / "x.avi", seconds=1, fps=8, window_size=SIZE)
    with pytest.raises(RenderError, match="at least 2"):
        orbit_movie(scene, tmp_path / "x.mp4", seconds=0.01, fps=8, window_size=SIZE)
    with pytest.raises(RenderError, match="unknown movie kind"):
        movie_from_args(scene, tmp_path / "x.mp4", "spin")
    assert list(tmp_path.iterdir()) == []


def test_writer_is_reusable_for_any_frames(tmp_path):
    ramp = [np.full((48, 64, 3), 20 * k, dtype=np.uint8) for k in range(6)]
    out = write_movie(ramp, tmp_path / "ramp.mp4", fps=6, progress=False)
    decoded = frames_of(out)
    assert decoded.shape == (6, 48, 64, 3)
    assert np.allclose(decoded.mean(axis=(1, 2, 3)), [20 * k for k in range(6)], atol=3)
    with pytest.raises(RenderError, match="even width and height"):
        MovieWriter(tmp_path / "odd.mp4", 6, (63, 48))
    with MovieWriter(tmp_path / "bad.gif", 6, (64, 48), progress=False) as writer:
        with pytest.raises(RenderError, match=r"expected \(48, 64, 3\) uint8"):
            writer.append(np.zeros((10, 10, 3), dtype=np.uint8))
        writer.append(ramp[0])
    assert (tmp_path / "bad.gif").exists() and leftovers(tmp_path) == []


def test_two_workers_write_the_same_movie(scene, tmp_path):
    one = frames_of(
        orbit_movie(scene, tmp_path / "one.mp4", seconds=1, fps=6, window_size=SIZE, progress=False)
    )
    two = frames_of(
        orbit_movie(
            scene,
            tmp_path / "two.mp4",
            seconds=1,
            fps=6,
            window_size=SIZE,
            progress=False,
            workers=2,
        )
    )
    assert one.shape == two.shape
    assert mean_diff(one, two) < 1.0
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mask, expected", [(0o077, 0o600), (0o022, 0o644)])
def test_movie_permissions_follow_the_umask(scene, tmp_path, mask, expected):
    saved = os.umask(mask)
    try:
        out = orbit_movie(
            scene, tmp_path / "o.gif", seconds=0.5, fps=4, window_size=(64, 48), progress=False
        )
    finally:
        os.umask(saved)
    assert stat.S_IMODE(out.stat().st_mode) == expected


def test_orbit_starts_on_the_still_and_keeps_its_framing(scene):
    import copy

    from viz3d.render.pyvista.camera_paths import orbit_cameras

    cams = orbit_cameras(scene, 12)
    assert cams[0].position == scene.camera.position
    assert cams[0].focal_point == scene.camera.focal_point
    # every frame looks at the still's focal point from the still's height angle
    offsets = np.array([c.position for c in cams]) - np.array(scene.camera.focal_point)
    heights = offsets[:, 2] / np.linalg.norm(offsets, axis=1)
    assert np.allclose(heights, heights[0]) and len({tuple(o) for o in offsets.round(6)}) == 12
    shot = copy.copy(scene)
    shot.camera = cams[0]
    wide = (256, 144)  # the still's 16:9 shape
    assert np.array_equal(shot.screenshot(window_size=wide), scene.screenshot(window_size=wide))
