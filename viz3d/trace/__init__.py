"""Tracing: run a model once and record its layer graph (see :func:`trace`)."""

from __future__ import annotations

import sys
import types
from typing import Any

import torch
from torch import nn

from viz3d.errors import InputError, TraceError
from viz3d.graph import LayerGraph
from viz3d.trace.inputs import ShapeLike, prepare_inputs
from viz3d.trace.modules import model_device
from viz3d.trace.recorder import Recorder, registration_graph

__all__ = ["Recorder", "trace"]


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def trace(
    model: nn.Module,
    inputs: Any = None,
    *,
    input_shape: ShapeLike | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    strict: bool = False,
    stats: bool = True,
    neuron_samples: int = 256,
    mode: str = "eval",
    grad: bool | None = None,
) -> LayerGraph:
    """Run ``model`` once and record its layer graph.

    The real forward pass runs (no ``torch.fx``), so Hugging Face models, models with dynamic
    control flow and partial models all work: the graph shows the control flow *as it actually
    ran* for these inputs (a loop that ran 3 times appears 3 times; a branch not taken does not
    appear). Module calls are recorded by forward hooks (a module called 3 times is one module
    with 3 calls, each call a node); tensor operations between modules (add, cat, matmul,
    softmax, view, in-place ops ...) by a torch function mode, linked producer -> consumer by
    tensor identity; FLOPs with ``torch.utils.flop_counter``'s formulas. Activations are
    summarised (mean, std, abs-max, a sample of ``neuron_samples`` neuron means), never kept.

    A TorchScript submodule (``torch.jit.script``/``trace``) is one opaque node: its compiled
    inside cannot be hooked, but its shapes, parameters and FLOPs are recorded and
    ``graph.info.notes`` says so. Parameters the forward uses but the model does not register
    (modules kept in a plain Python list) are counted in ``graph.info.unregistered_params``.

    Parameters
    ----------
    model
        Any ``torch.nn.Module``. On the ``meta`` device everything but activation statistics is
        recorded, so a 7B-parameter model can be traced with no weight memory.
    inputs
        A tensor (one positional argument), a tuple/list (several) or a dict (keyword arguments,
        Hugging Face style). ``None`` makes seeded random inputs of ``input_shape``.
    input_shape
        Shape of the random input (a list of shapes for several inputs). Token ids are made for
        models that start with an embedding. With neither ``inputs`` nor ``input_shape`` the
        shape is guessed from the first layer.
    dtype
        Floating dtype for the inputs.
    device
        Device of the inputs; the model must already be there (viz3d never moves your model).
    strict
        Raise :class:`viz3d.TraceError` when the forward fails instead of returning a partial
        graph (``graph.partial`` is ``True`` and ``graph.error`` names the failing module, its
        class and the shapes it received).
    stats
        Record activation statistics (off on ``meta``).
    mode
        ``"eval"`` (default: no dropout, BatchNorm running statistics untouched) or ``"same"``
        (keep the model's train/eval flags). The flags are restored afterwards either way.
    grad
        Run the forward with autograd on (``True``) or off (``False``: less memory). By
        default it runs under ``torch.no_grad()`` and, when that fails because the forward
        calls ``torch.autograd`` itself (meta-learning inner loops, physics-informed nets),
        once more with gradients on; ``graph.info.notes`` says so.

    Returns
    -------
    LayerGraph

    Examples
    --------
    >>> import torch, viz3d
    >>> class Residual(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(8, 8)
    ...     def forward(self, x):
    ...         return x + self.fc(x)
    >>> g = viz3d.trace(Residual(), torch.randn(2, 8))
    >>> [g.nodes[n]["name"] for n in g.nodes]
    ['input', 'fc', 'add', 'output']
    >>> sorted((g.nodes[u]["name"], g.nodes[v]["name"]) for u, v in g.edges)
    [('add', 'output'), ('fc', 'add'), ('input', 'add'), ('input', 'fc')]
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"trace() needs a torch.nn.Module, got {type(model).__name__}")
    if mode not in ("eval", "same"):
        raise InputError(f"mode must be 'eval' or 'same', got {mode!r}")
    home = model_device(model)
    target = torch.device(device) if device is not None else home
    has_state = any(True for _ in model.parameters()) or any(True for _ in model.buffers())
    if has_state and not _same_device(home, target):
        raise InputError(
            f"{type(model).__name__} is on {home} but device={str(target)!r}: move the model "
            f"first (model.to({str(target)!r})); viz3d does not move your model"
        )
    try:
        args, kwargs = prepare_inputs(model, inputs, input_shape, dtype, target)
    except InputError as exc:
        if strict:
            raise
        return registration_graph(model, device=str(target), error=f"forward not run: {exc}")

    flags = [(m, m.training) for m in model.modules()]
    options = {"stats": stats and target.type != "meta", "samples": neuron_samples}
    try:
        if mode == "eval":
            model.eval()
        recorder, exc = _record(model, args, kwargs, grad=bool(grad), **options)
        if exc is not None and grad is None and _needs_autograd(exc):
            recorder, exc = _record(model, args, kwargs, grad=True, **options)
            recorder.notes.append(
                "traced with gradients enabled: the forward calls torch.autograd, which fails "
                "under torch.no_grad()"
            )
    finally:
        for module, training in flags:
            module.training = training
    if exc is None:
        return recorder.build(device=str(target))
    message = recorder.describe_failure(exc)
    if strict:
        raise TraceError(message) from exc
    if recorder.graph.number_of_nodes() == sum(
        1 for _, a in recorder.graph.nodes(data=True) if a["kind"] == "input"
    ):
        return registration_graph(model, device=str(target), error=message)
    return recorder.build(device=str(target), partial=True, error=message)


# What autograd says when a forward that differentiates runs under torch.no_grad()
_NO_GRAD_ERRORS = ("does not require grad", "does not have a grad_fn", "differentiated Tensors")


def _needs_autograd(exc: Exception) -> bool:
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _NO_GRAD_ERRORS)


def _record(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    grad: bool,
    stats: bool,
    samples: int,
) -> tuple[Recorder, Exception | None]:
    """One recorded forward pass; the exception it raised, if any, is returned, not raised."""
    recorder = Recorder(model, stats=stats, samples=samples)
    try:
        with torch.set_grad_enabled(grad), recorder:
            recorder.add_inputs(args, kwargs)
            recorder.add_outputs(recorder(*args, **kwargs))
    except Exception as exc:
        return recorder, exc
    return recorder, None


class _CallableModule(types.ModuleType):
    """Importing ``viz3d.trace`` (this package) rebinds the name ``viz3d.trace`` to the package,
    shadowing the function; making the package callable keeps ``viz3d.trace(model)`` working."""

    def __call__(self, *args: Any, **kwargs: Any) -> LayerGraph:
        return trace(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
