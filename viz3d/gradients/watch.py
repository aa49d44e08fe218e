"""``viz3d.watch``: light hooks that snapshot gradients and activations during training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.gradients.flow import GradientFlow
from viz3d.gradients.layers import layer_norm_of, parametric_layers


@dataclass
class Snapshot:
    """Statistics of one watched training step."""

    step: int
    grad_norms: dict[str, float] = field(default_factory=dict)
    weight_norms: dict[str, float] = field(default_factory=dict)
    activations: dict[str, dict[str, float]] = field(default_factory=dict)


class Watcher:
    """Records gradient and activation statistics every ``every`` training steps.

    A step is one forward call of the model with gradients enabled in training mode (evaluation
    passes under ``torch.no_grad()`` or in ``eval()`` mode are not counted). Only reads happen in
    the hooks, so training gives bit-identical results with and without a watcher. Use it as a
    context manager, or call :meth:`close` to remove the hooks.

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> with viz3d.watch(model, every=5) as watcher:
    ...     for _ in range(20):
    ...         opt.zero_grad(); model(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
    >>> [s.step for s in watcher.snapshots]
    [0, 5, 10, 15]
    >>> list(watcher.gradient_flow().grad_norms)
    ['0', '2']
    """

    def __init__(self, model: nn.Module, every: int = 1, *, activations: bool = True) -> None:
        if every < 1:
            raise InputError(f"every must be at least 1, got {every}")
        self.model = model
        self.every = every
        self.snapshots: list[Snapshot] = []
        self._layers = parametric_layers(model)
        if not self._layers:
            raise InputError(f"{type(model).__name__} has no trainable parameters to watch")
        self._step = -1
        self._inputs: Any = None
        self._current: Snapshot | None = None
        self._grad_sq: dict[str, float] = {}
        self._handles = [model.register_forward_pre_hook(self._on_step, with_kwargs=True)]
        for name, module in self._layers.items():
            if activations:
                self._handles.append(module.register_forward_hook(self._activation_hook(name)))
            for p in module.parameters(recurse=False):
                if p.requires_grad:
                    self._handles.append(p.register_hook(self._grad_hook(name)))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook and keep the snapshots taken so far."""
        self._finish()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _on_step(self, module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        if not (module.training and torch.is_grad_enabled()):
            return
        self._finish()
        self._step += 1
        if self._step % self.every == 0:
            self._current = Snapshot(self._step)
            self._grad_sq = {}
            if self._inputs is None:  # one batch, kept to trace the architecture for pictures
                self._inputs = (
                    kwargs if kwargs and not args else (args[0] if len(args) == 1 else tuple(args))
                )

    def _finish(self) -> None:
        if self._current is None:
            return
        snap, self._current = self._current, None
        order = list(snap.activations) + [n for n in self._grad_sq if n not in snap.activations]
        snap.grad_norms = {n: self._grad_sq[n] ** 0.5 for n in order if n in self._grad_sq}
        snap.weight_norms = {n: layer_norm_of(self._layers[n], "data") for n in snap.grad_norms}
        self.snapshots.append(snap)

    def _activation_hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if (
                self._current is None
                or not isinstance(output, torch.Tensor)
                or not output.is_floating_point()
            ):
                return
            with torch.no_grad():
                x = output.detach().float()
                self._current.activations.setdefault(
                    name,
                    {
                        "mean": float(x.mean()),
                        "std": float(x.std(correction=0)),
                        "absmax": float(x.abs().max()),
                    },
                )

        return hook

    def _grad_hook(self, name: str):
        def hook(grad: torch.Tensor) -> None:
            if self._current is not None:
                self._grad_sq[name] = self._grad_sq.get(name, 0.0) + float(
                    grad.detach().double().pow(2).sum()
                )

        return hook

    def movie(
        self,
        path: str,
        *,
        seconds_per_snapshot: float = 0.5,
        fps: int = 12,
        window_size: tuple[int, int] = (1280, 720),
        progress: bool = True,
    ) -> Any:
        """A training-dynamics video: the 3D architecture recoloured by gradient norm at every
        snapshot (see :func:`viz3d.render.gradients.gradient_dynamics_movie`)."""
        from viz3d.api import choose_view
        from viz3d.layout import compute_layout
        from viz3d.render.gradients import gradient_dynamics_movie

        flow = self.gradient_flow()
        layout = compute_layout(choose_view(flow.graph, fold=False))
        return gradient_dynamics_movie(
            layout,
            flow.history,
            flow.steps,
            path,
            seconds_per_snapshot=seconds_per_snapshot,
            fps=fps,
            window_size=window_size,
            progress=progress,
        )

    def gradient_flow(self) -> GradientFlow:
        """The snapshots as a :class:`GradientFlow`: ``grad_norms`` of the latest one, ``history``
        and ``steps`` of all of them."""
        self._finish()
        done = [s for s in self.snapshots if s.grad_norms]
        if not done:
            raise InputError(
                "no snapshot has gradients yet: run at least one backward pass on a watched step"
            )
        last = done[-1]
        from viz3d.trace import trace

        return GradientFlow(
            dict(last.grad_norms),
            dict(last.weight_norms),
            None,
            [s.grad_norms for s in done],
            [s.step for s in done],
            model_name=type(self.model).__name__,
            graph=trace(self.model, self._inputs),
        )


def watch(model: nn.Module, every: int = 1, *, activations: bool = True) -> Watcher:
    """Record gradient and activation statistics every ``every`` steps (see :class:`Watcher`)."""
    return Watcher(model, every, activations=activations)
