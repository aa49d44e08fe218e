"""Module containers, folded blocks that show member 0's inside, and per-module depth (expand)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
import transformers
from torch import nn

import viz3d
from tests import idiom_models as zoo
from viz3d.api import choose_view
from viz3d.cli import main
from viz3d.errors import GraphError
from viz3d.layout import Layout, compute_layout
from viz3d.layout.containers import MAX_GHOSTS, ghost_count
from viz3d.render import build_scene

transformers.logging.set_verbosity_error()


def _gpt2(n_layer: int) -> viz3d.LayerGraph:
    config = transformers.GPT2Config(
        n_layer=n_layer, n_embd=64, n_head=2, vocab_size=100, n_positions=32
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    return viz3d.trace(model, torch.randint(0, 100, (1, 8)))


@pytest.fixture(scope="module")
def gpt2() -> viz3d.LayerGraph:
    return _gpt2(4)


def _actor(scene, name: str):
    (actor,) = [a for a in scene.actors if a.name == name]
    return actor


def _inside(lo, hi, outer_lo, outer_hi) -> bool:
    return bool(np.all(np.asarray(lo) >= outer_lo) and np.all(np.asarray(hi) <= outer_hi))


def _overlap(a: dict, b: dict) -> bool:
    return all(a["lo"][k] < b["hi"][k] and b["lo"][k] < a["hi"][k] for k in range(3))


@pytest.mark.parametrize("depth", [None, 2, 3])
def test_containers_nest_hold_their_nodes_and_siblings_never_overlap(gpt2, depth):
    view = choose_view(gpt2, depth=depth)
    layout = compute_layout(view)
    boxes = layout.containers
    assert boxes, "a transformer has modules to draw"
    lo = layout.positions - layout.sizes / 2
    hi = layout.positions + layout.sizes / 2
    for k, box in enumerate(boxes):
        if box["parent"] is not None:
            parent = boxes[box["parent"]]
            assert parent["depth"] == box["depth"] - 1
            # strictly inside: nested boxes never touch
            assert np.all(np.array(box["lo"]) > parent["lo"]), (box["name"], parent["name"])
            assert np.all(np.array(box["hi"]) < parent["hi"]), (box["name"], parent["name"])
            assert set(box["nodes"]) <= set(parent["nodes"])
        for i in box["nodes"]:
            assert _inside(lo[i], hi[i], box["lo"], box["hi"]), (layout.nodes[i]["name"], k)
        for other in boxes[k + 1 :]:
            if other["parent"] == box["parent"]:
                assert not _overlap(box, other), (box["name"], other["name"])
    # every node sits in the box of each module it ran inside that has one (the root model,
    # wrappers and single-node modules have none)
    drawn = {b["name"] for b in boxes}
    assert {"transformer", "transformer.h.0"} <= drawn
    for i, node_id in enumerate(layout.node_ids):
        for key in view.nodes[node_id]["scope"]:
            qualname = key.rpartition("#")[0]
            if qualname in drawn:
                assert any(b["name"] == qualname and i in b["nodes"] for b in boxes), (
                    layout.nodes[i]["name"],
                    qualname,
                )


def test_a_folded_block_holds_member_0s_children_with_ghosts_behind(gpt2):
    layout = compute_layout(choose_view(gpt2))
    (block,) = [b for b in layout.containers if b["repeat"] > 1]
    assert (block["name"], block["type"], block["repeat"]) == ("transformer.h.0", "GPT2Block", 4)
    inner = [layout.nodes[i]["name"] for i in block["nodes"]]
    for child in ("ln_1", "attn", "ln_2", "mlp"):
        assert f"transformer.h.0.{child}" in inner
    assert not any(".h.1" in name or ".h.3" in name for name in inner)
    assert block["ghost_offset"][1] > 0  # behind, away from the camera
    assert any(
        b["text"] == "x4" and b["container"] == layout.containers.index(block)
        for b in layout.badges
    )
    scene = build_scene(layout, labels=False)
    ghosts = _actor(scene, "container-ghosts").mesh
    assert ghosts.n_cells == 6 * ghost_count(4) == 6 * 3
    # each box's tab is pickable and hovering it shows the module's facts
    tabs = _actor(scene, "container-tabs")
    assert tabs.pickable
    k = len(layout) + layout.containers.index(block)
    assert k in set(tabs.mesh.cell_data["node_id"].tolist())
    hover = scene.node_info[k]
    assert (hover["name"], hover["kind"], hover["repeat"]) == ("transformer.h.0", "container", 4)
    assert hover["params"] == gpt2.modules["transformer.h.0"]["params"] and hover["flops"] > 0


def test_ghosts_are_capped():
    model = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(9)])
    layout = compute_layout(choose_view(viz3d.trace(model, torch.randn(2, 8))))
    (block,) = layout.containers
    assert block["repeat"] == 9 and ghost_count(9) == MAX_GHOSTS
    ghosts = _actor(build_scene(layout, labels=False), "container-ghosts").mesh
    assert ghosts.n_cells == 6 * MAX_GHOSTS


def test_member_facts_are_the_unfolded_numbers_and_sum_to_the_fold(gpt2):
    folded = gpt2.fold_repeats()
    (node,) = [n for n in folded.nodes if folded.nodes[n]["repeat"] > 1]
    attrs = folded.nodes[node]
    facts = attrs["member_facts"]
    assert [f["name"] for f in facts] == [f"transformer.h.{k}" for k in range(4)]
    assert sum(f["params"] for f in facts) == attrs["params"]
    assert sum(f["flops"] for f in facts) == attrs["flops"]
    for k, f in enumerate(facts):
        assert f["params"] == gpt2.modules[f"transformer.h.{k}"]["params"]
        inside = [a for _, a in gpt2.nodes.items() if f"transformer.h.{k}#0" in a["scope"]]
        assert f["flops"] == sum(a["flops"] for a in inside) > 0
    # each node drawn for member 0 shows its counterpart in every member
    view = choose_view(gpt2)
    (attn,) = [a for _, a in view.nodes.items() if a["name"] == "transformer.h.0.attn"]
    assert [f["name"] for f in attn["member_facts"]] == [
        f"transformer.h.{k}.attn" for k in range(4)
    ]
    for k, f in enumerate(attn["member_facts"]):
        inside = [a for _, a in gpt2.nodes.items() if f"transformer.h.{k}.attn#0" in a["scope"]]
        assert f["flops"] == sum(a["flops"] for a in inside) > 0
        assert f["params"] == gpt2.modules[f"transformer.h.{k}.attn"]["params"]
    # the fold's box carries them too, and a fold drawn as one node (no interior) keeps them
    layout = compute_layout(choose_view(gpt2))
    assert [b for b in layout.containers if b["repeat"] > 1][0]["member_facts"] == facts
    opaque = compute_layout(folded)
    assert [n for n in opaque.nodes if n["repeat"] > 1][0]["member_facts"] == facts


def test_opened_folds_keep_every_path_and_stay_acyclic(gpt2):
    view = choose_view(gpt2)
    g = view.to_networkx()
    assert nx.is_directed_acyclic_graph(g)
    (source,) = [n for n in g if g.nodes[n]["kind"] == "input"]
    (sink,) = [n for n in g if g.nodes[n]["kind"] == "output"]
    assert nx.has_path(g, source, sink)
    names = {g.nodes[n]["name"]: n for n in g}
    # the block's input reaches its first norm, its output reaches the final norm
    assert g.has_edge(names["transformer.drop"], names["transformer.h.0.ln_1"])
    assert nx.has_path(g, names["transformer.h.0.mlp"], names["transformer.ln_f"])


def test_expand_deepens_only_the_named_module(gpt2):
    base = choose_view(gpt2, depth=2, fold=False)
    deeper = choose_view(gpt2, depth=2, fold=False, expand=["transformer.h.1"])

    def outside(view):
        return sorted(
            a["name"]
            for _, a in view.nodes.items()
            if not a["module"].startswith("transformer.h.1")
        )

    assert outside(base) == outside(deeper)
    assert len(deeper) > len(base)
    inner = [deeper.nodes[n]["name"] for n in deeper.nodes]
    assert "transformer.h.1.attn" in inner and "transformer.h.1" not in inner
    # inside a fold: a module of any member opens member 0's copy, every op with ".*"
    folded = choose_view(gpt2, depth=3)
    opened = choose_view(gpt2, depth=3, expand=["transformer.h.2.attn.*"])
    assert len(opened) > len(folded)
    extra = {opened.nodes[n]["name"] for n in opened.nodes} - {
        folded.nodes[n]["name"] for n in folded.nodes
    }
    assert all(
        opened.nodes[n]["module"].startswith("transformer.h.0.attn")
        for n in opened.nodes
        if opened.nodes[n]["name"] in extra
    )


def test_unknown_expand_names_fail_with_close_matches(gpt2, capsys):
    with pytest.raises(GraphError, match="did you mean 'transformer.h.0.attn'"):
        choose_view(gpt2, expand=["transformer.h.0.atn"])
    status = main(
        [
            "render",
            "hf:gpt2",
            "--config",
            "n_layer=2,n_embd=64,n_head=2",
            "--expand",
            "h.0.atn",
            "-o",
            "never.png",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("viz3d: error: cannot expand 'h.0.atn'") and "'h.0.attn'" in err[0]


def test_json_round_trips_keep_interiors_and_containers(gpt2, tmp_path):
    folded = gpt2.fold_repeats()
    again = viz3d.LayerGraph.from_json(folded.to_json(tmp_path / "g.json"))
    names = lambda v: [v.nodes[n]["name"] for n in v.nodes]  # noqa: E731
    assert names(again.open_folds()) == names(folded.open_folds())
    view = choose_view(gpt2)
    reread = viz3d.LayerGraph.from_json(view.to_json(tmp_path / "view.json"))
    assert reread.info.folds == view.info.folds
    layout = compute_layout(view)
    assert Layout.from_dict(layout.to_dict()).containers == layout.containers
    assert Layout.load(layout.save(tmp_path / "layout.npz")).containers == layout.containers
    old = layout.to_dict()
    del old["containers"]  # a file written before containers existed
    assert Layout.from_dict(old).containers == []


def test_containers_show_in_the_picture():
    layout = compute_layout(choose_view(_gpt2(2)))
    bare = Layout.from_dict({**layout.to_dict(), "containers": []})
    with_boxes = build_scene(layout, labels=False).screenshot(window_size=(480, 270))
    without = build_scene(bare, labels=False).screenshot(window_size=(480, 270))
    change = with_boxes[..., :3].astype(int) - without[..., :3].astype(int)
    changed = np.abs(change).sum(axis=-1) > 12
    assert changed.mean() > 0.05
    # the boxes tint towards their blue/green colours (#4f8cff, #38c9a0), not towards red
    mean = change[changed].mean(axis=0)
    assert mean[2] > 8 and mean[2] > mean[0] + 8


def test_a_model_without_submodules_has_no_containers():
    layout = compute_layout(choose_view(viz3d.trace(zoo.ReluMLP(), torch.randn(2, 16)), fold=False))
    assert layout.containers == []


def test_a_chosen_view_is_drawn_as_it_is():
    from tests.legibility import gallery_graph

    # Swin's stages hold folds whose members are folded again: folding the opened view a
    # second time used to put a fold's interior node into the graph twice
    view = gallery_graph("swin")  # already choose_view's result, folds opened
    again = choose_view(view)
    assert sorted(again.nodes) == sorted(view.nodes)
