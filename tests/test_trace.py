"""The tracer records what really ran: nodes, edges, params, FLOPs, statistics, failures."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import viz3d
from tests import idiom_models as idioms
from tests import trace_models as tm
from viz3d.zoo import build_sample


def _names(graph, kind=None):
    return [graph.nodes[n]["name"] for n in graph.node_ids(kind)]


def _edges(graph):
    return {(graph.nodes[u]["name"], graph.nodes[v]["name"]) for u, v in graph.edges}


def _unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _reference_flops(model: nn.Module, *args) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(*args)
    return counter.get_total_flops()


def test_residual_block_has_skip_edge_from_input_to_add(residual_block=None):
    graph = viz3d.trace(tm.ResidualBlock(), torch.randn(2, 8))
    assert _names(graph) == ["input", "fc1", "act", "fc2", "add", "output"]
    assert _edges(graph) == {
        ("input", "fc1"),
        ("fc1", "act"),
        ("act", "fc2"),
        ("fc2", "add"),
        ("input", "add"),
        ("add", "output"),
    }


def test_unet_concat_merges_encoder_skip_and_upsampled_path():
    model = build_sample("unet")
    graph = viz3d.trace(model, torch.randn(1, 1, 64, 64))
    cats = [n for n in graph.node_ids("op") if graph.nodes[n]["name"] == "cat"]
    assert len(cats) == 3
    for cat in cats:
        sources = {graph.nodes[p]["module"] for p in graph.to_networkx().predecessors(cat)}
        # one input comes from the encoder (a ReLU deep in inc/down*), one from the up-convolution
        assert any(s.endswith(".up") for s in sources), sources
        assert any(s.startswith(("inc", "down")) for s in sources), sources
    assert graph.total_params == _unique_params(model)
    assert graph.total_flops == _reference_flops(model, torch.randn(1, 1, 64, 64))


def test_module_called_three_times_is_one_module_with_three_calls():
    graph = viz3d.trace(tm.SharedLayer(), torch.randn(1, 4))
    calls = [
        graph.nodes[n]["call"] for n in graph.node_ids("module") if graph.nodes[n]["name"] == "fc"
    ]
    assert calls == [0, 1, 2]
    assert graph.modules["fc"]["calls"] == 3
    assert graph.total_params == 20  # counted once, not three times


def test_tied_embedding_parameters_counted_once():
    model = tm.TiedEmbedding()
    graph = viz3d.trace(model, torch.randint(0, 50, (1, 7)))
    assert graph.total_params == 50 * 16 == _unique_params(model)
    head = next(n for n in graph.nodes if graph.nodes[n]["name"] == "head")
    assert graph.nodes[head]["params"] == 800  # the layer still shows the weight it uses


def test_dict_and_tuple_outputs_become_named_output_nodes():
    graph = viz3d.trace(tm.DictOutput(), {"x": torch.randn(1, 4), "y": torch.randn(1, 4)})
    assert _names(graph, "input") == ["input.x", "input.y"]
    assert _names(graph, "output") == ["output.left", "output.pair[0]", "output.pair[1]"]
    assert ("b", "output.pair[0]") in _edges(graph)
    assert graph.nodes[graph.node_ids("output")[1]]["out_shapes"] == [[1, 3]]


def test_inplace_ops_chain_through_the_same_tensor():
    graph = viz3d.trace(tm.InPlace(), torch.randn(2, 4))
    assert _names(graph) == ["input", "fc", "add_", "setitem", "relu", "output"]
    assert {("fc", "add_"), ("add_", "setitem"), ("setitem", "relu"), ("relu", "output")} <= _edges(
        graph
    )


def test_lstm_is_one_node_with_its_tuple_outputs():
    model = tm.Recurrent()
    graph = viz3d.trace(model, torch.randn(2, 5, 6))
    lstm = next(n for n in graph.nodes if graph.nodes[n]["name"] == "lstm")
    assert graph.nodes[lstm]["out_shapes"] == [[2, 5, 12], [1, 2, 12], [1, 2, 12]]
    assert ("lstm", "getitem") in _edges(graph) and ("getitem", "head") in _edges(graph)
    assert graph.total_params == _unique_params(model)


def test_model_without_parameters_records_its_ops():
    graph = viz3d.trace(tm.NoParams(), torch.randn(2, 5))
    assert _names(graph) == ["input", "mul", "softmax", "output"]
    assert graph.total_params == 0


def test_dynamic_loop_is_recorded_as_it_ran():
    model = tm.DynamicLoop()
    x = torch.full((1, 3), 3.0)
    assert len(viz3d.trace(model, x).node_ids("module")) == 3
    assert len(viz3d.trace(model, torch.full((1, 3), 1.0)).node_ids("module")) == 1


def test_shape_error_gives_partial_graph_naming_module_class_and_shapes():
    graph = viz3d.trace(tm.BrokenMidway(), torch.randn(2, 4))
    assert graph.partial
    assert "module 'second' (Linear)" in graph.error and "[2, 8]" in graph.error
    assert _names(graph, "module") == ["first", "second"]
    assert graph.nodes[graph.node_ids("module")[1]]["failed"]
    assert ("relu", "second") in _edges(graph)


def test_failing_free_op_names_op_and_enclosing_module():
    graph = viz3d.trace(tm.BrokenCat(), torch.randn(2, 4))
    assert graph.partial
    assert "op 'view'" in graph.error and "module 'merge' (Merge)" in graph.error
    assert "[5, 4]" in graph.error


def test_strict_raises_viz3d_error_with_same_message():
    with pytest.raises(viz3d.TraceError, match=r"module 'second' \(Linear\)"):
        viz3d.trace(tm.BrokenMidway(), torch.randn(2, 4), strict=True)


def test_forward_that_cannot_start_gives_module_tree_in_registration_order():
    graph = viz3d.trace(tm.NeedsTwoInputs(), torch.randn(1, 3))  # mask argument missing
    assert graph.partial and "NeedsTwoInputs" in graph.error
    assert _names(graph) == ["one", "two"]
    assert all(a["inferred"] for _, _, a in graph.edges(data=True))


def test_user_model_left_as_it_was_after_failure():
    model = tm.BrokenMidway().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    viz3d.trace(model, torch.randn(2, 4))
    assert model.training and all(m.training for m in model.modules())
    assert not model._forward_hooks and not model.first._forward_pre_hooks
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.overrides._get_current_function_mode_stack() == []


def test_params_and_flops_match_reference_on_resnet():
    model = build_sample("resnet")
    x = torch.randn(1, 3, 32, 32)
    graph = viz3d.trace(model, x)
    assert graph.total_params == _unique_params(model) == 175_258
    assert graph.total_flops == _reference_flops(model, x)
    assert sum(graph.nodes[n]["flops"] for n in graph.nodes) == graph.total_flops


def test_resnet_projection_block_has_two_paths_into_add():
    graph = viz3d.trace(build_sample("resnet"), torch.randn(1, 3, 32, 32))
    add = next(
        n
        for n in graph.nodes
        if graph.nodes[n]["name"] == "add" and graph.nodes[n]["module"] == "layer2.0"
    )
    sources = sorted(graph.nodes[p]["name"] for p in graph.to_networkx().predecessors(add))
    assert sources == ["layer2.0.bn2", "layer2.0.shortcut.1"]


def test_activation_statistics_follow_the_activation():
    model = nn.Sequential(nn.Linear(4, 6))
    small = viz3d.trace(model, torch.ones(3, 4))
    big = viz3d.trace(model, torch.ones(3, 4) * 100)
    node = small.node_ids("module")[0]
    with torch.no_grad():
        out = model(torch.ones(3, 4))
    stats = small.nodes[node]["stats"]
    assert stats["mean"] == pytest.approx(out.mean().item(), rel=1e-5)
    assert stats["absmax"] == pytest.approx(out.abs().max().item(), rel=1e-5)
    assert stats["neurons"] == pytest.approx(out.mean(0).tolist(), rel=1e-5)
    assert big.nodes[node]["stats"]["absmax"] > 10 * stats["absmax"]


def test_neuron_sample_is_capped_and_uses_channels_for_conv():
    graph = viz3d.trace(
        nn.Sequential(nn.Conv2d(3, 600, 1)), torch.randn(1, 3, 4, 4), neuron_samples=64
    )
    stats = graph.nodes[graph.node_ids("module")[0]]["stats"]
    assert stats["neuron_dim"] == 1 and stats["neuron_count"] == 600 and len(stats["neurons"]) == 64


def test_hf_gpt2_from_config_traces_blocks_and_tied_head():
    model = build_sample("gpt2")
    graph = viz3d.trace(model, input_shape=(1, 16))
    assert graph.total_params == _unique_params(model)
    assert graph.total_flops == _reference_flops(model, torch.randint(0, 1000, (1, 16)))
    assert graph.modules["transformer.h.1"]["calls"] == 1
    assert _names(graph, "output")[0] == "output.logits"
    folded = graph.collapse(3).fold_repeats()
    blocks = [n for n in folded.nodes if folded.nodes[n]["type"] == "GPT2Block"]
    assert len(blocks) == 1 and folded.nodes[blocks[0]]["repeat"] == 2


def test_hf_bert_from_config_traces_with_keyword_inputs():
    model = build_sample("bert")
    ids = torch.randint(0, 1000, (1, 12))
    graph = viz3d.trace(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    assert not graph.partial
    assert _names(graph, "input") == ["input.input_ids", "input.attention_mask"]
    assert "output.last_hidden_state" in _names(graph, "output")
    assert graph.total_params == _unique_params(model)


def test_llama_7b_shape_traces_on_meta_without_statistics():
    model = build_sample("llama7b")
    assert next(model.parameters()).is_meta
    graph = viz3d.trace(model, input_shape=(1, 64))
    assert graph.total_params == _unique_params(model) == 6_738_415_616
    assert graph.modules["model.layers.31"]["calls"] == 1
    assert all(graph.nodes[n]["stats"] is None for n in graph.nodes)
    # 2 FLOPs per parameter per token for the matmuls, plus attention scores
    assert 2 * 64 * 6.4e9 < graph.total_flops < 2 * 64 * 7.0e9


def test_wrong_device_is_refused_with_a_fix():
    with pytest.raises(viz3d.InputError, match=r"model.to\('meta'\)"):
        viz3d.trace(nn.Linear(2, 2), input_shape=(1, 2), device="meta")


def test_input_shape_guessed_from_first_layer():
    graph = viz3d.trace(build_sample("cnn"))
    assert graph.nodes[graph.node_ids("input")[0]]["out_shapes"] == [[1, 1, 32, 32]]


# ----------------------------------------------------------------- idioms that used to break it
_SCRIPTING = pytest.mark.filterwarnings("ignore:.*torch.jit.* is deprecated:DeprecationWarning")


@_SCRIPTING
def test_torchscript_child_is_one_opaque_node_with_shapes_params_and_flops():
    model = idioms.ScriptedChild()
    x = torch.randn(2, 16)
    graph = viz3d.trace(model, x)
    assert not graph.partial, graph.error
    body = next(n for n in graph.nodes if graph.nodes[n]["name"] == "body")
    attrs = graph.nodes[body]
    assert attrs["scripted"] and attrs["type"] == "Sequential"
    assert attrs["in_shapes"] == [[2, 16]] and attrs["out_shapes"] == [[2, 4]]
    assert attrs["params"] == 16 * 16 + 16 + 16 * 4 + 4
    assert attrs["flops"] == 2 * 2 * (16 * 16 + 16 * 4)
    assert ("relu", "body") in _edges(graph) and ("body", "output") in _edges(graph)
    assert graph.total_flops == _reference_flops(model, x)
    note = next(n for n in graph.info.notes if "TorchScript" in n)
    assert "'body'" in note and "failed" not in note
    assert "Note: 'body' is a TorchScript module" in graph.summary()
    # the user's model has its own scripted module back, with no hooks left behind
    assert isinstance(model.body, torch.jit.ScriptModule) and not model.pre._forward_hooks


@_SCRIPTING
def test_scripted_model_itself_traces_as_one_node():
    model = torch.jit.script(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    graph = viz3d.trace(model, torch.randn(3, 4))
    assert not graph.partial
    assert [graph.nodes[n]["type"] for n in graph.nodes] == ["Input", "Sequential", "Output"]
    assert graph.total_params == 58 and graph.total_flops == 2 * 3 * (4 * 8 + 8 * 2)


def test_namedtuple_inputs_with_and_without_tensors_reach_the_forward():
    graph = viz3d.trace(idioms.NamedTupleIn(), idioms.Pair(torch.randn(2, 16), 0.5))
    assert not graph.partial and _names(graph, "input") == ["input.tokens"]
    assert ("input.tokens", "fc") in _edges(graph)
    options = idioms.Options(2.0, True)
    graph = viz3d.trace(idioms.NamedTupleNoTensors(), (torch.randn(2, 16), options))
    assert not graph.partial and _names(graph, "module") == ["fc"]
    with_dtype = viz3d.trace(
        idioms.NamedTupleIn(), idioms.Pair(torch.randn(2, 16), 0.5), dtype=torch.float64
    )
    assert with_dtype.nodes[with_dtype.node_ids("input")[0]]["out_dtypes"] == ["float64"]


def test_dataclass_inputs_and_outputs_become_named_nodes():
    graph = viz3d.trace(idioms.DataclassIO(), idioms.Batch(torch.randn(2, 16), 2.0))
    assert _names(graph, "input") == ["input.features"]
    assert _names(graph, "output") == ["output.logits", "output.hidden"]
    assert ("head", "output.logits") in _edges(graph)


def test_autograd_grad_in_forward_retries_with_gradients_and_says_so():
    model, x = idioms.PhysicsInformed(), torch.randn(4, 2)
    graph = viz3d.trace(model, x)
    assert not graph.partial
    assert any("gradients enabled" in note for note in graph.info.notes)
    assert "autograd.grad" in _names(graph) and ("autograd.grad", "output[1]") in _edges(graph)
    without = viz3d.trace(model, x, grad=False)
    assert without.partial and "does not require grad" in without.error
    with_grad = viz3d.trace(model, x, grad=True)  # asked for: no retry, so no note
    assert not with_grad.partial and not with_grad.info.notes
    assert with_grad.total_flops == graph.total_flops
    assert torch.is_grad_enabled()  # the grad mode the caller had is back
    with torch.no_grad():
        viz3d.trace(model, x)
        assert not torch.is_grad_enabled()


def test_parameters_of_modules_in_a_plain_list_are_reported_as_unregistered():
    model = idioms.PlainList()
    x = torch.randn(2, 16)
    graph = viz3d.trace(model, x)
    hidden = 2 * (16 * 16 + 16)
    assert graph.total_params == 16 * 2 + 2 == _unique_params(model)
    assert graph.info.unregistered_params == hidden
    assert graph.total_flops == _reference_flops(model, x)  # their FLOPs still count
    assert f"Unregistered params: {hidden:,}" in graph.summary()
    assert viz3d.trace(tm.ResidualBlock(), torch.randn(2, 8)).info.unregistered_params == 0


def test_graph_files_without_the_new_info_fields_still_load():
    data = viz3d.trace(tm.ResidualBlock(), torch.randn(2, 8)).to_dict()
    del data["info"]["unregistered_params"], data["info"]["notes"]
    again = viz3d.LayerGraph.from_dict(data)
    assert again.info.unregistered_params == 0 and again.info.notes == []
