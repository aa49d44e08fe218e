"""How similar two models' activations are on the same inputs: linear CKA per paired module and
the divergence of the outputs.

Linear CKA (Kornblith et al. 2019) compares two activation matrices with the same rows
(samples) and any number of columns (features): 1 for the same representation up to rotation
and scale, near 0 for unrelated ones. Rows are taken as: a 2-D output ``(batch, features)``
as is; a 3-D output ``(batch, tokens, features)`` one row per token; a conv output
``(batch, channels, *spatial)`` one row per position, channels as features.

A forward hook on each paired module of A keeps its output as that matrix; B's hooks compare
each output with A's as it comes, so only one model's activations are held. Both models run
in eval mode without gradients; their train/eval flags are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from viz3d.trace.recorder import tensors_in


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float | None:
    """Linear CKA of two ``(samples, features)`` matrices; ``None`` for fewer than 2 samples or a
    constant matrix.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(50, 8)
    >>> round(linear_cka(x, 3 * x @ torch.linalg.qr(torch.randn(8, 8))[0]), 6)
    1.0
    """
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        return None
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    if x.shape[0] < max(x.shape[1], y.shape[1]):
        k, l_ = x @ x.T, y @ y.T  # Gram form: cheaper when there are fewer samples than features
        cross, norm_x, norm_y = (k * l_).sum(), k.norm(), l_.norm()
    else:
        cross = (y.T @ x).pow(2).sum()
        norm_x, norm_y = (x.T @ x).norm(), (y.T @ y).norm()
    if norm_x == 0 or norm_y == 0:
        return None
    return float(min(1.0, cross / (norm_x * norm_y)))


def as_rows(t: torch.Tensor) -> torch.Tensor | None:
    """The activation as a ``(samples, features)`` float matrix (see the module docstring)."""
    if not t.is_floating_point() or t.ndim < 2:
        return None
    t = t.detach().float()
    if t.ndim == 3:
        return t.reshape(-1, t.shape[-1])
    if t.ndim > 3:
        return t.movedim(1, -1).reshape(-1, t.shape[1])
    return t


def _first_rows(output: Any) -> torch.Tensor | None:
    tensors = tensors_in(output)
    return as_rows(tensors[0]) if tensors else None


def output_divergence(out_a: Any, out_b: Any) -> dict[str, Any] | None:
    """``{"kind": "kl", "value": ...}`` for logits (mean KL(A||B) per position, nats), else
    ``{"kind": "relative_error", "value": ||b - a|| / ||a||}`` on the first tensor output.

    Examples
    --------
    >>> import torch
    >>> output_divergence(torch.ones(2, 3), torch.ones(2, 3))
    {'kind': 'relative_error', 'value': 0.0}
    """
    la, lb = _logits(out_a), _logits(out_b)
    if la is not None and lb is not None and la.shape == lb.shape:
        pa = torch.log_softmax(la.double(), dim=-1)
        pb = torch.log_softmax(lb.double(), dim=-1)
        kl = (pa.exp() * (pa - pb)).sum(-1).mean()
        return {"kind": "kl", "value": max(0.0, float(kl))}
    ta, tb = tensors_in(out_a), tensors_in(out_b)
    if not ta or not tb or ta[0].shape != tb[0].shape or not ta[0].is_floating_point():
        return None
    a, b = ta[0].double(), tb[0].double()
    norm = float(a.norm())
    error = float((b - a).norm()) / norm if norm > 0 else float((b - a).norm())
    return {"kind": "relative_error", "value": error}


def _logits(output: Any) -> torch.Tensor | None:
    if isinstance(output, Mapping):
        found = output.get("logits")
    else:
        found = getattr(output, "logits", None)
    return found if isinstance(found, torch.Tensor) and found.is_floating_point() else None


def compare_activations(
    model_a: nn.Module,
    model_b: nn.Module,
    pairs: Mapping[str, str],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> tuple[dict[str, float | None], dict[str, Any] | None]:
    """Linear CKA per pair ``{name_a: name_b}`` (keyed by B's name) and the output divergence.

    A module called several times is compared on its first call.
    """
    kept: dict[str, torch.Tensor | None] = {}
    cka: dict[str, float | None] = {}
    modules_a = dict(model_a.named_modules())
    modules_b = dict(model_b.named_modules())

    def keep(name: str):
        def hook(_module, _inputs, output):
            kept.setdefault(name, _first_rows(output))

        return hook

    def measure(name_a: str, name_b: str):
        def hook(_module, _inputs, output):
            if name_b in cka:
                return
            x, y = kept.pop(name_a, None), _first_rows(output)
            cka[name_b] = linear_cka(x, y) if x is not None and y is not None else None

        return hook

    handles = [modules_a[a].register_forward_hook(keep(a)) for a in pairs if a in modules_a]
    outputs = []
    try:
        outputs.append(_run(model_a, args, kwargs))
        for h in handles:
            h.remove()
        handles = [
            modules_b[b].register_forward_hook(measure(a, b))
            for a, b in pairs.items()
            if a in modules_a and b in modules_b
        ]
        outputs.append(_run(model_b, args, kwargs))
    finally:
        for h in handles:
            h.remove()
        kept.clear()
    return cka, output_divergence(*outputs)


def _run(model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            return model(*args, **kwargs)
    finally:
        for module, training in flags:
            module.training = training
