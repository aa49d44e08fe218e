"""Random nets built from everyday idioms keep the tracer's invariants (hypothesis).

Each net is a ModuleList of random blocks walked by a loop that may put a functional op or a
residual add between them, so runs of alike blocks with something between them (the case
that used to fold into a cycle) come up often.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import viz3d
from tests.idiom_models import check_graph, reference_flops, unique_params
from viz3d.graph import module_depth

W = 16
_ACTS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "double": lambda x: x * 2}


class Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.view(-1, 1, 4, 4)).flatten(1)


class Residual(nn.Module):
    def __init__(self, act: str) -> None:
        super().__init__()
        self.fc, self.act = nn.Linear(W, W), act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(_ACTS[self.act](x))


class Loop(nn.Module):
    def __init__(self, n: int, act: str, residual: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(W, W) for _ in range(n))
        self.act, self.residual = act, residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = _ACTS[self.act](layer(x))
            x = x + h if self.residual else h
        return x


class Functional(nn.Module):
    def __init__(self, act: str) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(_ACTS[self.act](x), dim=-1)


class Branch(nn.Module):
    def __init__(self, merge: str) -> None:
        super().__init__()
        self.left, self.right = nn.Linear(W, W), nn.Linear(W, W)
        self.merge = merge
        self.fuse = nn.Linear(2 * W, W) if merge == "cat" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.left(x), self.right(x)
        if self.fuse is not None:
            return self.fuse(torch.cat([a, b], dim=-1))
        return torch.where(x > 0, a, b) if self.merge == "where" else a + b


_acts = st.sampled_from(sorted(_ACTS))
_blocks = st.one_of(
    st.just(("linear",)),
    st.just(("conv",)),
    st.just(("sequential",)),
    st.tuples(st.just("residual"), _acts),
    st.tuples(st.just("loop"), st.integers(2, 4), _acts, st.booleans()),
    st.tuples(st.just("functional"), _acts),
    st.tuples(st.just("branch"), st.sampled_from(["add", "cat", "where"])),
)


_FACTORIES = {
    "linear": lambda: nn.Linear(W, W),
    "sequential": lambda: nn.Sequential(nn.Linear(W, W), nn.ReLU()),
    "conv": Conv,
    "residual": Residual,
    "loop": Loop,
    "functional": Functional,
    "branch": Branch,
}


def _make(spec: tuple) -> nn.Module:
    kind, *args = spec
    return _FACTORIES[kind](*args)


class RandomNet(nn.Module):
    def __init__(self, specs: list[tuple], between: str | None, residual: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_make(spec) for spec in specs)
        self.between, self.residual = between, residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(x)
            if self.between is not None:
                h = _ACTS[self.between](h)
            x = x + h if self.residual else h
        return x


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(_blocks, min_size=1, max_size=6),
    repeat=st.integers(1, 3),
    between=st.one_of(st.none(), _acts),
    residual=st.booleans(),
)
def test_random_idiom_nets_stay_acyclic_and_count_like_pytorch(specs, repeat, between, residual):
    torch.manual_seed(0)
    model = RandomNet(specs * repeat, between, residual)
    x = torch.randn(2, W)
    graph = viz3d.trace(model, x)
    assert not graph.partial, graph.error
    assert graph.total_params == unique_params(model)
    assert graph.total_flops == reference_flops(model, x, grad=False)
    check_graph(graph, graph.total_flops, "trace")
    folded = graph.fold_repeats()
    check_graph(folded, graph.total_flops, "fold")
    deepest = max(module_depth(q) for q in graph.modules)
    for depth in range(deepest + 1):
        check_graph(graph.collapse(depth), graph.total_flops, f"collapse({depth})")
        check_graph(folded.collapse(depth), graph.total_flops, f"fold+collapse({depth})")
        check_graph(graph.collapse(depth).fold_repeats(), graph.total_flops, f"{depth}+fold")
