"""A zoo of small models written in the idioms people really use (imported by the zoo tests).

Each :class:`Case` builds a fresh model and the inputs :func:`viz3d.trace` gets for it: a tensor
is one argument, a plain tuple several, a dict keyword arguments, a namedtuple or dataclass one
argument. Every model is tiny (widths of 4 to 16) so the whole zoo traces in seconds. The
reference counts a trace must agree with (:func:`unique_params`, :func:`reference_flops`) and
the invariants of every view (:func:`check_graph`) are here too, shared with the property test.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import networkx as nx
import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from viz3d.graph import LayerGraph

W = 16  # feature width of most models


# ----------------------------------------------------------------- what the tracer must agree with
def call(model: nn.Module, inputs: Any) -> Any:
    """Call ``model`` the way :func:`viz3d.trace` does with ``inputs``."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)) and not hasattr(type(inputs), "_fields"):
        return model(*inputs)
    return model(inputs)


def unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


class _SamePath(TorchFunctionMode):
    """A torch function mode that changes nothing, active while the reference counts.

    PyTorch takes fused fast paths (``nn.MultiheadAttention``, ``TransformerEncoder`` in eval)
    only when no torch function mode is active, and ``FlopCounterMode`` has no formula for
    them (it counts 0). The tracer always has its mode active, so the reference takes the same
    (unfused) path: "the same forward".
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


class _NoModuleTracking:
    """Stands in for ``FlopCounterMode``'s module tracker, whose backward hooks break
    ``torch.autograd.grad`` on leaf tensors inside the forward; totals need no per-module
    breakdown."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _NoModuleTracking:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def reference_flops(model: nn.Module, inputs: Any, grad: bool) -> int:
    model.eval()
    counter = FlopCounterMode(display=False)
    if grad:
        counter.mod_tracker = _NoModuleTracking()
    with torch.set_grad_enabled(grad), _SamePath(), counter:
        call(model, inputs)
    return counter.get_total_flops()


def check_graph(graph: LayerGraph, total_flops: int, step: str) -> None:
    """The invariants every view must keep: acyclic, forward edges, all FLOPs on nodes."""
    g = graph.to_networkx()
    assert nx.is_directed_acyclic_graph(g), step
    assert all(g.nodes[u]["order"] < g.nodes[v]["order"] for u, v in g.edges), step
    assert sum(a["flops"] for _, a in g.nodes(data=True)) == total_flops, step


@dataclasses.dataclass(frozen=True)
class Case:
    """One zoo entry: ``build()`` returns ``(model, inputs)``."""

    name: str
    build: Callable[[], tuple[nn.Module, Any]]
    grad: bool = False  # the forward differentiates: run the reference with autograd on
    unregistered: int = 0  # parameter elements the forward uses that the model does not own
    scripted: bool = False  # holds a TorchScript module


CASES: list[Case] = []


def case(**options: Any) -> Callable:
    def register(build: Callable[[], tuple[nn.Module, Any]]) -> Callable:
        CASES.append(Case(build.__name__, build, **options))
        return build

    return register


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape) if shape else torch.randn(2, W)


def _linears(n: int, width: int = W) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(width, width) for _ in range(n))


