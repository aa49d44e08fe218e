"""viz3d.compare on cases whose answer is known (issue 15): fine-tuning, LoRA, pruning,
quantisation, an inserted block, a renamed module, a model against itself, safetensors."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

import viz3d
from viz3d.compare import ModelDiff, tensor_diff
from viz3d.zoo import digits


def digits_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 16),
        nn.ReLU(), nn.Linear(16, 10),
    )  # fmt: skip


def tiny_gpt2(n_layer: int = 2) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_layer=n_layer, n_embd=64, n_head=2, vocab_size=128, n_positions=32, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def gpt2() -> nn.Module:
    torch.manual_seed(0)
    return tiny_gpt2()


def compare(a, b, **kwargs) -> ModelDiff:
    return viz3d.compare(a, b, progress=False, **kwargs)


def test_finetuning_the_last_two_layers_on_digits_changes_exactly_those_two():
    x, y = digits()
    base = digits_mlp()
    tuned = copy.deepcopy(base)
    for p in tuned[:4].parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in tuned.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(tuned(x[:512]), y[:512]).backward()
        optimizer.step()
    diff = compare(base, tuned, inputs=x[:64])
    assert diff.changed == ["4", "6"]
    assert diff.unchanged == ["0", "2"]
    assert not diff.added and not diff.removed and not diff.shape_changed
    assert diff["4"].relative_change > 0.01 and diff["0"].relative_change == 0
    # the untouched layers compute the same thing; the retrained ones do not
    assert diff["2"].cka == pytest.approx(1.0, abs=1e-9) and diff["6"].cka < 0.999
    assert diff.output["kind"] == "relative_error" and diff.output["value"] > 0


def test_a_merged_rank_4_update_reads_as_rank_4_in_each_attention_projection(gpt2):
    merged = copy.deepcopy(gpt2)
    projections = [f"transformer.h.{i}.attn.{p}" for i in range(2) for p in ("c_attn", "c_proj")]
    with torch.no_grad():
        for name in projections:
            weight = merged.get_submodule(name).weight
            down, up = torch.randn(weight.shape[0], 4), torch.randn(4, weight.shape[1])
            weight += 0.01 * down @ up
    diff = compare(gpt2, merged)
    assert sorted(diff.changed) == sorted(projections)
    for name in projections:
        weight = diff[name].weights["weight"]
        assert weight.rank == 4
        assert weight.energy(4) == pytest.approx(1.0, abs=1e-6) and weight.energy(3) < 0.99
        assert not weight.quantized
    assert diff["transformer.h.0.mlp.c_fc"].status == "unchanged"


def test_a_full_rank_update_is_reported_as_high_rank():
    w = torch.randn(128, 96)
    assert tensor_diff(w, w + 0.01 * torch.randn_like(w)).rank is None
    assert tensor_diff(w, w + 0.01 * torch.randn(128, 2) @ torch.randn(2, 96)).rank == 2


def test_half_magnitude_pruning_leaves_about_half_the_weights_zero():
    model = digits_mlp()
    pruned = copy.deepcopy(model)
    with torch.no_grad():
        for layer in pruned[::2]:
            threshold = layer.weight.abs().flatten().median()
            layer.weight.mul_(layer.weight.abs() > threshold)
    diff = compare(model, pruned)
    for name in ("0", "2", "4", "6"):
        assert diff[name].zero_fraction == pytest.approx(0.5, abs=0.02)
        assert diff[name].weights["weight"].zero_fraction_a == 0
        assert not diff[name].quantized
    assert diff["0"].weights["bias"].changed is False


@pytest.mark.parametrize("per_channel", [False, True])
def test_an_int8_round_trip_is_flagged_as_quantisation(per_channel):
    model = digits_mlp()
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for layer in rounded[::2]:
            w = layer.weight
            absmax = w.abs().amax(dim=1, keepdim=True) if per_channel else w.abs().max()
            scale = absmax / 127
            w.copy_(torch.clamp(torch.round(w / scale), -127, 127) * scale)  # int8 round trip
    diff = compare(model, rounded)
    scheme = "per-channel" if per_channel else "per-tensor"
    for name in ("0", "2", "4", "6"):
        weight = diff[name].weights["weight"]
        assert weight.quantized and weight.quant_bits == 8 and weight.quant_scheme == scheme
        assert weight.relative_change < 0.01
    assert "8b" in diff.summary()


def test_noise_of_the_same_size_is_not_called_quantisation():
    w = torch.randn(32, 64)
    step = float(w.abs().max() / 127)
    assert not tensor_diff(w, w + (torch.rand_like(w) - 0.5) * step).quantized


def test_a_block_inserted_into_gpt2_is_one_added_module_and_the_rest_pair_unchanged(gpt2):
    longer = copy.deepcopy(gpt2)
    blocks = longer.transformer.h
    inserted = copy.deepcopy(blocks[0])
    for p in inserted.parameters():
        nn.init.normal_(p, std=0.02)
    longer.transformer.h = nn.ModuleList([blocks[0], inserted, blocks[1]])
    longer.config.n_layer = 3
    diff = compare(gpt2, longer, input_shape=(2, 8))
    assert diff.added == ["transformer.h.1"]
    assert not diff.removed and not diff.changed and not diff.shape_changed
    assert diff.pairs["transformer.h.1"] == "transformer.h.2"
    assert diff.pairs["transformer.h.1.attn.c_attn"] == "transformer.h.2.attn.c_attn"
    assert all(diff[n].relative_change == 0 for n in diff.unchanged)
    assert diff["transformer.h.0"].cka == pytest.approx(1.0, abs=1e-9)
    assert diff.output["kind"] == "kl" and diff.output["value"] > 0


def test_a_model_against_itself_changes_nothing_and_has_cka_1(gpt2):
    diff = compare(gpt2, gpt2, input_shape=(2, 8))
    assert not (diff.changed or diff.added or diff.removed or diff.shape_changed or diff.renamed)
    assert len(diff.unchanged) == 16
    ckas = [m.cka for m in diff.modules if m.cka is not None]
    assert len(ckas) > 20 and min(ckas) == pytest.approx(1.0, abs=1e-9)
    assert diff.output == {"kind": "kl", "value": pytest.approx(0.0, abs=1e-12)}


class _Named(nn.Module):
    def __init__(self, head: str) -> None:
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.add_module(head, nn.Linear(8, 3))
        self.head_name = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.head_name)(torch.relu(self.body(x)))


def test_a_renamed_module_is_still_paired():
    a = _Named("head")
    b = _Named("classifier")
    b.load_state_dict({k.replace("head", "classifier"): v for k, v in a.state_dict().items()})
    diff = compare(a, b, input_shape=(4, 8))
    assert diff.renamed == {"head": "classifier"}
    assert diff["classifier"].status == "unchanged" and diff["classifier"].cka == pytest.approx(1)
    assert not diff.added and not diff.removed
    assert "head -> classifier" in diff.summary()


def test_a_layer_replaced_by_another_class_is_removed_and_added():
    a = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    b = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 2))
    b.load_state_dict(a.state_dict())
    diff = compare(a, b)
    assert diff.added == ["1"] and diff.removed == ["1"]
    assert diff.unchanged == ["0", "2"]
    assert [m.status for m in diff.modules][1:] == ["unchanged", "removed", "added", "unchanged"]


def test_a_widened_layer_is_shape_changed():
    a = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    b = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    diff = compare(a, b)
    assert diff.shape_changed == ["0", "2"] and not diff.added
    assert diff["0"].weights == {}


def test_models_on_meta_give_the_structural_diff_only():
    with torch.device("meta"):
        a = tiny_gpt2(2)
        b = tiny_gpt2(3)
    diff = compare(a, b, input_shape=(1, 8))
    assert not diff.weights_compared and not diff.activations_compared
    assert len(diff.added) == 1 and diff.added[0].startswith("transformer.h.")
    assert all(m.relative_change is None for m in diff.modules)
    assert any("structural diff only" in n for n in diff.notes)


def test_json_round_trip_keeps_every_number_and_holds_only_finite_ones(gpt2, tmp_path):
    merged = copy.deepcopy(gpt2)
    with torch.no_grad():
        merged.transformer.h[1].mlp.c_fc.weight.add_(0.01)
        merged.transformer.ln_f.weight.zero_()  # cosine and relative change stay finite
    diff = compare(gpt2, merged, input_shape=(2, 8))
    path = tmp_path / "diff.json"
    text = diff.to_json(path)
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)
    again = ModelDiff.from_json(path)
    assert again.summary() == diff.summary()
    assert again.to_dict() == diff.to_dict()
    assert ModelDiff.from_json(text).changed == diff.changed
    assert again.graph_b.total_params == gpt2.num_parameters()


def test_reading_garbage_as_a_diff_says_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(viz3d.GraphError, match="not a viz3d ModelDiff"):
        ModelDiff.from_json(bad)
    with pytest.raises(viz3d.InputError, match="safetensors"):
        compare(nn.Linear(2, 2), 42)


def test_safetensors_directories_give_the_same_numbers_as_the_models(tmp_path):
    from safetensors.torch import save_file

    base = digits_mlp()
    changed = copy.deepcopy(base)
    with torch.no_grad():
        changed[2].weight.add_(0.05 * torch.randn(32, 4) @ torch.randn(4, 32))
        changed[6].weight.mul_(changed[6].weight.abs() > 0.05)
    for name, model in (("a", base), ("b", changed)):
        (tmp_path / name).mkdir()
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        half = len(state) // 2  # two shards, like a sharded checkpoint
        save_file(dict(list(state.items())[:half]), tmp_path / name / "model-1.safetensors")
        save_file(dict(list(state.items())[half:]), tmp_path / name / "model-2.safetensors")
    in_memory = compare(base, changed)
    on_disk = compare(tmp_path / "a", str(tmp_path / "b"))
    assert on_disk.changed == in_memory.changed == ["2", "6"]
    for name in ("0", "2", "4", "6"):
        for param in ("weight", "bias"):
            assert on_disk[name].weights[param] == in_memory[name].weights[param]
    assert on_disk.graph_b is not None and on_disk.render().metadata["nodes"] >= 4


def test_tensor_diff_rejects_different_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        tensor_diff(torch.zeros(2, 3), torch.zeros(3, 2))


def test_cka_is_one_for_a_rotation_and_low_for_unrelated_activations():
    from viz3d.compare.activations import linear_cka

    x = torch.randn(200, 16)
    rotation = torch.linalg.qr(torch.randn(16, 16))[0]
    assert linear_cka(x, 2 * x @ rotation) == pytest.approx(1.0)
    assert linear_cka(x, torch.randn(200, 16)) < 0.3
    assert np.isclose(linear_cka(x, x[:, :8]), linear_cka(x[:, :8], x))


# ----------------------------------------------------------------- pictures and command line
SIZE = (640, 360)


def _pixels_like(image: np.ndarray, colour: str) -> int:
    """Pixels of ``colour``'s hue whatever their shading (channels divided by the brightest)."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    pixels = image[..., :3].astype(float)
    bright = pixels.max(axis=-1)
    chroma = pixels / np.maximum(bright, 1)[..., None]
    close = np.abs(chroma - rgb / rgb.max()).max(axis=-1) < 0.1
    return int((close & (bright > 80)).sum())


