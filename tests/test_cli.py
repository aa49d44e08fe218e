"""The viz3d command and model specs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from viz3d import SpecError
from viz3d.cli import main
from viz3d.graph import LayerGraph
from viz3d.spec import parse_overrides, resolve_spec


def test_summary_prints_table_of_builtin_sample(capsys):
    assert main(["summary", "sample:resnet", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "layer2" in out and "Total params: 175,258" in out


def test_trace_writes_graph_json(tmp_path, capsys):
    path = tmp_path / "cnn.json"
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

    png, html = tmp_path / "cnn.png", tmp_path / "cnn.html"
    assert (
        main(["render", "sample:cnn", "-o", str(png), str(html), "--window-size", "480x270"]) == 0
    )
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape == (270, 480, 3)
    assert len(np.unique(image.reshape(-1, 3) // 8, axis=0)) > 50
    assert html.stat().st_size > 100_000 and b"<html" in html.read_bytes()[:2000].lower()


def test_render_refuses_unknown_extension_before_tracing(tmp_path, capsys):
    assert main(["render", "sample:cnn", "-o", str(tmp_path / "x.jpg")]) == 2
    assert "use .png, .html, .gltf or .vtm" in capsys.readouterr().err
    assert not (tmp_path / "x.jpg").exists()


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

    path = tmp_path / "orbit.gif"
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
    assert "need 'digits' or an .npz" in capsys.readouterr().err
