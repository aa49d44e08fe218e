"""Every idiom in the zoo goes through trace -> fold -> collapse -> layout -> screenshot.

At every step the graph is a DAG and no FLOP goes missing; the totals match PyTorch's own
counters (unique parameters, ``FlopCounterMode`` on the same forward).
"""

from __future__ import annotations

import pytest

import viz3d
from tests.idiom_models import CASES, Case, check_graph, reference_flops, unique_params
from viz3d.api import choose_view
from viz3d.graph import module_depth
from viz3d.layout import compute_layout
from viz3d.render import build_scene

# the zoo holds TorchScript idioms on purpose
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.* is deprecated:DeprecationWarning")


def test_the_zoo_holds_at_least_forty_idioms():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_idiom_traces_folds_collapses_lays_out_and_renders(case: Case):
    model, inputs = case.build()
    graph = viz3d.trace(model, inputs)
    assert not graph.partial, graph.error
    assert graph.total_params == unique_params(model)
    assert graph.info.unregistered_params == case.unregistered
    assert any("TorchScript" in note for note in graph.info.notes) == case.scripted
    assert graph.total_flops == reference_flops(model, inputs, case.grad) > 0
    check_graph(graph, graph.total_flops, "trace")

    folded = graph.fold_repeats()
    check_graph(folded, graph.total_flops, "fold")
    deepest = max((module_depth(q) for q in graph.modules), default=0)
    for base, label in ((graph, "collapse"), (folded, "fold+collapse")):
        for depth in range(deepest + 1):
            view = base.collapse(depth)
            check_graph(view, graph.total_flops, f"{label}({depth})")
            layout = compute_layout(view)
            assert len(layout.nodes) == len(view)
            refolded = view.fold_repeats()
            check_graph(refolded, graph.total_flops, f"{label}({depth})+fold")

    scene = build_scene(compute_layout(choose_view(graph)), labels=False, glow=False)
    image = scene.screenshot(window_size=(160, 120))
    # layers are coloured by the colour map, inputs, outputs, text and background are grey:
    # saturated pixels in the middle of the frame (clear of the colour bars) are layers
    middle = image[20:90, :100].astype(int)
    saturated = middle.max(axis=-1) - middle.min(axis=-1) > 60
    assert saturated.mean() > 0.005, "the scene drew no layers"