@pytest.fixture(scope="module")
def swapped_block_diff() -> ModelDiff:
    """Tiny GPT-2 with its last block removed and a fresh one inserted after the first."""
    torch.manual_seed(1)
    a = tiny_gpt2(3)
    b = copy.deepcopy(a)
    fresh = copy.deepcopy(b.transformer.h[0])
    for p in fresh.parameters():
        nn.init.normal_(p, std=0.02)
    b.transformer.h = nn.ModuleList([b.transformer.h[0], fresh, b.transformer.h[1]])
    with torch.no_grad():
        for p in b.transformer.h[2].parameters():
            p.add_(0.002)  # fine-tuning-sized: a tenth of the weights' spread
    return compare(a, b, input_shape=(2, 8))


def test_a_swapped_block_is_one_added_and_one_removed(swapped_block_diff):
    diff = swapped_block_diff
    assert diff.added == ["transformer.h.1"] and diff.removed == ["transformer.h.2"]
    assert diff.pairs["transformer.h.1"] == "transformer.h.2"
    assert len(diff.changed) == 6 and all(n.startswith("transformer.h.2.") for n in diff.changed)


def test_status_picture_shows_added_green_removed_ghost_and_changed_yellow(swapped_block_diff):
    from viz3d.render.compare import STATUS_COLORS
    from viz3d.render.pyvista.picking import format_node_info

    scene = swapped_block_diff.render(color_by="status")
    names = [a.name for a in scene.actors]
    assert {"added", "removed", "layers"} <= set(names)
    image = scene.screenshot(window_size=SIZE)
    for status in ("added", "weight_changed", "removed"):
        assert _pixels_like(image, STATUS_COLORS[status]) > 20, status
    hover = [f for f in scene.node_info.values() if f.get("status") == "removed"]
    assert hover and hover[0]["name"] == "transformer.h.2"
    changed = [
        f for f in scene.node_info.values() if f.get("name") == "transformer.h.2.attn.c_attn"
    ]
    assert changed[0]["status"] == "weight_changed" and changed[0]["paired with"]
    assert changed[0]["type"] == "Conv1D"
    assert changed[0]["notes"][0].startswith(
        "weight changed: was transformer.h.1.attn.c_attn, Δ 0.1"
    )
    panel = format_node_info(changed[0])
    assert "weight changed: was transformer.h.1.attn.c_attn" in panel.splitlines()[-1]
    assert {"relative weight change", "activation CKA", "status"} <= set(scene.overlays)