# ----------------------------------------------------------------- ModuleList / ModuleDict loops
class ReluMLP(nn.Module):
    """The classic: ``for l in self.layers: x = F.relu(l(x))``."""

    def __init__(self, n: int = 4) -> None:
        super().__init__()
        self.layers = _linears(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


@case()
def modulelist_functional_relu():
    return ReluMLP(), _x()


class ResidualList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = _linears(3)
        self.norm = nn.LayerNorm(W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = x + F.gelu(layer(self.norm(x)))
        return x


@case()
def modulelist_residual_adds_and_shared_norm():
    return ResidualList(), _x()


class LastWithoutActivation(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = _linears(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)


@case()
def modulelist_last_member_differs():
    return LastWithoutActivation(), _x()


class DictLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleDict({k: nn.Linear(W, W) for k in ("embed", "mix", "head")})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, stage in self.stages.items():
            x = F.silu(stage(x)) if name != "head" else stage(x)
        return x


@case()
def moduledict_loop():
    return DictLoop(), _x()


class Interleaved(nn.Module):
    """Two ModuleLists walked together: each member has the other list's member in between."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = _linears(3)
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(W, W), nn.GELU()) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, mlp in zip(self.attn, self.mlp):
            x = x + attn(x)
            x = x + mlp(x)
        return x


@case()
def interleaved_modulelists():
    return Interleaved(), _x()


class Grid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rows = nn.ModuleList(_linears(2) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for row in self.rows:
            for cell in row:
                x = F.relu(cell(x))
            x = x * 0.5
        return x


@case()
def nested_modulelists():
    return Grid(), _x()


class TwoPasses(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = _linears(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(2):
            for layer in self.layers:
                x = torch.sigmoid(layer(x))
        return x


@case()
def modulelist_walked_twice():
    return TwoPasses(), _x()


class Alternating(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(W, 2 * W) if i % 2 == 0 else nn.Linear(2 * W, W) for i in range(4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


@case()
def modulelist_of_different_shapes():
    return Alternating(), _x()


class ConvStack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(3))
        self.norms = nn.ModuleList(nn.BatchNorm2d(4) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x)))
        return F.max_pool2d(x, 2).flatten(1)


@case()
def conv_bn_relu_loop():
    return ConvStack(), _x(1, 4, 8, 8)


# ----------------------------------------------------------------- containers, sharing, recursion
@case()
def sequential_in_sequential():
    inner = nn.Sequential(nn.Linear(W, W), nn.ReLU())
    model = nn.Sequential(
        inner, nn.Sequential(nn.Sequential(nn.Linear(W, 8)), nn.Tanh()), nn.Linear(8, 2)
    )
    return model, _x()


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(W, W)
        self.alias = self.fc  # registered twice under two names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = torch.tanh(self.fc(x))
        return self.alias(x)


@case()
def shared_module_called_four_times():
    return Shared(), _x()


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, W)
        self.body = nn.Linear(W, W)
        self.head = nn.Linear(W, 30, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(F.gelu(self.body(self.embed(ids))))


@case()
def tied_embedding_and_head():
    return Tied(), torch.randint(0, 30, (2, 5))


class Tree(nn.Module):
    """Built recursively: each node holds two smaller trees."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.fc = nn.Linear(W, W)
        self.kids = nn.ModuleList(Tree(depth - 1) for _ in range(2)) if depth else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(x))
        if self.kids is None:
            return x
        return self.kids[0](x) + self.kids[1](x)


@case()
def recursive_tree():
    return Tree(2), _x()


class Unrolled(nn.Module):
    """A recursive method (not a recursive module): ``self._go(x, n - 1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.Linear(W, W)

    def _go(self, x: torch.Tensor, n: int) -> torch.Tensor:
        return x if n == 0 else self._go(torch.tanh(self.cell(x)) + x, n - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._go(x, 3)


@case()
def recursive_method():
    return Unrolled(), _x()


# ----------------------------------------------------------------- inputs and outputs
class TwoArgs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(W, W)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * mask


@case()
def dict_keyword_inputs():
    return TwoArgs(), {"x": _x(), "mask": torch.ones(2, W)}


class TupleIO(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(W, 4), nn.Linear(W, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple:
        return self.a(x), (self.b(y), self.a(y) + 1)


@case()
def tuple_inputs_and_nested_tuple_outputs():
    return TupleIO(), (_x(), _x())


@dataclasses.dataclass
class Batch:
    features: torch.Tensor
    scale: float = 1.0


@dataclasses.dataclass
class Prediction:
    logits: torch.Tensor
    hidden: torch.Tensor


class DataclassIO(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.Linear(W, W), nn.Linear(W, 3)

    def forward(self, batch: Batch) -> Prediction:
        hidden = F.relu(self.body(batch.features * batch.scale))
        return Prediction(self.head(hidden), hidden)


@case()
def dataclass_input_and_output():
    return DataclassIO(), Batch(_x(), 2.0)


Pair = collections.namedtuple("Pair", "tokens weight")


class NamedTupleIn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(W, 4)

    def forward(self, pair: Pair) -> torch.Tensor:
        return self.fc(pair.tokens) * pair.weight


@case()
def namedtuple_input():
    return NamedTupleIn(), Pair(_x(), 0.5)


Options = collections.namedtuple("Options", "temperature causal")


class NamedTupleNoTensors(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(W, W)

    def forward(self, x: torch.Tensor, options: Options) -> torch.Tensor:
        return torch.softmax(self.fc(x) / options.temperature, dim=-1)


@case()
def namedtuple_without_tensors():
    return NamedTupleNoTensors(), (_x(), Options(2.0, True))


class MultiTask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(W, W), nn.ReLU())
        self.heads = nn.ModuleDict({"cls": nn.Linear(W, 3), "reg": nn.Linear(W, 1)})

    def forward(self, x: torch.Tensor) -> dict:
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


@case()
def multitask_dict_output():
    return MultiTask(), _x()


# ----------------------------------------------------------------- ops between modules
class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(W, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        h.mul_(2.0).add_(1.0)
        h[:, 0] = 0.0
        F.relu(h, inplace=True)
        return h.clamp_(max=3.0)


@case()
def inplace_ops():
    return InPlace(), _x()


class Einsum(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(W, 8, W) * 0.1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bi,ioj,bj->bo", x, self.weight, y)


@case()
def einsum_bilinear_with_own_parameter():
    return Einsum(), (_x(), _x())


class WhereBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos, self.neg = nn.Linear(W, W), nn.Linear(W, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, self.pos(x), self.neg(x))


@case()
def torch_where_branches():
    return WhereBranch(), _x()


class PythonBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.small, self.big = nn.Linear(W, W), nn.Linear(W, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.big(x) if x.abs().mean() > 10 else self.small(x)


@case()
def data_dependent_branch():
    return PythonBranch(), _x()


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(W, 2 * W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * torch.sigmoid(gate)


@case()
def chunk_and_gate():
    return Gated(), _x()


class Normalised(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((W,), 0.5))
        self.register_buffer("std", torch.full((W,), 2.0))
        self.fc = nn.Linear(W, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((x - self.mean) / self.std)


@case()
def buffers_used_in_forward():
    return Normalised(), _x()


# ----------------------------------------------------------------- data-dependent control flow
class EarlyExit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = _linears(6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x)) + 1.0
            if x.mean() > 3.0:
                break
        return x


@case()
def early_exit_loop():
    return EarlyExit(), _x()


class WhileLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.step = nn.Linear(W, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = 0
        while x.norm() > 1.0 and steps < 5:
            x = 0.5 * torch.tanh(self.step(x))
            steps += 1
        return x


@case()
def data_dependent_while_loop():
    return WhileLoop(), _x() * 4


class MoE(nn.Module):
    """Top-1 routing: each expert runs on the rows routed to it (some may get none)."""

    def __init__(self, experts: int = 4) -> None:
        super().__init__()
        self.gate = nn.Linear(W, experts)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(W, W), nn.GELU()) for _ in range(experts)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, choice = torch.softmax(self.gate(x), dim=-1).topk(1, dim=-1)
        out = torch.zeros_like(x)
        for index, expert in enumerate(self.experts):
            rows = (choice[:, 0] == index).nonzero(as_tuple=True)[0]
            if rows.numel():
                out = out.index_add(0, rows, expert(x[rows]) * weight[rows])
        return out


@case()
def mixture_of_experts_routing():
    return MoE(), _x(8, W)


# ----------------------------------------------------------------- sequence models, attention
class LSTMHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, W, num_layers=2, batch_first=True)
        self.head = nn.Linear(W, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (h, _c) = self.lstm(x)
        return self.head(out[:, -1] + h[-1])


@case()
def lstm_two_layers():
    return LSTMHead(), _x(2, 5, 8)


class GRUBi(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 8, bidirectional=True)
        self.head = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out.mean(0))


@case()
def gru_bidirectional():
    return GRUBi(), _x(5, 2, 8)


class CellLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.GRUCell(8, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[1], W)
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
        return h


@case()
def rnn_cell_time_loop():
    return CellLoop(), _x(4, 2, 8)


class MaskedAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(W, 3 * W)
        self.out = nn.Linear(W, W)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).split(W, dim=-1)
        scores = q @ k.transpose(-2, -1) / W**0.5
        causal = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)
        scores = scores.masked_fill(causal | ~pad[:, None, :], float("-inf"))
        return self.out(torch.softmax(scores, dim=-1) @ v)


@case()
def masked_attention_by_hand():
    pad = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    return MaskedAttention(), (_x(2, 5, W), pad)


class SDPA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(W, W), nn.Linear(W, W), nn.Linear(W, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (p(x).view(2, 5, 2, 8).transpose(1, 2) for p in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(2, 5, W)


@case()
def sdpa_causal_from_a_generator():
    return SDPA(), _x(2, 5, W)


@case()
def multihead_attention_with_padding_mask():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(W, 2, batch_first=True)

        def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, key_padding_mask=pad, need_weights=False)[0]

    return Model(), (_x(2, 5, W), torch.tensor([[False] * 5, [False] * 3 + [True] * 2]))


@case()
def transformer_encoder():
    layer = nn.TransformerEncoderLayer(W, 2, dim_feedforward=32, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), _x(2, 5, W)


class MiniGPT(nn.Module):
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(W), nn.LayerNorm(W)
            self.attn = nn.MultiheadAttention(W, 2, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(W, 4 * W), nn.GELU(), nn.Linear(4 * W, W))

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    def __init__(self) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(40, W), nn.Embedding(8, W)
        self.blocks = nn.ModuleList(MiniGPT.Block() for _ in range(3))
        self.ln_f = nn.LayerNorm(W)
        self.head = nn.Linear(W, 40, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(n))
        mask = torch.full((n, n), float("-inf")).triu(1)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


@case()
def mini_gpt():
    return MiniGPT(), torch.randint(0, 40, (1, 6))


# ----------------------------------------------------------------- convolutions
class TinyUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, padding=1)
        self.mid = nn.Conv2d(8, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = F.relu(self.down(x))
        h = F.relu(self.mid(F.max_pool2d(skip, 2)))
        return self.out(torch.cat([self.up(h), skip], dim=1))


@case()
def unet_skip_concat():
    return TinyUNet(), _x(1, 3, 8, 8)


class ChannelsLast(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3, groups=2)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.conv2(F.relu(self.conv1(x))))).flatten(1)


@case()
def channels_last_convnet():
    model = ChannelsLast().to(memory_format=torch.channels_last)
    return model, _x(2, 3, 10, 10).to(memory_format=torch.channels_last)


class Conv1dSeq(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(8, 8, 3, padding=1)
        self.norm = nn.GroupNorm(2, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(self.conv(x.transpose(1, 2)))).transpose(1, 2)


@case()
def conv1d_over_a_sequence():
    return Conv1dSeq(), _x(2, 6, 8)


# ----------------------------------------------------------------- precision, hooks, checkpoint
@case()
def half_precision():
    model = nn.Sequential(nn.Linear(W, W), nn.GELU(), nn.LayerNorm(W), nn.Linear(W, 4)).half()
    return model, _x().half()


@case()
def bfloat16_relu_mlp():
    return ReluMLP(3).to(torch.bfloat16), _x().to(torch.bfloat16)


@case()
def user_hooks_already_registered():
    model = nn.Sequential(nn.Linear(W, W), nn.ReLU(), nn.Linear(W, 2))
    model[0].register_forward_hook(lambda _m, _i, out: out * 2)
    model[2].register_forward_pre_hook(lambda _m, args: (args[0] + 1,))
    return model, _x()


class Checkpointed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(W, W), nn.Tanh()) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
        return x


@case()
def activation_checkpointing():
    return Checkpointed(), _x()


@case()
def dropout_and_batchnorm():
    model = nn.Sequential(
        nn.Linear(W, W), nn.BatchNorm1d(W), nn.Dropout(0.5), nn.ReLU(), nn.Linear(W, 2)
    )
    return model, _x(4, W)


# ----------------------------------------------------------------- comprehensions, generators
class Heads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(W, 4) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([head(x) for head in self.heads], dim=1).sum(1)


@case()
def modules_in_a_list_comprehension():
    return Heads(), _x()


class GeneratorSum(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.branches = _linears(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(F.relu(branch(x)) for branch in self.branches)


@case()
def sum_over_a_generator_of_tensors():
    return GeneratorSum(), _x()


class TensorGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = (self.fc(part) for part in x.split(4, dim=-1))
        return torch.cat(list(parts), dim=-1)


@case()
def shared_layer_over_a_generator_of_slices():
    return TensorGenerator(), _x()


# ----------------------------------------------------------------- TorchScript, autograd, lists
class ScriptedChild(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Linear(W, W)
        self.body = torch.jit.script(nn.Sequential(nn.Linear(W, W), nn.ReLU(), nn.Linear(W, 4)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(F.relu(self.pre(x)))


@case(scripted=True)
def torchscript_child():
    return ScriptedChild(), _x()


class TracedChildren(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            torch.jit.trace(nn.Linear(W, W), torch.randn(1, W)) for _ in range(3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


@case(scripted=True)
def jit_traced_children_in_a_loop():
    return TracedChildren(), _x()


@case(scripted=True)
def torchscript_whole_model():
    return torch.jit.script(nn.Sequential(nn.Linear(W, W), nn.Tanh(), nn.Linear(W, 2))), _x()


class PhysicsInformed(nn.Module):
    """Returns the network's value and its gradient with respect to the input."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, W), nn.Tanh(), nn.Linear(W, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach().requires_grad_(True)
        u = self.net(x)
        (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        return u, du


@case(grad=True)
def autograd_grad_inside_forward():
    return PhysicsInformed(), _x(4, 2)


class PlainList(nn.Module):
    """Layers kept in a plain Python list: PyTorch does not register them."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = [nn.Linear(W, W) for _ in range(2)]
        self.head = nn.Linear(W, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.head(x)


@case(unregistered=2 * (W * W + W))
def modules_in_a_plain_list():
    return PlainList(), _x()
