"""Evaluate many grid points in one pass through an ``nn.Sequential`` model.

Each layer reads its weights per point, ``theta0 + c1 * d1 + ... + ck * dk``, as a
``(P, ...)`` tensor, and activations carry a point dimension beside the sample one. Its
position is a *layout*: ``"PB"`` = ``(P, batch, ...)`` suits batched matrix products of
Linear layers; ``"BP"`` = ``(batch, P, ...)`` is a free view of a grouped convolution's
``(batch, P * C, H, W)`` input and output, so convolution stacks never transpose. Until the
first layer with moving weights the activations do not depend on the point (layout None).

That first layer sees a fixed input ``x``, so its output is affine in the coefficients,
``f(x; W0) + c1 f(x; D1) + ... + ck f(x; Dk)``: ``k + 1`` products, cached per data batch,
serve every grid point, and each point costs only ``k + 1`` multiply-adds per output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

_ELEMENTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Tanhshrink,
    nn.Softsign,
    nn.LogSigmoid,
)
_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_POOLS = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Linear layers with fewer outputs than this are computed transposed (see _point_linear);
# measured with MKL on AVX-512: 2.5x faster at 10 outputs, no gain from 16 on.
_NARROW = 16


class PointValues:
    """Weights of a chunk of grid points, built lazily per tensor name.

    Parameters
    ----------
    stacks : dict
        ``name -> (k + 1, *shape)`` tensor: the centre value followed by the k directions.
    moving : set of str
        Names whose directions are not all zero; the others are the same at every point.
    c1 : torch.Tensor
        ``(P, k + 1)`` coefficients with a leading column of ones.
    workspace : dict, optional
        Kept by the caller across chunks: the tensors of :meth:`buffer` live there.
    """

    def __init__(
        self,
        stacks: dict[str, torch.Tensor],
        moving: set[str],
        c1: torch.Tensor,
        workspace: dict | None = None,
    ):
        self.stacks, self.moving, self.c1 = stacks, moving, c1
        self.points = c1.shape[0]
        self.workspace = {} if workspace is None else workspace
        self._cache: dict[str, torch.Tensor] = {}
        self._c1_as: dict[torch.dtype, torch.Tensor] = {}

    def coefficients(self, dtype: torch.dtype) -> torch.Tensor:
        """``c1`` in ``dtype``, converted once per chunk."""
        if dtype not in self._c1_as:
            self._c1_as[dtype] = self.c1.to(dtype)
        return self._c1_as[dtype]

    def buffer(self, key: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor that every chunk of this shape reuses for ``key``.

        Freshly allocated memory costs a page fault per 4 KiB on first write, which measured
        slower than the arithmetic for the big activations of small models; each key (a
        layer's name) has its own tensor, so a layer never writes over its own input.
        """
        index = (key, tuple(shape), like.dtype, like.device)
        if index not in self.workspace:
            self.workspace[index] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return self.workspace[index]

    def moves(self, *names: str | None) -> bool:
        """Whether any of these tensors differs between grid points."""
        return any(name in self.moving for name in names if name is not None)

    def get(self, name: str) -> tuple[torch.Tensor, bool]:
        """The tensor for ``name`` and whether it has a leading point dimension."""
        stack = self.stacks[name]
        if name not in self.moving:
            return stack[0], False
        if name not in self._cache:
            flat = stack.reshape(stack.shape[0], -1)
            out = self.buffer(f"weights:{name}", (self.points, flat.shape[1]), flat)
            combine(self.coefficients(stack.dtype), flat, out)
            self._cache[name] = out.view(self.points, *stack.shape[1:])
        return self._cache[name], True


