"""Loss at many grid points: batched plan, then ``vmap``, then a per-point loop.

The evaluator owns a private copy of the model (eval mode, no gradients), the centre
weights and the directions. Given the coefficients of a chunk of points it returns their
losses, each the batch-size-weighted mean over all data batches.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any, Self

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from viz3d.errors import LandscapeError
from viz3d.landscape.batched import BatchedPlan, PointValues
from viz3d.landscape.data import Batch, batch_size
from viz3d.landscape.directions import Direction

log = logging.getLogger(__name__)

# Working set per chunk of points: on CPU small enough to stay in the last-level cache,
# which measured faster than large chunks; on GPU large enough to fill the device.
_CPU_BUDGET_BYTES = 12 * 2**20
_GPU_BUDGET_FRACTION = 0.25
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class Evaluator:
    """Evaluate ``loss_fn`` over all ``batches`` at ``theta0 + sum_k c_k d_k``.

    Parameters
    ----------
    model : torch.nn.Module
        A private copy of the user's model, in eval mode, on the evaluation device.
    theta0 : dict
        Centre values of the tensors that directions may move.
    directions : list of dict
        Same keys as ``theta0``.
    loss_fn : callable
        ``loss_fn(outputs, targets)`` returning a scalar mean over the batch.
    batches : list
        Output of :func:`viz3d.landscape.data.as_batches`.
    bn : {"eval", "recalibrate"}
        BatchNorm handling; ``"recalibrate"`` re-estimates running statistics per point.
    batch_points : int or None
        Grid points per pass; None picks it from a memory budget.
    """

    def __init__(
        self,
        model: nn.Module,
        theta0: dict[str, torch.Tensor],
        directions: list[Direction],
        loss_fn: Callable,
        batches: list[Batch],
        *,
        bn: str = "eval",
        batch_points: int | None = None,
    ):
        if bn not in ("eval", "recalibrate"):
            raise LandscapeError(f"bn={bn!r} is not supported; use 'eval' or 'recalibrate'")
        self.model, self.theta0, self.directions = model, theta0, directions
        self.loss_fn, self.batches, self.bn = loss_fn, batches, bn
        self.stacks = {
            name: torch.stack([w, *(d[name] for d in directions)]) for name, w in theta0.items()
        }
        self.moving = {name for name in theta0 if any(bool(d[name].any()) for d in directions)}
        self.weights = torch.tensor([batch_size(b) for b in batches], dtype=torch.float64)
        self.weights /= self.weights.sum()
        self.point_loss = _PointLoss(loss_fn)
        self.plan, self.strategy, self.fallback_reason = None, "loop", ""
        if bn == "recalibrate":
            for module in model.modules():
                if isinstance(module, _BN_TYPES):
                    module.momentum = None  # cumulative average over all of the data
        else:
            self.plan, reason = BatchedPlan.build(model)
            self.strategy = (
                "batched" if self.plan is not None and len(batches[0][0]) == 1 else "vmap"
            )
            if self.strategy == "vmap":
                self.fallback_reason = reason or "the model takes several inputs"
        self.batch_points = batch_points or self._auto_batch_points()
        self._caches: list[dict] = [{} for _ in batches]
        self._workspace: dict = {}  # activation buffers reused by every chunk
        self._decided = False

    def __call__(self, coeffs: np.ndarray) -> np.ndarray:
        """Losses (float64, NaN where not finite) at the points with these coefficients."""
        out = []
        for start in range(0, len(coeffs), self.batch_points):
            out.append(self._chunk(coeffs[start : start + self.batch_points]))
        return np.concatenate(out) if out else np.zeros(0)

    def _chunk(self, coeffs: np.ndarray) -> np.ndarray:
        c = torch.as_tensor(coeffs, dtype=torch.float64)
        if not self._decided:
            losses = self._decide(c)
        else:
            losses = self._run(self.strategy, c)
        values = losses.cpu().numpy()
        values[~np.isfinite(values)] = np.nan
        return values

    def _decide(self, c: torch.Tensor) -> torch.Tensor:
        """Run the first chunk with the fastest strategy that works on this model."""
        order = {"batched": ["batched", "vmap", "loop"], "vmap": ["vmap", "loop"]}
        for strategy in order.get(self.strategy, ["loop"]):
            try:
                losses = self._run(strategy, c)
            except LandscapeError:
                raise
            except Exception as exc:  # any failure means: try the next way
                if strategy == "loop":
                    raise
                where = getattr(exc, "viz3d_module", None)
                self.fallback_reason = (
                    f"{strategy} evaluation failed"
                    + (f" in module {where!r}" if where else "")
                    + f": {type(exc).__name__}: {exc}"
                )
                continue
            if strategy != "batched" and self.fallback_reason:
                message = (
                    f"viz3d.landscape: evaluating grid points with {strategy!r} "
                    f"({self.fallback_reason}); slower than the batched path"
                )
                if strategy == "loop":
                    warnings.warn(message, RuntimeWarning, stacklevel=4)
                    log.warning(message)
                else:
                    log.info(message)
            self.strategy, self._decided = strategy, True
            return losses
        raise AssertionError("unreachable: the loop strategy either returns or raises")

    def _run(self, strategy: str, c: torch.Tensor) -> torch.Tensor:
        if strategy == "loop":
            with torch.no_grad():
                return self._loop(c)
        total = torch.zeros(len(c), dtype=torch.float64)
        with torch.no_grad():
            c1 = torch.cat([torch.ones(len(c), 1, dtype=c.dtype), c], dim=1)
            device = next(iter(self.stacks.values())).device
            values = PointValues(self.stacks, self.moving, c1.to(device), self._workspace)
            per_point = {}
            if strategy == "vmap":
                per_point = {name: values.get(name)[0] for name in self.moving}
            for b, (batch, weight) in enumerate(zip(self.batches, self.weights)):
                inputs, targets = batch
                if strategy == "batched":
                    outputs = self.plan(inputs[0], values, self._caches[b])
                else:
                    outputs = self._vmapped(per_point, inputs)
                total += weight * self.point_loss(outputs, targets).double().cpu()
        return total

    def _vmapped(self, per_point: dict, inputs: tuple) -> torch.Tensor:
        def forward(params, *xs):
            return functional_call(self.model, params, xs)

        in_dims = (0,) + (None,) * len(inputs)
        with _ModuleTracker(self.model) as tracker:
            try:
                return torch.vmap(forward, in_dims=in_dims)(per_point, *inputs)
            except Exception as exc:
                exc.viz3d_module = tracker.last
                raise

    def _loop(self, c: torch.Tensor) -> torch.Tensor:
        losses = []
        for coeff in c.tolist():
            params = self.point_params(coeff)
            buffers = self._recalibrate(params) if self.bn == "recalibrate" else {}
            losses.append(self.loss_at({**params, **buffers}))
        return torch.tensor(losses, dtype=torch.float64)

    def loss_at(self, tensors: dict[str, torch.Tensor]) -> float:
        """Loss over all data with these parameters and buffers (the rest from the model)."""
        loss = torch.zeros((), dtype=torch.float64)
        with torch.no_grad():
            for (inputs, targets), weight in zip(self.batches, self.weights):
                outputs = self._forward(tensors, inputs)
                loss = loss + weight * _scalar(self.loss_fn(outputs, targets)).double().cpu()
        return float(loss)

    def point_params(self, coeff: list[float]) -> dict[str, torch.Tensor]:
        """Weights of one point, ``theta0 + sum_k c_k d_k``, built from the centre."""
        params = {}
        for name, w in self.theta0.items():
            if name in self.moving:
                for value, d in zip(coeff, self.directions):
                    w = w + value * d[name]
            params[name] = w
        return params

    def _forward(self, tensors: dict, inputs: tuple) -> torch.Tensor:
        with _ModuleTracker(self.model) as tracker:
            try:
                return functional_call(self.model, tensors, inputs)
            except Exception as exc:
                raise LandscapeError(
                    f"the model's forward failed in module {tracker.last or '(root)'} "
                    f"on inputs of shape {[tuple(x.shape) for x in inputs]}: "
                    f"{type(exc).__name__}: {exc}; check that data's inputs fit the model"
                ) from exc

    def _recalibrate(self, params: dict) -> dict[str, torch.Tensor]:
        """BatchNorm running statistics re-estimated on all data for these weights."""
        buffers = {}
        bn_modules = [(n, m) for n, m in self.model.named_modules() if isinstance(m, _BN_TYPES)]
        for name, module in bn_modules:
            if module.running_mean is None:
                continue
            buffers[f"{name}.running_mean"] = torch.zeros_like(module.running_mean)
            buffers[f"{name}.running_var"] = torch.ones_like(module.running_var)
            buffers[f"{name}.num_batches_tracked"] = torch.zeros_like(module.num_batches_tracked)
        try:
            for _, module in bn_modules:
                module.train()
            for inputs, _ in self.batches:
                self._forward({**params, **buffers}, inputs)  # updates the buffers in place
        finally:
            for _, module in bn_modules:
                module.eval()
        return buffers

    def _auto_batch_points(self) -> int:
        """Points per chunk such that activations and weights fit the memory budget."""
        sizes = []
        # the batched plan applies ReLU in place: its output takes no memory of its own
        in_place = (nn.ReLU,) if self.strategy == "batched" else ()
        hooks = [
            m.register_forward_hook(lambda mod, args, out: sizes.append(_numel_bytes(out)))
            for m in self.model.modules()
            if not any(True for _ in m.children()) and not isinstance(m, in_place)
        ]
        inputs = self.batches[0][0]
        try:
            with torch.no_grad():
                self._forward(dict(self.theta0), inputs)
        finally:
            for hook in hooks:
                hook.remove()
        largest = max(batch_size(b) for b in self.batches) / batch_size(self.batches[0])
        per_point = sum(sizes) * largest
        per_point += sum(
            self.stacks[n][0].numel() * self.stacks[n].element_size() for n in self.moving
        )
        device = inputs[0].device
        if device.type == "cuda":
            budget = torch.cuda.mem_get_info(device)[0] * _GPU_BUDGET_FRACTION
        else:
            budget = _CPU_BUDGET_BYTES
        return max(1, int(budget // max(per_point, 1)))


class _PointLoss:
    """``loss_fn`` applied to each point's slice of ``(P, batch, ...)`` outputs -> ``(P,)``.

    Cross-entropy and MSE with default options are computed directly on the batched
    outputs; any other loss is vmapped over the point dimension, or else called per point.
    """

    def __init__(self, loss_fn: Callable):
        self.loss_fn = loss_fn
        self.mode: str | None = None

    def __call__(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        if self.mode is None:
            self.mode = self._choose(outputs, targets)
        if self.mode == "cross_entropy":
            return _cross_entropy(outputs, targets, self.loss_fn.ignore_index)
        if self.mode == "mse":
            return (outputs - targets).pow(2).flatten(1).mean(1)
        if self.mode == "vmap":
            return torch.vmap(self.loss_fn, in_dims=(0, None))(outputs, targets)
        return torch.stack([_scalar(self.loss_fn(o, targets)) for o in outputs])

    def _choose(self, outputs: torch.Tensor, targets: Any) -> str:
        fn = self.loss_fn
        if (
            type(fn) is nn.CrossEntropyLoss
            and fn.weight is None
            and fn.label_smoothing == 0
            and fn.reduction == "mean"
            and isinstance(targets, torch.Tensor)
            and not targets.is_floating_point()
            and targets.dim() == 1
            and outputs.dim() == 3
        ):
            return "cross_entropy"
        if (
            type(fn) is nn.MSELoss
            and fn.reduction == "mean"
            and isinstance(targets, torch.Tensor)
            and tuple(targets.shape) == tuple(outputs.shape[1:])
        ):
            return "mse"
        _scalar(fn(outputs[0], targets))  # a clear error now if the loss is not a scalar
        try:
            value = torch.vmap(fn, in_dims=(0, None))(outputs[:2], targets)
            if tuple(value.shape) == (min(2, len(outputs)),):
                return "vmap"
        except Exception as exc:  # noqa: BLE001 - such losses are called per point
            log.debug("loss_fn cannot be vmapped (%s); calling it per point", exc)
        return "loop"


def _cross_entropy(outputs: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
    # classes moved to dim 1 so the per-sample reductions run along contiguous samples
    per_sample = F.cross_entropy(
        outputs.transpose(1, 2),
        targets.expand(outputs.shape[0], -1),
        ignore_index=ignore_index,
        reduction="none",
    )
    return per_sample.sum(1) / (targets != ignore_index).sum()


def _scalar(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise LandscapeError(
            f"loss_fn must return a scalar tensor (the mean loss over the batch), got {shape}; "
            "use reduction='mean' or wrap the loss to average it"
        )
    return value.reshape(())


def _numel_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_numel_bytes(v) for v in value)
    return 0


class _ModuleTracker:
    """Track the innermost module whose forward is running, to name it in error messages."""

    def __init__(self, model: nn.Module):
        self.model, self._stack, self._hooks = model, [], []

    @property
    def last(self) -> str:
        """``"name (Type)"`` of the innermost running module, or "" outside any."""
        if not self._stack:
            return ""
        name, module = self._stack[-1]
        return f"{name or '(root)'} ({type(module).__name__})"

    def __enter__(self) -> Self:
        for name, module in self.model.named_modules():
            self._hooks.append(module.register_forward_pre_hook(self._push(name)))
            self._hooks.append(module.register_forward_hook(self._pop))
        return self

    def _push(self, name: str) -> Callable:
        def hook(module, args):
            self._stack.append((name, module))

        return hook

    def _pop(self, module, args, output) -> None:
        self._stack.pop()

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
