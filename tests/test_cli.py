"""The viz3d command and model specs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from viz3d import SpecError
from viz3d.cli import main
from viz3d.graph import LayerGraph
from viz3d.spec import parse_overrides, resolve_spec


def test_summary_prints_table_of_builtin_sample(capsys):
    assert main(["summary", "sample:resnet", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "layer2" in out and "Total params: 175,258" in out


def test_trace_writes_graph_json(tmp_path, capsys):
    path = tmp_path / "new" / "cnn.json"
    assert main(["trace", "sample:cnn", "-o", str(path)]) == 0
    graph = LayerGraph.from_json(path)
    assert graph.info.model_name == "SmallCNN" and len(graph) > 5


def test_file_factory_spec_with_input_shape(tmp_path, capsys):
    source = tmp_path / "mymodel.py"
    source.write_text(
        textwrap.dedent("""
        import torch
        def make():
            return torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Tanh())
    """)
    )
    assert main(["summary", f"{source}:make", "--input-shape", "2,5"]) == 0
    assert "Tanh" in capsys.readouterr().out


def test_hf_arch_with_config_overrides_on_meta(capsys):
    assert (
        main(
            [
                "summary",
                "hf:gpt2",
                "--config",
                "n_layer=3,n_embd=32,n_head=2",
                "--device",
                "meta",
                "--input-shape",
                "1,8",
                "--depth",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "h.0..2 x3" in out and "GPT2Block" in out


def test_hf_directory_spec_loads_locally(tmp_path, capsys):
    from viz3d.zoo import build_sample

    build_sample("bert").save_pretrained(tmp_path / "bert")
    assert main(["summary", str(tmp_path / "bert"), "--input-shape", "1,8", "--depth", "1"]) == 0
    assert "encoder" in capsys.readouterr().out


def test_partial_graph_exits_nonzero_and_says_why(tmp_path, capsys):
    source = tmp_path / "broken.py"
    source.write_text("from tests.trace_models import BrokenMidway as make\n")
    assert main(["summary", f"{source}:make", "--input-shape", "2,4"]) == 1
    assert "PARTIAL GRAPH" in capsys.readouterr().out


def test_bad_spec_is_a_clear_error(capsys):
    assert main(["summary", "sample:nope"]) == 2
    assert "built-in samples: mlp" in capsys.readouterr().err


def test_unknown_spec_form():
    with pytest.raises(SpecError, match="use sample:<name>"):
        resolve_spec("nothing-here")


def test_parse_overrides_reads_python_literals():
    assert parse_overrides("n_layer=2,act=gelu,tie=True") == {
        "n_layer": 2,
        "act": "gelu",
        "tie": True,
    }
    with pytest.raises(SpecError, match="key=value"):
        parse_overrides("n_layer")


def test_console_script_runs_as_module():
    done = subprocess.run(
        [sys.executable, "-m", "viz3d.cli", "samples"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "sample:llama7b" in done.stdout


def test_render_writes_a_real_picture_and_an_html_scene(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    png, html = tmp_path / "new" / "cnn.png", tmp_path / "cnn.html"  # folders are made
    assert (
        main(["render", "sample:cnn", "-o", str(png), str(html), "--window-size", "480x270"]) == 0
    )
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape == (270, 480, 3)
    assert len(np.unique(image.reshape(-1, 3) // 8, axis=0)) > 50
    assert html.stat().st_size > 100_000 and b"<html" in html.read_bytes()[:2000].lower()


def test_gradients_command_prints_norms_and_writes_pictures(tmp_path, capsys):
    chart, scene = tmp_path / "chart.png", tmp_path / "grads.png"
    assert (
        main(
            [
                "gradients",
                "sample:mlp",
                "--chart",
                str(chart),
                "-o",
                str(scene),
                "--window-size",
                "320x180",
                "--target-class",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("0 ") and "rule: relative to" in out
    assert chart.stat().st_size > 5_000 and scene.stat().st_size > 5_000


def test_movie_command_writes_the_asked_frames(tmp_path, capsys):
    import imageio.v3 as iio

    path = tmp_path / "new" / "folder" / "orbit.gif"  # made as for every command
    assert (
        main(
            [
                "movie",
                "sample:mlp",
                "-o",
                str(path),
                "--orbit",
                "--seconds",
                "1",
                "--fps",
                "4",
                "--window-size",
                "96x64",
            ]
        )
        == 0
    )
    frames = iio.imread(path)
    assert frames.shape[:3] == (4, 64, 96)


def test_landscape_command_on_bundled_digits(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    png = tmp_path / "land.png"
    assert (
        main(
            [
                "landscape",
                "sample:mlp",
                "--data",
                "digits",
                "--steps",
                "7",
                "-o",
                str(png),
                "--window-size",
                "320x180",
            ]
        )
        == 0
    )
    assert "CrossEntropyLoss: centre" in capsys.readouterr().out
    image = np.asarray(Image.open(png).convert("RGB"))
    assert len(np.unique(image.reshape(-1, 3) // 8, axis=0)) > 50


def test_landscape_command_refuses_unreadable_data(tmp_path, capsys):
    assert (
        main(
            [
                "landscape",
                "sample:mlp",
                "--data",
                str(tmp_path / "none.npz"),
                "-o",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert "no such file; use 'digits' or an .npz" in capsys.readouterr().err


# ----------------------------------------------------------------- clean errors and exit codes
@pytest.fixture
def spy_spec(tmp_path):
    """A file.py:Factory spec that leaves a marker when built: tests assert it never was."""
    marker = tmp_path / "model-was-built"
    source = tmp_path / "spy.py"
    source.write_text(
        "import pathlib, torch\n"
        "def make():\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "    return torch.nn.Sequential(torch.nn.Linear(64, 10))\n"
    )
    return f"{source}:make", marker


def _refused(argv, capsys, *fragments, code=2):
    """Run ``viz3d argv``: exit ``code``, one ``viz3d: error:`` line holding every fragment."""
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("viz3d: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    return lines[0]


def _colours(path) -> int:
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    return len(np.unique(image.reshape(-1, 3) // 8, axis=0))


#: Every command that writes files: its words before the spec and a file type it writes.
_WRITING = {
    "trace": (["trace"], ".json"),
    "render": (["render"], ".png"),
    "movie": (["movie"], ".gif"),
    "landscape": (["landscape"], ".png"),
    "gradients": (["gradients"], ".png"),
    "llm": (["llm", "attention"], ".png"),
}


@pytest.mark.parametrize("command", _WRITING)
@pytest.mark.parametrize(
    "case", ["parent is a file", "unwritable folder", "unknown extension", "target is a folder"]
)
def test_bad_output_path_is_refused_before_the_model_is_built(
    tmp_path, spy_spec, capsys, command, case
):
    spec, marker = spy_spec
    words, ext = _WRITING[command]
    (tmp_path / "a.png").write_bytes(b"a file, not a folder")
    (tmp_path / f"folder{ext}").mkdir()
    output, message = {
        "parent is a file": (tmp_path / "a.png" / f"x{ext}", "a.png is a file, not a folder"),
        "unwritable folder": (Path("/proc") / f"viz3d-test{ext}", "folder /proc is not writable"),
        "unknown extension": (tmp_path / "x.avi", "x.avi: use ."),
        "target is a folder": (tmp_path / f"folder{ext}", "it is a folder; name a file"),
    }[case]
    before = sorted(tmp_path.rglob("*"))
    extra = ["--ids", "1,2"] if command == "llm" else []
    _refused([*words, spec, "-o", str(output), *extra], capsys, f"cannot write {output}", message)
    assert not marker.exists() and sorted(tmp_path.rglob("*")) == before


def test_chart_and_store_paths_are_checked_before_building(tmp_path, spy_spec, capsys):
    spec, marker = spy_spec
    (tmp_path / "a.png").write_bytes(b"")
    chart = str(tmp_path / "chart.jpg")
    _refused(["gradients", spec, "--chart", chart], capsys, "use .png, .svg or .pdf")
    store = str(tmp_path / "a.png" / "run.npz")
    argv = ["landscape", spec, "-o", str(tmp_path / "l.png"), "--store", store]
    _refused(argv, capsys, "a.png is a file, not a folder")
    assert not marker.exists()


def test_cuda_on_a_cpu_only_torch_is_one_line_before_building(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr("viz3d.spec.build_sample", lambda *a: pytest.fail("model was built"))
    out = tmp_path / "x.png"
    argv = ["render", "sample:resnet", "--device", "cuda", "-o", str(out)]
    _refused(argv, capsys, "cannot use device 'cuda'", "CPU-only build", "use --device cpu")
    assert not out.exists()


def _savez(path, inputs, targets):
    np.savez(path, inputs=inputs, targets=targets)


_INPUTS = np.random.default_rng(0).normal(size=(10, 64)).astype("float32")
_BAD_DATA = {
    "mismatched lengths": (
        lambda p: _savez(p, _INPUTS, np.arange(7)),
        "10 inputs but 7 targets; give one target per input",
    ),
    "target out of range": (
        lambda p: _savez(p, _INPUTS, np.full(10, 99)),
        "must lie in 0..9 (the model gives 10 scores), but they span 99..99",
    ),
    "text file named .npz": (
        lambda p: p.write_text("inputs,targets\n1,2\n"),
        "is not an .npz archive; use 'digits' or an .npz",
    ),
    "object arrays": (
        lambda p: _savez(p, np.array([{"x": 1}] * 10, dtype=object), np.arange(10)),
        "cannot be read safely",
    ),
    "other array names": (
        lambda p: np.savez(p, x=_INPUTS, y=np.arange(10)),
        "holds arrays ['x', 'y'], not 'inputs' and 'targets'",
    ),
    "inputs the model cannot take": (
        lambda p: _savez(p, _INPUTS[:, :5], np.arange(10)),
        "the model cannot run on inputs of shape [10, 5]",
    ),
    "float targets of the wrong shape": (
        lambda p: _savez(p, _INPUTS, np.zeros((10, 3))),
        "do not match the model's outputs [2, 10]",
    ),
}


@pytest.mark.parametrize("case", _BAD_DATA)
def test_landscape_refuses_unusable_data_in_one_line(tmp_path, capsys, case):
    write, message = _BAD_DATA[case]
    data, out = tmp_path / "data.npz", tmp_path / "land.png"
    write(data)
    _refused(["landscape", "sample:mlp", "--data", str(data), "-o", str(out)], capsys, message)
    assert not out.exists()


def test_landscape_reads_numpy_default_float64_data(tmp_path, capsys):
    data, out = tmp_path / "data.npz", tmp_path / "land.png"
    _savez(data, _INPUTS.astype("float64"), np.arange(10) % 10)
    argv = ["landscape", "sample:mlp", "--data", str(data), "--steps", "5", "-o", str(out)]
    assert main([*argv, "--window-size", "320x180"]) == 0
    assert "CrossEntropyLoss: centre" in capsys.readouterr().out and _colours(out) > 50


def test_landscape_of_a_meta_model_is_refused_before_building(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("viz3d.spec.build_sample", lambda *a: pytest.fail("model was built"))
    out = tmp_path / "land.png"
    argv = ["landscape", "sample:gpt2-medium", "-o", str(out)]
    _refused(argv, capsys, "is on the meta device", "pass --device cpu")
    assert not out.exists()


def test_factory_building_on_meta_is_refused_for_gradients(tmp_path, capsys):
    source = tmp_path / "meta.py"
    source.write_text(
        "import torch\ndef make():\n    return torch.nn.Linear(64, 10, device='meta')\n"
    )
    argv = ["gradients", f"{source}:make", "--input-shape", "1,64"]
    _refused(argv, capsys, "is on the meta device (shapes only")


@pytest.mark.parametrize("size", ["0x0", "640x0", "99999x10"])
def test_window_size_must_be_positive_and_sane(tmp_path, capsys, size):
    out = tmp_path / "x.png"
    with pytest.raises(SystemExit) as stop:
        main(["render", "sample:mlp", "-o", str(out), "--window-size", size])
    assert stop.value.code == 2 and not out.exists()
    assert "width and height must be 1 to 16384 pixels" in capsys.readouterr().err


def test_render_of_a_partial_graph_exits_1_and_warns_once(tmp_path, capsys):
    source = tmp_path / "broken.py"
    source.write_text("from tests.trace_models import BrokenMidway as make\n")
    png = tmp_path / "broken.png"
    argv = ["render", f"{source}:make", "--input-shape", "2,4", "-o", str(png)]
    assert main([*argv, "--window-size", "320x180"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("forward failed in module 'second'") == 1, captured.err
    assert captured.out == f"wrote {png}\n" and _colours(png) > 20


def test_strict_trace_failure_exits_1(tmp_path, capsys):
    source = tmp_path / "broken.py"
    source.write_text("from tests.trace_models import BrokenMidway as make\n")
    argv = ["summary", f"{source}:make", "--input-shape", "2,4", "--strict"]
    _refused(argv, capsys, "second", code=1)


@pytest.fixture(scope="module")
def saved_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "mlp.json"
    assert main(["trace", "sample:mlp", "-o", str(path)]) == 0
    return path


def test_saved_graph_renders_like_the_model_it_came_from(saved_graph, tmp_path, capsys):
    from PIL import Image

    pictures = []
    for spec in (str(saved_graph), "sample:mlp"):
        png = tmp_path / f"{len(pictures)}.png"
        assert main(["render", spec, "-o", str(png), "--window-size", "320x180"]) == 0
        pictures.append(np.asarray(Image.open(png).convert("RGB"), dtype=float))
    assert _colours(tmp_path / "0.png") > 50
    assert np.abs(pictures[0] - pictures[1]).mean() < 1.0
    assert main(["summary", str(saved_graph)]) == 0
    assert "Total params: 17,226" in capsys.readouterr().out


def test_saved_graph_refuses_trace_options_and_model_only_commands(saved_graph, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    argv = ["render", str(saved_graph), "--device", "cpu", "-o", out]
    _refused(argv, capsys, "is a saved graph, already traced: drop --device")
    _refused(["landscape", str(saved_graph), "-o", out], capsys, "needs the model itself")
    damaged = tmp_path / "damaged.json"
    data = json.loads(saved_graph.read_text())
    data["edges"][0]["target"] = "nowhere"
    damaged.write_text(json.dumps(data))
    _refused(["render", str(damaged), "-o", out], capsys, "'nowhere', which is not a node")
    assert not Path(out).exists()


def test_llm_without_a_tokenizer_advises_command_line_flags(monkeypatch, tmp_path, capsys):
    out = tmp_path / "attn.png"
    argv = ["llm", "attention", "sample:gpt2", "--text", "hi", "-o", str(out)]
    line = _refused(argv, capsys, "no tokenizer saved beside it", "--ids 10,20,30")
    assert "tokenizer=" not in line and "input_ids=" not in line and not out.exists()
    monkeypatch.setattr("viz3d.spec.build_sample", lambda *a: pytest.fail("model was built"))
    _refused(argv[:3] + ["-o", str(out)], capsys, "needs --text", "or --ids")


def test_llm_token_ids_outside_the_vocabulary_are_refused(tmp_path, capsys):
    out = tmp_path / "attn.png"
    argv = ["llm", "attention", "sample:gpt2", "--ids", "5,5000", "-o", str(out)]
    line = _refused(argv, capsys, "token id 5000 is outside the vocabulary", "ids 0 to 999")
    assert "tokenizer=" not in line and not out.exists()


def test_llm_view_runs_on_token_ids(tmp_path, capsys):
    png = tmp_path / "attn.png"
    argv = ["llm", "attention", "sample:gpt2", "--ids", "5,17,3,9", "-o", str(png)]
    assert main([*argv, "--window-size", "320x180"]) == 0
    assert _colours(png) > 20


def test_llm_builds_hf_architectures_from_config_overrides(capsys):
    argv = ["llm", "summary", "hf:GPT2LMHeadModel", "--config", "n_layer=3,n_embd=32,n_head=2"]
    assert main(argv) == 0
    summary = capsys.readouterr().out
    assert re.search(r"^layers +3$", summary, re.M)
    assert re.search(r"^hidden size +32$", summary, re.M)


# ----------------------------------------------------------------- as a user runs it
def _headless_env() -> dict[str, str]:
    """The environment of a user on a machine without a display (nothing forced)."""
    drop = {"DISPLAY", "WAYLAND_DISPLAY", "PYVISTA_OFF_SCREEN", "VTK_DEFAULT_OPENGL_WINDOW"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _viz3d(*argv: str, start=subprocess.run, **options):
    """Run (or with ``start=subprocess.Popen``, start) the command as a user would."""
    command = [sys.executable, "-m", "viz3d.cli", *argv]
    return start(command, text=True, env=_headless_env(), **options)


def test_headless_render_prints_only_the_file_names(tmp_path):
    png, html = tmp_path / "mlp.png", tmp_path / "mlp.html"
    done = _viz3d(
        "render", "sample:mlp", "-o", str(png), str(html), "--window-size", "320x180",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout == f"wrote {png}\nwrote {html}\n", done.stdout
    assert _colours(png) > 50


def test_headless_window_is_chosen_only_without_a_display(monkeypatch):
    from viz3d.render.pyvista import offscreen

    monkeypatch.setattr(offscreen, "_chosen", {})
    monkeypatch.setattr(offscreen.ctypes.util, "find_library", lambda name: name == "EGL" or None)
    monkeypatch.delenv("VTK_DEFAULT_OPENGL_WINDOW", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert offscreen.choose_headless_window() == "vtkEGLRenderWindow"
    monkeypatch.setenv("DISPLAY", ":0")  # a display appeared: the choice made here is withdrawn
    assert offscreen.choose_headless_window() is None
    assert "VTK_DEFAULT_OPENGL_WINDOW" not in os.environ
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")  # the user's own
    assert offscreen.choose_headless_window() == "vtkOSOpenGLRenderWindow"


def test_show_without_a_display_fails_before_building_and_says_what_to_do(spy_spec):
    spec, marker = spy_spec
    done = _viz3d("show", spec, capture_output=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert (
        "no display (DISPLAY is not set)" in line and f"viz3d render {spec} -o scene.html" in line
    )
    assert not marker.exists()


def test_ctrl_c_during_a_movie_prints_one_line_exits_130_and_leaves_no_file(tmp_path):
    import signal
    import time

    movie = tmp_path / "orbit.mp4"
    argv = [
        "movie",
        "sample:mlp",
        "-o",
        str(movie),
        "--seconds",
        "120",
        "--fps",
        "10",
        "--window-size",
        "96x64",
    ]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    running = _viz3d(*argv, start=subprocess.Popen, start_new_session=True, **pipes)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".orbit.*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".orbit.*")), "the movie never started writing"
    time.sleep(0.5)
    os.killpg(running.pid, signal.SIGINT)  # as Ctrl-C does: the whole foreground group
    out, err = running.communicate(timeout=120)
    lines = [s.strip() for s in err.replace("\r", "\n").splitlines() if s.strip()]
    # what remains besides the progress bar (which tqdm redraws and clears) is one line
    said = [line for line in lines if not line.startswith("writing orbit.mp4")]
    assert running.returncode == 130 and out == ""
    assert said == ["viz3d: interrupted; unfinished files were not written"], err
    assert list(tmp_path.iterdir()) == []