def test_weight_change_and_cka_colourings_differ_and_side_by_side_links_pairs(swapped_block_diff):
    diff = swapped_block_diff
    by_change = diff.render().screenshot(window_size=SIZE)
    by_cka = diff.render(color_by="cka").screenshot(window_size=SIZE)
    assert np.abs(by_change.astype(int) - by_cka.astype(int)).mean() > 1
    both = diff.render(color_by="status", side_by_side=True)
    links = {a.name: len(a.mesh.cells("lines")) for a in both.actors if a.name.startswith("links")}
    assert links["links-changed"] == len(diff.changed) and links["links-same"] >= 8
    assert any(a.name == "a-layers" for a in both.actors)
    assert both.screenshot(window_size=SIZE).std() > 5


def test_render_refuses_cka_without_activations_and_unknown_colourings():
    a = digits_mlp()
    diff = compare(a, copy.deepcopy(a))
    with pytest.raises(viz3d.RenderError, match="inputs="):
        diff.render(color_by="cka")
    with pytest.raises(viz3d.RenderError, match="weight_change"):
        diff.render(color_by="params")


def test_cli_compare_prints_the_table_and_writes_picture_and_json(tmp_path, capsys):
    from viz3d.cli import main

    picture, saved = tmp_path / "diff.png", tmp_path / "diff.json"
    code = main(
        ["compare", "sample:mlp", "sample:mlp", "--input-shape", "4,64", "-o", str(picture),
         str(saved), "--color-by", "status", "--window-size", "320x180"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "0 weight-changed" in out and "CKA" in out
    assert ModelDiff.from_json(saved).activations_compared
    from PIL import Image

    assert np.asarray(Image.open(picture)).std() > 5
    assert main(["compare", "sample:mlp", "sample:mlp", "-o", str(tmp_path / "x.txt")]) == 2
    assert "use .png" in capsys.readouterr().err