def combine(c1: torch.Tensor, flat: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out = c1 @ flat``: ``(P, k + 1)`` coefficients times ``(k + 1, n)`` stacked values.

    One pass over ``out``, which is a reused buffer: a fresh result would cost a page fault per
    4 KiB on first write, which measured slower than the arithmetic itself.
    """
    return torch.mm(c1, flat, out=out)


Layout = str | None
Step = Callable[[torch.Tensor, Layout, PointValues, dict], tuple[torch.Tensor, Layout]]


class BatchedPlan:
    """A per-layer program evaluating an ``nn.Sequential`` at many grid points at once."""

    def __init__(self, steps: list[tuple[str, Step]]):
        self.steps = steps

    @classmethod
    def build(cls, model: nn.Module) -> tuple[BatchedPlan | None, str]:
        """Compile ``model`` into a plan, or return ``(None, reason)`` when unsupported."""
        leaves: list[tuple[str, nn.Module]] = []
        reason = _flatten(model, "", leaves)
        if reason:
            return None, reason
        steps = []
        for name, module in leaves:
            step = _step_for(name, module)
            if step is None:
                return None, f"module {name or '(root)'!r} ({type(module).__name__})"
            steps.append((name, step))
        return cls(steps), ""

    def __call__(self, x: torch.Tensor, values: PointValues, cache: dict) -> torch.Tensor:
        """Run the plan on one input batch; returns ``(P, batch, ...)`` outputs.

        ``cache`` is kept by the caller per data batch and holds the first layer's
        ``k + 1`` products across chunks of points.
        """
        h, layout = x, None
        for name, step in self.steps:
            try:
                h, layout = step(h, layout, values, cache)
            except Exception as exc:
                exc.viz3d_module = name  # named in the fallback message
                raise
        if layout is None:
            return h.unsqueeze(0).expand(values.points, *h.shape)
        return _to(h, layout, "PB")


def _flatten(module: nn.Module, prefix: str, out: list) -> str:
    if type(module).forward is nn.Sequential.forward:
        for child_name, child in module.named_children():
            reason = _flatten(child, f"{prefix}{child_name}.", out)
            if reason:
                return reason
        return ""
    if any(True for _ in module.children()):
        return (
            f"module {prefix[:-1] or '(root)'!r} ({type(module).__name__}) has its own forward; "
            "only nn.Sequential containers are walked layer by layer"
        )
    out.append((prefix[:-1], module))
    return ""


def _step_for(name: str, module: nn.Module) -> Step | None:
    kind = type(module)
    if kind is nn.Linear:
        return _linear(name, module)
    if kind in (nn.Conv1d, nn.Conv2d):
        return _conv(name, module) if module.padding_mode == "zeros" else None
    if kind in _BATCHNORMS:
        return _batchnorm(name, module)
    if kind is nn.LayerNorm:
        return _layernorm(name, module)
    if kind in _ELEMENTWISE:
        return _elementwise(module)
    if kind in _IDENTITY:
        return lambda h, layout, values, cache: (h, layout)
    if kind in _POOLS:
        return _per_sample(module)
    if kind in (nn.Softmax, nn.LogSoftmax) and module.dim is not None:
        return _softmax(module)
    if kind is nn.Flatten:
        return _flatten_step(module)
    return None


def _to(h: torch.Tensor, layout: str, wanted: str) -> torch.Tensor:
    return h if layout == wanted else h.transpose(0, 1)


def _shift(dim: int, layout: Layout) -> int:
    """Index of a per-sample dimension once a point dimension is added."""
    return dim + 1 if layout is not None and dim >= 0 else dim


def _point_view(t: torch.Tensor, layout: str, trailing: int) -> torch.Tensor:
    """``(P, C)`` per-point values shaped to broadcast over ``layout`` activations."""
    lead = (t.shape[0], 1) if layout == "PB" else (1, t.shape[0])
    return t.reshape(*lead, *t.shape[1:], *([1] * trailing))


def _elementwise(module: nn.Module) -> Step:
    inplace = getattr(module, "inplace", False)

    def step(h, layout, values, cache):
        if layout is not None and type(module) is nn.ReLU:
            return h.relu_(), layout  # batched activations are ours: save a memory pass
        if inplace and layout is None:
            h = h.clone()  # the unbatched activation may be the caller's own input tensor
        return module(h), layout

    return step


def _softmax(module: nn.Module) -> Step:
    fn = torch.softmax if type(module) is nn.Softmax else torch.log_softmax
    return lambda h, layout, values, cache: (fn(h, _shift(module.dim, layout)), layout)


def _flatten_step(module: nn.Flatten) -> Step:
    def step(h, layout, values, cache):
        start, end = _shift(module.start_dim, layout), _shift(module.end_dim, layout)
        return torch.flatten(h, start, end), layout

    return step


def _per_sample(module: nn.Module) -> Step:
    # CPU pooling kernels are an order of magnitude faster on channels-last images
    channels_last = type(module) in (nn.MaxPool2d, nn.AvgPool2d)

    def pool(x):
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return module(x)

    def step(h, layout, values, cache):
        if layout is None:
            return pool(h), None
        out = pool(h.reshape(-1, *h.shape[2:]))
        return out.view(h.shape[0], h.shape[1], *out.shape[1:]), layout

    return step


def _linear(name: str, module: nn.Linear) -> Step:
    w_name, b_name = f"{name}.weight", f"{name}.bias" if module.bias is not None else None

    def step(h, layout, values, cache):
        if layout is None and values.moves(w_name, b_name):
            return _affine_first_layer(name, h, values, cache, _linear_stack), "PB"
        w, w_moves = values.get(w_name)
        b, b_moves = values.get(b_name) if b_name else (None, False)
        if not (w_moves or b_moves):
            return F.linear(h, w, b), layout
        points = values.points
        h = _to(h, layout, "PB")
        flat = h.reshape(points, -1, h.shape[-1])
        if w_moves:
            out = _point_linear(values.buffer, name, flat, w, b, b_moves)
        else:
            out = F.linear(flat, w) + b.unsqueeze(1)
        return out.reshape(*h.shape[:-1], out.shape[-1]), "PB"

    def _linear_stack(x, values):
        ws = values.stacks[w_name]
        k1, out_features = ws.shape[0], ws.shape[1]
        bias = values.stacks[b_name].reshape(-1) if b_name else None
        z = F.linear(x, ws.reshape(k1 * out_features, -1), bias)  # (..., (k+1) * out)
        z = z.reshape(-1, k1, out_features).transpose(0, 1)
        return z.reshape(k1, *x.shape[:-1], out_features)

    return step


def _point_linear(
    buffer: Callable,
    name: str,
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    b_moves: bool,
) -> torch.Tensor:
    """``(P, rows, out)`` = ``x @ w[p].T + b`` with per-point weights ``w`` ``(P, out, in)``.

    With few outputs (a classifier head) the product is computed transposed, ``w @ x.T``,
    which BLAS runs 2-3x faster for so narrow a result; the result is then a transposed view,
    exactly the classes-first layout that cross-entropy reads.
    """
    points, rows, outputs = x.shape[0], x.shape[1], w.shape[1]
    if outputs < _NARROW:
        out = buffer(name, (points, outputs, rows), x)
        if b is None:
            torch.bmm(w, x.transpose(1, 2), out=out)
        else:
            bias = b.unsqueeze(2) if b_moves else b.view(1, -1, 1).expand(points, -1, 1)
            torch.baddbmm(bias, w, x.transpose(1, 2), out=out)
        return out.transpose(1, 2)
    out = buffer(name, (points, rows, outputs), x)
    if b is None:
        return torch.bmm(x, w.transpose(1, 2), out=out)
    bias = b.unsqueeze(1) if b_moves else b.expand(points, 1, -1)
    return torch.baddbmm(bias, x, w.transpose(1, 2), out=out)


def _conv(name: str, module: nn.Conv1d | nn.Conv2d) -> Step:
    w_name, b_name = f"{name}.weight", f"{name}.bias" if module.bias is not None else None
    conv = F.conv2d if type(module) is nn.Conv2d else F.conv1d
    options = {"stride": module.stride, "padding": module.padding, "dilation": module.dilation}
    groups = module.groups
    kernel = tuple(module.weight.shape[1:])

    def step(h, layout, values, cache):
        if layout is None and values.moves(w_name, b_name):
            return _affine_first_layer(name, h, values, cache, _conv_stack), "PB"
        w, w_moves = values.get(w_name)
        b, b_moves = values.get(b_name) if b_name else (None, False)
        if not (w_moves or b_moves):
            if layout is None:
                return conv(h, w, b, groups=groups, **options), None
            out = conv(h.reshape(-1, *h.shape[2:]), w, b, groups=groups, **options)
            return out.view(h.shape[0], h.shape[1], *out.shape[1:]), layout
        points = values.points
        w_all = w if w_moves else w.expand(points, *w.shape)
        bias = None
        if b is not None:
            bias = (b if b_moves else b.expand(points, -1)).reshape(-1)
        h = _to(h, layout, "BP")
        samples = h.shape[0]
        # points become the groups of one grouped convolution over (samples, P * C, ...)
        x = h.reshape(samples, points * h.shape[2], *h.shape[3:])
        out = conv(x, w_all.reshape(-1, *kernel), bias, groups=groups * points, **options)
        return out.view(samples, points, -1, *out.shape[2:]), "BP"

    def _conv_stack(x, values):
        ws = values.stacks[w_name]
        k1, out_channels = ws.shape[0], ws.shape[1]
        bs = values.stacks[b_name] if b_name else None
        if groups == 1:
            bias = bs.reshape(-1) if bs is not None else None
            z = conv(x, ws.reshape(k1 * out_channels, *ws.shape[2:]), bias, **options)
            z = z.view(z.shape[0], k1, out_channels, *z.shape[2:])
            return z.transpose(0, 1).contiguous()
        return torch.stack(
            [
                conv(x, ws[k], bs[k] if bs is not None else None, groups=groups, **options)
                for k in range(k1)
            ]
        )

    return step


def _affine_first_layer(
    name: str, x: torch.Tensor, values: PointValues, cache: dict, stack_fn: Callable
) -> torch.Tensor:
    """Output of a linear-in-weights layer on a fixed input at every point of the chunk."""
    if name not in cache:
        z = stack_fn(x, values)  # (k + 1, batch, ...), reused by every chunk
        cache[name] = (z.reshape(z.shape[0], -1).contiguous(), z.shape[1:])
    flat, shape = cache[name]
    out = values.buffer(name, (values.points, flat.shape[1]), flat)
    return combine(values.coefficients(flat.dtype), flat, out).view(values.points, *shape)


def _batchnorm(name: str, module: nn.Module) -> Step | None:
    if module.running_mean is None or module.running_var is None:
        return None  # without running statistics, eval mode normalises by batch statistics
    keys = {
        "running_mean": f"{name}.running_mean",
        "running_var": f"{name}.running_var",
        "weight": f"{name}.weight" if module.weight is not None else None,
        "bias": f"{name}.bias" if module.bias is not None else None,
    }
    eps = module.eps

    def read(values, key, default):
        if keys[key] is None:
            return default, False
        if keys[key] in values.stacks:
            return values.get(keys[key])
        return getattr(module, key), False  # a fixed buffer

    def step(h, layout, values, cache):
        mean, m1 = read(values, "running_mean", None)
        var, m2 = read(values, "running_var", None)
        gamma, m3 = read(values, "weight", 1.0)
        beta, m4 = read(values, "bias", 0.0)
        scale = gamma * torch.rsqrt(var + eps)
        shift = beta - mean * scale
        if not (m1 or m2 or m3 or m4):
            view = (-1,) + (1,) * (h.dim() - (2 if layout is None else 3))
            return h * scale.reshape(view) + shift.reshape(view), layout
        if layout is None:
            h, layout = h.unsqueeze(0), "PB"
        trailing = h.dim() - 3
        scale = scale.expand(values.points, -1) if scale.dim() == 1 else scale
        shift = shift.expand(values.points, -1) if shift.dim() == 1 else shift
        return (
            h * _point_view(scale, layout, trailing) + _point_view(shift, layout, trailing),
            layout,
        )

    return step


def _layernorm(name: str, module: nn.LayerNorm) -> Step:
    w_name = f"{name}.weight" if module.weight is not None else None
    b_name = f"{name}.bias" if getattr(module, "bias", None) is not None else None
    shape, eps = tuple(module.normalized_shape), module.eps

    def step(h, layout, values, cache):
        out = F.layer_norm(h, shape, None, None, eps)
        for param_name, combine in ((w_name, torch.mul), (b_name, torch.add)):
            if param_name is None:
                continue
            p, moves = values.get(param_name)
            if moves:
                if layout is None:
                    out, layout = out.unsqueeze(0), "PB"
                lead = (values.points, 1) if layout == "PB" else (1, values.points)
                middle = [1] * (out.dim() - 2 - len(shape))
                p = p.view(*lead, *middle, *shape)
            out = combine(out, p)
        return out, layout

    return step
