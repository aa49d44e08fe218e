"""Gradient flow: per-layer gradient norms from a few backward passes, vanishing/exploding flags."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.gradients.layers import execution_order, layer_norm_of, parametric_layers
from viz3d.graph import LayerGraph

VANISH_RATIO = 1e-3
EXPLODE_RATIO = 1e3

RULE = (
    f"relative to the gradient norm of the last layer (the one nearest the loss): vanishing "
    f"below {VANISH_RATIO:g} x, exploding above {EXPLODE_RATIO:g} x or not finite"
)


def flag_layers(grad_norms: dict[str, float]) -> tuple[list[str], list[str]]:
    """Apply :data:`RULE` to per-layer gradient norms in execution order.

    Returns ``(vanishing, exploding)``.

    Gradients flow back from the loss, so the layer nearest it is the yardstick: gradients that
    shrink or grow by three orders of magnitude on the way back vanish or explode. Scaling the
    loss scales every norm alike and flags nothing new.

    Examples
    --------
    >>> flag_layers({"a": 1e-9, "b": 0.5, "c": 1.0})
    (['a'], [])
    >>> flag_layers({"a": 5e4, "b": 30.0, "c": 1.0})
    ([], ['a'])
    """
    last = next(reversed(grad_norms.values())) if grad_norms else 0.0
    if not (math.isfinite(last) and last > 0):
        return [], [n for n, v in grad_norms.items() if not math.isfinite(v)]
    vanishing = [n for n, v in grad_norms.items() if v < VANISH_RATIO * last]
    exploding = [
        n for n, v in grad_norms.items() if not math.isfinite(v) or v > EXPLODE_RATIO * last
    ]
    return vanishing, exploding


@dataclass
class GradientFlow:
    """Per-layer gradient statistics in execution order.

    ``grad_norms`` maps layer name (module qualified name) to the L2 norm of its parameters'
    gradients, averaged over the backward passes in ``history``; ``weight_norms`` the norms of the
    weights; ``update_ratios`` (when an optimizer was given) ‖Δw‖/‖w‖ of one optimizer step.
    ``vanishing`` and ``exploding`` follow ``rule``.
    """

    grad_norms: dict[str, float]
    weight_norms: dict[str, float]
    update_ratios: dict[str, float] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    rule: str = RULE
    model_name: str = ""
    graph: LayerGraph | None = None

    @property
    def vanishing(self) -> list[str]:
        """Layers whose gradients vanish (see ``rule``)."""
        return flag_layers(self.grad_norms)[0]

    @property
    def exploding(self) -> list[str]:
        """Layers whose gradients explode (see ``rule``)."""
        return flag_layers(self.grad_norms)[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "grad_norms": self.grad_norms,
            "weight_norms": self.weight_norms,
            "update_ratios": self.update_ratios,
            "history": self.history,
            "steps": self.steps,
            "rule": self.rule,
            "vanishing": self.vanishing,
            "exploding": self.exploding,
            "model_name": self.model_name,
        }

    def render(self, *, depth: int | None = None, show: bool = True) -> Any:
        """The 3D architecture coloured by log10 gradient norm, vanishing/exploding layers outlined.

        Repeated blocks are not folded, so every flagged layer stays visible. Returns the
        :class:`viz3d.Scene` (``show=False`` only returns it).
        """
        if self.graph is None:
            raise InputError(
                "this GradientFlow has no traced graph to draw on: build it with "
                "viz3d.gradient_flow(model, inputs, ...) or Watcher.gradient_flow()"
            )
        from viz3d.api import choose_view
        from viz3d.layout import compute_layout
        from viz3d.render.gradients import render_gradient_flow

        layout = compute_layout(choose_view(self.graph, depth=depth, fold=False))
        scene = render_gradient_flow(
            layout, self.grad_norms, vanishing=self.vanishing, exploding=self.exploding
        )
        if show:
            scene.show()
        return scene

    def plot(self, path: str | None = None, *, ax: Any = None) -> Any:
        """A 2D line chart of gradient norms per layer (log scale), flagged layers marked.

        Returns the matplotlib figure; writes it to ``path`` when given (atomically: an
        interrupted write keeps the previous file).
        """
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, works headless

        if ax is None:
            fig = Figure(figsize=(10, 4), dpi=100)
            ax = fig.subplots()
        else:
            fig = ax.figure
        names = list(self.grad_norms)
        values = [max(v, 1e-30) for v in self.grad_norms.values()]
        ax.plot(range(len(names)), values, marker="o", color="#1f77b4", label="gradient norm")
        for flagged, colour, label in (
            (self.vanishing, "#d62728", "vanishing"),
            (self.exploding, "#ff7f0e", "exploding"),
        ):
            idx = [names.index(n) for n in flagged]
            if idx:
                ax.scatter(
                    idx,
                    [values[i] for i in idx],
                    s=80,
                    facecolors="none",
                    edgecolors=colour,
                    label=label,
                )
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("‖∇W‖ (log)")
        ax.set_title(f"Gradient flow{': ' + self.model_name if self.model_name else ''}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        if path is not None:
            from pathlib import Path

            from viz3d.files import atomic_write

            # the format comes from the target's extension (the temporary name keeps it too)
            fmt = Path(path).suffix[1:] or None
            atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt), suffix=Path(path).suffix)
        return fig


def _loss(loss_fn: Callable[..., torch.Tensor], output: Any, targets: Any) -> torch.Tensor:
    loss = loss_fn(output) if targets is None else loss_fn(output, targets)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise InputError(
            f"loss_fn must return a scalar tensor, got {type(loss).__name__}"
            f"{'' if not isinstance(loss, torch.Tensor) else ' of shape ' + str(list(loss.shape))}"
        )
    return loss.reshape(())


def _call(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def gradient_flow(
    model: nn.Module,
    inputs: Any,
    *,
    loss_fn: Callable[..., torch.Tensor],
    targets: Any = None,
    steps: int = 1,
    optimizer: torch.optim.Optimizer | None = None,
) -> GradientFlow:
    """Per-layer gradient norms from ``steps`` backward passes, in execution order.

    ``loss_fn(output, targets)`` (or ``loss_fn(output)`` without targets) must return a scalar.
    The model's parameters, their ``.grad``, its train/eval flags and the optimizer's state are
    all left exactly as they were: with an optimizer, one step is taken to measure the
    update/weight ratios ‖Δw‖/‖w‖ and then undone.

    Examples
    --------
    >>> import torch, viz3d
    >>> block = lambda: torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Sigmoid())
    >>> layers = [block() for _ in range(20)]
    >>> model = torch.nn.Sequential(*layers, torch.nn.Linear(16, 1))
    >>> flow = viz3d.gradient_flow(model, torch.randn(32, 16), loss_fn=lambda y: y.pow(2).mean())
    >>> flow.vanishing[0]
    '0.0'
    """
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    layers = parametric_layers(model)
    if not layers:
        raise InputError(
            f"{type(model).__name__} has no trainable parameters: there are no gradients to show"
        )
    params = [p for p in model.parameters() if p.requires_grad]
    saved_grads = [None if p.grad is None else p.grad.clone() for p in params]
    # parameters and buffers: a train-mode forward updates BatchNorm running statistics
    saved_state = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    before = {id(p): p.detach().clone() for p in params}
    saved_optimizer = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    history: list[dict[str, float]] = []
    update_ratios = None
    try:
        order: list[str] = []
        for step in range(steps):
            for p in params:
                p.grad = None

            def run():
                return _loss(loss_fn, _call(model, inputs), targets).backward()

            if step == 0:
                order = execution_order(model, layers, run)
            else:
                run()
            history.append({name: layer_norm_of(layers[name]) for name in order})
        weight_norms = {name: layer_norm_of(layers[name], "data") for name in order}
        if optimizer is not None:
            optimizer.step()
            update_ratios = {}
            for name in order:
                module = layers[name]
                delta = sum(
                    float((p.detach().double() - before[id(p)].double()).pow(2).sum())
                    for p in module.parameters(recurse=False)
                    if p.requires_grad
                )
                update_ratios[name] = math.sqrt(delta) / max(weight_norms[name], 1e-30)
    finally:
        with torch.no_grad():
            for key, value in model.state_dict(keep_vars=True).items():
                value.copy_(saved_state[key])
            for p, grad in zip(params, saved_grads):
                p.grad = grad
        if optimizer is not None:
            optimizer.load_state_dict(saved_optimizer)
    grad_norms = {name: sum(h[name] for h in history) / len(history) for name in order}
    from viz3d.trace import trace

    return GradientFlow(
        grad_norms,
        weight_norms,
        update_ratios,
        history,
        list(range(steps)),
        model_name=type(model).__name__,
        graph=trace(model, inputs),
    )
