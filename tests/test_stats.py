"""Activation statistics: finite values only, the others counted, exact std, one sampling rule."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import viz3d
from viz3d.layout.neurons import neuron_grid
from viz3d.trace.stats import activation_stats, sample_index

INF, NAN = float("inf"), float("nan")


def test_stats_cover_finite_values_and_count_the_others():
    x = torch.tensor([[1.0, -INF, 5.0], [3.0, NAN, INF], [2.0, 4.0, NAN]])
    s = activation_stats(x)
    finite = torch.tensor([1.0, 5.0, 3.0, 2.0, 4.0])
    assert s["mean"] == pytest.approx(3.0)
    assert s["std"] == pytest.approx(float(finite.std(correction=0)))
    assert s["absmax"] == 5.0
    assert (s["n_inf"], s["n_nan"]) == (2, 2)


def test_dtype_limit_counts_as_infinite_like_hf_attention_masks():
    scores = torch.randn(1, 2, 8, 8)
    causal = torch.ones(8, 8, dtype=torch.bool).triu(1)
    masked = scores.masked_fill(causal, torch.finfo(torch.float32).min)
    s = activation_stats(masked)
    kept = scores[:, :, ~causal]
    assert s["n_inf"] == 2 * 28 and s["n_nan"] == 0
    assert s["mean"] == pytest.approx(float(kept.mean()), abs=1e-6)
    assert s["std"] == pytest.approx(float(kept.std(correction=0)), rel=1e-5)
    assert s["absmax"] == pytest.approx(float(kept.abs().max()))


def test_half_precision_mask_limit_is_its_own_dtypes():
    x = torch.tensor([[1.0, torch.finfo(torch.float16).min], [3.0, 2.0]], dtype=torch.float16)
    s = activation_stats(x)
    assert (s["mean"], s["n_inf"]) == (2.0, 1)


def test_no_finite_value_gives_no_statistics_and_nan_neurons():
    s = activation_stats(torch.full((2, 3), -INF))
    assert (s["mean"], s["std"], s["absmax"]) == (None, None, None)
    assert (s["n_inf"], s["n_nan"]) == (6, 0)
    assert all(math.isnan(v) for v in s["neurons"])


def test_neuron_means_use_finite_values_only():
    x = torch.tensor([[1.0, 10.0], [-INF, 20.0], [3.0, NAN]])
    assert activation_stats(x)["neurons"] == [2.0, 15.0]


@pytest.mark.parametrize("mean", [3000.0, -3000.0, 1e5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_std_is_exact_for_a_large_mean(mean, dtype):
    x = (mean + torch.randn(4, 512, 64, dtype=torch.float64)).to(dtype)
    reference = x.double()
    s = activation_stats(x)
    assert s["std"] == pytest.approx(float(reference.std(correction=0)), rel=1e-4)
    assert s["mean"] == pytest.approx(float(reference.mean()), rel=1e-7)


def test_std_of_huge_values_does_not_overflow():
    x = torch.randn(2, 1000) * 1e25
    s = activation_stats(x)
    assert s["std"] == pytest.approx(float(x.double().std(correction=0)), rel=1e-5)


def test_layout_neuron_points_show_the_neurons_the_trace_sampled():
    # neuron i has mean activation i, so each point's value names the neuron it shows
    n = 1000
    stats = activation_stats(torch.arange(n, dtype=torch.float32).repeat(3, 1), "Linear")
    sampled = np.array(sample_index(n, 256))
    np.testing.assert_array_equal(stats["neurons"], sampled)
    attrs = {"kind": "module", "out_shapes": [[3, n]], "stats": stats}
    _, values = neuron_grid(attrs, np.zeros(3), np.ones(3), "box", cap=256)
    np.testing.assert_array_equal(values, np.arange(256) * n // 256)
    for cap in (100, 7):  # fewer points: evenly spread over the samples, each a real neuron
        _, values = neuron_grid(attrs, np.zeros(3), np.ones(3), "box", cap=cap)
        np.testing.assert_array_equal(values, sampled[np.arange(cap) * 256 // cap])


def test_gpt2_mask_nodes_get_finite_stats_and_readable_hover_text():
    from viz3d.layout import compute_layout
    from viz3d.layout.layout import _magnitude
    from viz3d.render.pyvista.picking import format_node_info
    from viz3d.zoo import build_sample

    graph = viz3d.trace(build_sample("gpt2"), torch.randint(0, 100, (1, 16)))
    masks = [
        n
        for n in graph.nodes
        if graph.nodes[n]["type"] in ("where", "add")
        and (graph.nodes[n]["stats"] or {}).get("n_inf")
    ]
    assert len(masks) >= 3  # the causal mask and its add into each block's attention scores
    for n in masks:
        stats = graph.nodes[n]["stats"]
        json.dumps({k: stats[k] for k in ("mean", "std", "absmax")}, allow_nan=False)
        assert stats["absmax"] < 1e3
    layout = compute_layout(graph)
    i = layout.node_ids.index(masks[0])
    # the mask is side plumbing, drawn grey (NaN: no data); never the top of the colour scale
    assert not np.isinf(layout.values[i])
    assert np.isfinite(_magnitude(graph.nodes[masks[0]]["stats"]))
    text = format_node_info(layout.nodes[i])
    assert "activation: mean 0  std 0" in text and "(120 inf)" in text
    assert "-inf" not in text and "nan" not in text and "e+38" not in text
