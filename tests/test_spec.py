"""Model specs: devices, saved graphs and Hugging Face directories from untrusted places."""

from __future__ import annotations

import json

import pytest
import torch

from viz3d import GraphError, SpecError
from viz3d.spec import check_device, load_graph_spec, planned_device, resolve_spec


def test_cuda_on_a_cpu_only_torch_is_refused_with_what_to_pass(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(SpecError, match="CPU-only build; use --device cpu"):
        check_device("cuda")


def test_cuda_build_without_a_visible_gpu_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(SpecError, match="torch finds no cuda device here"):
        check_device("cuda:0")


def test_gpu_index_beyond_the_visible_ones_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(SpecError, match=r"only 1 cuda device\(s\) here"):
        check_device("cuda:3")
    assert check_device("cuda:0") == "cuda:0"


def test_unknown_device_names_the_usable_ones():
    with pytest.raises(SpecError, match="unknown device 'gpu': use cpu, cuda"):
        check_device("gpu")
    assert [check_device(d) for d in ("cpu", "meta", None)] == ["cpu", "meta", None]


def test_resolve_spec_checks_the_device_before_building(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("viz3d.spec.build_sample", lambda *a: pytest.fail("model was built"))
    with pytest.raises(SpecError, match="cannot use device 'cuda'"):
        resolve_spec("sample:resnet", device="cuda")


def test_planned_device_follows_the_sample_unless_given():
    assert planned_device("sample:gpt2-medium") == "meta"
    assert planned_device("sample:gpt2-medium", "cpu") == "cpu"
    assert planned_device("pkg.mod:make") == "cpu"


def test_saved_graph_spec_loads_and_model_commands_refuse_it(tmp_path):
    import viz3d

    path = viz3d.trace(torch.nn.Linear(3, 2), torch.randn(1, 3)).to_json(tmp_path / "g.json")
    assert load_graph_spec(str(path)).total_params == 8
    assert load_graph_spec("sample:mlp") is None
    with pytest.raises(SpecError, match="is a saved graph, and this command needs the model"):
        resolve_spec(str(path))
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(GraphError, match="not a viz3d LayerGraph"):
        load_graph_spec(str(tmp_path / "other.json"))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    from viz3d.zoo import build_sample

    path = tmp_path_factory.mktemp("hf") / "bert"
    build_sample("bert").save_pretrained(path)
    return path


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _rewrite_config(path, change):
    config = json.loads((path / "config.json").read_text())
    change(config)
    (path / "config.json").write_text(json.dumps(config))


def test_hf_directory_loads_its_own_class(bert_dir):
    assert type(resolve_spec(str(bert_dir)).model).__name__ == "BertModel"


@pytest.mark.parametrize("name", ["AutoTokenizer", "pipeline", "PretrainedConfig"])
def test_config_json_may_only_name_a_model_class(bert_dir, tmp_path, name):
    path = _copy(bert_dir, tmp_path / "bert")
    _rewrite_config(path, lambda c: c.update(architectures=[name]))
    with pytest.raises(SpecError, match=f"names '{name}', which is not a Hugging Face model"):
        resolve_spec(str(path))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"architectures": "BertModel"}'])
def test_malformed_config_json_is_a_spec_error_with_the_path(bert_dir, tmp_path, text):
    path = _copy(bert_dir, tmp_path / "bert")
    (path / "config.json").write_text(text)
    with pytest.raises(SpecError, match=str(path / "config.json")):
        resolve_spec(str(path))


def test_weights_come_only_from_safetensors_when_there_are_any(bert_dir, tmp_path):
    model = resolve_spec(str(bert_dir)).model
    pickled = _copy(bert_dir, tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    assert type(resolve_spec(str(pickled)).model).__name__ == "BertModel"  # no safetensors: ok
    # a safetensors file beside the pickle: the pickle must not be read, even as a fallback
    (pickled / "stray.safetensors").write_bytes((bert_dir / "model.safetensors").read_bytes())
    with pytest.raises(SpecError, match="no file named model.safetensors"):
        resolve_spec(str(pickled))


def test_hf_config_that_cannot_build_names_the_overrides_not_the_architecture():
    with pytest.raises(SpecError) as info:
        resolve_spec("hf:GPT2LMHeadModel", config="n_layer=2,n_embd=64")
    message = str(info.value)
    assert "cannot be built from --config n_layer=2,n_embd=64" in message
    assert "divisible" in message and "unknown" not in message


def test_hf_misspelt_architecture_suggests_the_close_names():
    with pytest.raises(
        SpecError, match=r"unknown Hugging Face architecture 'gtp2'.*did you mean gpt2"
    ):
        resolve_spec("hf:gtp2")
