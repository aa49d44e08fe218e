"""Which modules count as "layers" for gradient statistics, and in which order they run."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def parametric_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Modules that own trainable parameters directly, by qualified name (registration order)."""
    return {
        name or type(model).__name__: module
        for name, module in model.named_modules()
        if any(p.requires_grad for p in module.parameters(recurse=False))
    }


def execution_order(
    model: nn.Module, layers: dict[str, nn.Module], run: Callable[[], object]
) -> list[str]:
    """Layer names in the order their modules first ran during ``run()``.

    Layers that never ran keep their registration order, after the ones that did.
    """
    seen: list[str] = []
    by_module = {id(m): n for n, m in layers.items()}

    def hook(module: nn.Module, args: object) -> None:
        name = by_module[id(module)]
        if name not in seen:
            seen.append(name)

    handles = [m.register_forward_pre_hook(hook) for m in layers.values()]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return seen + [n for n in layers if n not in seen]


def layer_norm_of(module: nn.Module, attr: str = "grad") -> float:
    """L2 norm of a module's own parameters' ``.grad`` (``attr="grad"``) or values (``"data"``)."""
    total = torch.zeros((), dtype=torch.float64)
    for p in module.parameters(recurse=False):
        value = p.grad if attr == "grad" else p.detach()
        if value is not None:
            total += value.detach().double().pow(2).sum().cpu()
    return float(total.sqrt())
