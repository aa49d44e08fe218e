"""Evaluate many grid points in one pass through an ``nn.Sequential`` model.

Activations carry a leading point dimension ``P``: ``(P, batch, ...)``. Each layer reads
its weights per point, ``theta0 + c1 * d1 + ... + ck * dk``, as a ``(P, ...)`` tensor.
Until the first layer with moving weights the activations do not depend on the point and
keep their plain ``(batch, ...)`` shape. That first layer sees a fixed input ``x``, so its
output is affine in the coefficients, ``f(x; W0) + c1 f(x; D1) + ... + ck f(x; Dk)`` for a
Linear or Conv layer: ``k + 1`` products (cached per data batch) serve every grid point.
"""

from __future__ import annotations

from collections.abc import Callable
import torch
import torch.nn.functional as F
from torch import nn

_ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Tanhshrink, nn.Softsign, nn.LogSigmoid,
)
_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_POOLS = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


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
    """

    def __init__(self, stacks: dict[str, torch.Tensor], moving: set[str], c1: torch.Tensor):
        self.stacks, self.moving, self.c1 = stacks, moving, c1
        self.points = c1.shape[0]
        self._cache: dict[str, torch.Tensor] = {}

    def get(self, name: str) -> tuple[torch.Tensor, bool]:
        """The tensor for ``name`` and whether it has a leading point dimension."""
        stack = self.stacks[name]
        if name not in self.moving:
            return stack[0], False
        if name not in self._cache:
            flat = self.c1.to(stack.dtype) @ stack.reshape(stack.shape[0], -1)
            self._cache[name] = flat.view(self.points, *stack.shape[1:])
        return self._cache[name], True


Step = Callable[[torch.Tensor, bool, PointValues, dict], tuple[torch.Tensor, bool]]


class BatchedPlan:
    """A per-layer program evaluating an ``nn.Sequential`` at many grid points at once."""

    def __init__(self, steps: list[tuple[str, Step]]):
        self.steps = steps

    @classmethod
    def build(cls, model: nn.Module, names: set[str]) -> tuple[BatchedPlan | None, str]:
        """Compile ``model`` into a plan, or return ``(None, reason)`` when unsupported.

        ``names`` are the tensors that may move; every parameter or buffer a layer reads
        must be among them (or be a buffer that is fixed, read from the module).
        """
        leaves: list[tuple[str, nn.Module]] = []
        reason = _flatten(model, "", leaves)
        if reason:
            return None, reason
        steps = []
        for name, module in leaves:
            step = _step_for(name, module, names)
            if step is None:
                return None, f"module {name or '(root)'!r} ({type(module).__name__})"
            steps.append((name, step))
        return cls(steps), ""

    def __call__(
        self, x: torch.Tensor, values: PointValues, cache: dict
    ) -> torch.Tensor:
        """Run the plan on one input batch; returns ``(P, batch, ...)`` outputs.

        ``cache`` is kept by the caller per data batch and holds the first layer's
        ``k + 1`` products across chunks of points.
        """
        h, batched = x, False
        for name, step in self.steps:
            try:
                h, batched = step(h, batched, values, cache)
            except Exception as exc:
                exc.viz3d_module = name  # named in the fallback message
                raise
        if not batched:
            h = h.unsqueeze(0).expand(values.points, *h.shape)
        return h


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


def _step_for(name: str, module: nn.Module, names: set[str]) -> Step | None:
    kind = type(module)
    if kind is nn.Linear:
        return _linear(name, module)
    if kind is nn.Conv2d or kind is nn.Conv1d:
        return _conv(name, module) if module.padding_mode == "zeros" else None
    if kind in _BATCHNORMS:
        return _batchnorm(name, module, names)
    if kind is nn.LayerNorm:
        return _layernorm(name, module)
    if kind in _ELEMENTWISE:
        return _elementwise(module)
    if kind in _IDENTITY:
        return lambda h, batched, values, cache: (h, batched)
    if kind in _POOLS:
        return _per_sample(module)
    if kind in (nn.Softmax, nn.LogSoftmax) and module.dim is not None:
        return _softmax(module)
    if kind is nn.Flatten:
        return _flatten_step(module)
    return None


def _shift(dim: int, batched: bool) -> int:
    """Index of an unbatched dimension once a leading point dimension is added."""
    return dim + 1 if batched and dim >= 0 else dim


def _elementwise(module: nn.Module) -> Step:
    inplace = getattr(module, "inplace", False)

    def step(h, batched, values, cache):
        if inplace and not batched:
            h = h.clone()  # the unbatched activation may be the caller's own input tensor
        return module(h), batched

    return step


def _softmax(module: nn.Module) -> Step:
    fn = torch.softmax if type(module) is nn.Softmax else torch.log_softmax
    return lambda h, batched, values, cache: (fn(h, _shift(module.dim, batched)), batched)


def _flatten_step(module: nn.Flatten) -> Step:
    def step(h, batched, values, cache):
        start, end = _shift(module.start_dim, batched), _shift(module.end_dim, batched)
        return torch.flatten(h, start, end), batched

    return step


def _per_sample(module: nn.Module) -> Step:
    def step(h, batched, values, cache):
        if not batched:
            return module(h), False
        out = module(h.reshape(-1, *h.shape[2:]))
        return out.view(h.shape[0], h.shape[1], *out.shape[1:]), True

    return step


def _linear(name: str, module: nn.Linear) -> Step:
    w_name, b_name = f"{name}.weight", f"{name}.bias" if module.bias is not None else None

    def step(h, batched, values, cache):
        w, w_moves = values.get(w_name)
        b, b_moves = values.get(b_name) if b_name else (None, False)
        if not (w_moves or b_moves):
            out = F.linear(h, w, b)
            return out, batched
        if not batched:
            return _affine_first_layer(name, h, values, cache, _linear_stack), True
        points = values.points
        flat = h.reshape(points, -1, h.shape[-1])
        if w_moves:
            if b is None:
                out = torch.bmm(flat, w.transpose(1, 2))
            else:
                bias = b.unsqueeze(1) if b_moves else b.expand(points, 1, -1)
                out = torch.baddbmm(bias, flat, w.transpose(1, 2))
        else:
            out = F.linear(flat, w)
            out = out + (b.unsqueeze(1) if b_moves else b)
        return out.view(*h.shape[:-1], out.shape[-1]), True

    def _linear_stack(x, values):
        ws = values.stacks[w_name]
        k1, out_features = ws.shape[0], ws.shape[1]
        flat_w = ws.reshape(k1 * out_features, -1)
        bias = values.stacks[b_name].reshape(-1) if b_name else None
        z = F.linear(x, flat_w, bias)  # (..., (k+1) * out)
        z = z.reshape(-1, k1, out_features).transpose(0, 1)
        return z.reshape(k1, *x.shape[:-1], out_features)

    return step


def _conv(name: str, module: nn.Conv2d | nn.Conv1d) -> Step:
    w_name, b_name = f"{name}.weight", f"{name}.bias" if module.bias is not None else None
    conv = F.conv2d if type(module) is nn.Conv2d else F.conv1d
    options = dict(stride=module.stride, padding=module.padding, dilation=module.dilation)
    groups = module.groups

    def step(h, batched, values, cache):
        w, w_moves = values.get(w_name)
        b, b_moves = values.get(b_name) if b_name else (None, False)
        if not (w_moves or b_moves):
            if not batched:
                return conv(h, w, b, groups=groups, **options), False
            out = conv(h.reshape(-1, *h.shape[2:]), w, b, groups=groups, **options)
            return out.view(h.shape[0], h.shape[1], *out.shape[1:]), True
        if not batched:
            return _affine_first_layer(name, h, values, cache, _conv_stack), True
        points, samples = h.shape[0], h.shape[1]
        if not w_moves:
            w = w.expand(points, *w.shape)
        # points become groups of one grouped convolution over (samples, P * C, ...)
        x = h.transpose(0, 1).reshape(samples, points * h.shape[2], *h.shape[3:])
        bias = None
        if b is not None:
            bias = (b if b_moves else b.expand(points, -1)).reshape(-1)
        out = conv(x, w.reshape(-1, *w.shape[2:]), bias, groups=groups * points, **options)
        out = out.view(samples, points, -1, *out.shape[2:]).transpose(0, 1)
        return out, True

    def _conv_stack(x, values):
        ws = values.stacks[w_name]
        k1, out_channels = ws.shape[0], ws.shape[1]
        bs = values.stacks[b_name] if b_name else None
        if groups == 1:
            bias = bs.reshape(-1) if bs is not None else None
            z = conv(x, ws.reshape(k1 * out_channels, *ws.shape[2:]), bias, **options)
            z = z.view(z.shape[0], k1, out_channels, *z.shape[2:])
            return z.transpose(0, 1).contiguous()
        return torch.stack([
            conv(x, ws[k], bs[k] if bs is not None else None, groups=groups, **options)
            for k in range(k1)
        ])

    return step


def _affine_first_layer(
    name: str, x: torch.Tensor, values: PointValues, cache: dict, stack_fn: Callable
) -> torch.Tensor:
    """Output of a linear-in-weights layer on a fixed input at every point of the chunk."""
    if name not in cache:
        cache[name] = stack_fn(x, values)  # (k + 1, batch, ...), reused by every chunk
    z = cache[name]
    out = values.c1.to(z.dtype) @ z.reshape(z.shape[0], -1)
    return out.view(values.points, *z.shape[1:])


def _batchnorm(name: str, module: nn.Module, names: set[str]) -> Step | None:
    if module.running_mean is None or module.running_var is None:
        return None  # without running statistics, eval mode normalises by batch statistics
    keys = {
        "mean": f"{name}.running_mean",
        "var": f"{name}.running_var",
        "weight": f"{name}.weight" if module.weight is not None else None,
        "bias": f"{name}.bias" if module.bias is not None else None,
    }
    eps = module.eps

    def read(values, key, default):
        if keys[key] is None:
            return default, False
        if keys[key] in values.stacks:
            return values.get(keys[key])
        return getattr(module, key if key in ("weight", "bias") else f"running_{key}"), False

    def step(h, batched, values, cache):
        mean, m1 = read(values, "mean", None)
        var, m2 = read(values, "var", None)
        gamma, m3 = read(values, "weight", 1.0)
        beta, m4 = read(values, "bias", 0.0)
        scale = gamma * torch.rsqrt(var + eps)
        shift = beta - mean * scale
        per_point = m1 or m2 or m3 or m4
        if per_point and not batched:
            h, batched = h.unsqueeze(0), True
        trailing = h.dim() - (3 if batched else 2)
        if not per_point:
            view = (-1,) + (1,) * trailing
            return h * scale.reshape(view) + shift.reshape(view), batched
        view = (values.points, 1, -1) + (1,) * trailing
        scale = scale.expand(values.points, -1) if scale.dim() == 1 else scale
        shift = shift.expand(values.points, -1) if shift.dim() == 1 else shift
        return h * scale.reshape(view) + shift.reshape(view), True

    return step


def _layernorm(name: str, module: nn.LayerNorm) -> Step:
    w_name = f"{name}.weight" if module.weight is not None else None
    b_name = f"{name}.bias" if getattr(module, "bias", None) is not None else None
    shape, eps = tuple(module.normalized_shape), module.eps

    def step(h, batched, values, cache):
        out = F.layer_norm(h, shape, None, None, eps)
        for param_name, combine in ((w_name, torch.mul), (b_name, torch.add)):
            if param_name is None:
                continue
            p, moves = values.get(param_name)
            if moves:
                if not batched:
                    out, batched = out.unsqueeze(0), True
                p = p.view(values.points, *([1] * (out.dim() - 1 - len(shape))), *shape)
            out = combine(out, p)
        return out, batched

    return step


def describe(plan: BatchedPlan | None) -> list[str]:
    """Layer names of a plan, for the landscape's metadata."""
    return [] if plan is None else [name for name, _ in plan.steps]
