"""``compare(model_a, model_b)``: pair the modules, diff the weights, compare activations."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from tqdm.auto import tqdm

from viz3d.compare.activations import compare_activations
from viz3d.compare.diff import ModelDiff, ModuleDiff
from viz3d.compare.sources import ModuleSource, SafetensorsSource, as_source
from viz3d.compare.structure import Matching, ModuleRecord, match_modules, preorder
from viz3d.compare.weights import TensorDiff, tensor_diff
from viz3d.errors import InputError
from viz3d.graph import LayerGraph, split_call_key
from viz3d.trace.inputs import ShapeLike, prepare_inputs
from viz3d.trace.modules import model_device

Source = ModuleSource | SafetensorsSource


def compare(
    model_a: Any,
    model_b: Any,
    inputs: Any = None,
    *,
    input_shape: ShapeLike | None = None,
    progress: bool = True,
) -> ModelDiff:
    """Compare two models: which modules were added, removed, reshaped or retrained, and how.

    Modules are paired by qualified name, then by structure (class, parameter shapes) and
    position, so renamed modules and modules shifted by an inserted layer are still paired
    (see :mod:`viz3d.compare.structure`). For every paired module with weights: the relative
    change, cosine, rank of the update and its spectrum, zeros (pruning) and quantisation grids
    (see :mod:`viz3d.compare.weights`). With ``inputs`` (or ``input_shape``): linear CKA of each
    paired module's outputs and the divergence of the model outputs.

    Parameters
    ----------
    model_a, model_b : torch.nn.Module or path
        The base model and the changed one. A model on ``meta`` gives the structural diff only.
        A path to a ``.safetensors`` file or a directory of them (``save_pretrained``) is read
        one tensor at a time, so two models too big to hold twice can be compared.
    inputs : tensor, tuple or dict, optional
        Inputs for both forward passes (see :func:`viz3d.trace`); enables the activation
        comparison.
    input_shape : tuple, optional
        Shape of seeded random inputs instead (also enables the activation comparison).
    progress : bool, default: True
        Show a progress bar over the compared modules.

    Returns
    -------
    ModelDiff
        ``summary()`` prints a table, ``render()`` draws it, ``to_json()`` saves it.

    Examples
    --------
    >>> import torch, viz3d
    >>> a = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> b = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> b.load_state_dict(a.state_dict())
    <All keys matched successfully>
    >>> with torch.no_grad():
    ...     _ = [p.mul_(1.1) for p in b[2].parameters()]
    >>> diff = viz3d.compare(a, b, input_shape=(16, 8), progress=False)
    >>> diff.changed, round(diff["2"].relative_change, 3), round(diff["0"].cka, 4)
    (['2'], 0.1, 1.0)
    """
    source_a, graph_a = _prepare(model_a, "A", inputs, input_shape)
    source_b, graph_b = _prepare(model_b, "B", inputs, input_shape)
    values = source_a.has_values and source_b.has_values
    matching = match_modules(
        source_a.tree,
        source_b.tree,
        source_a.sample if values else None,
        source_b.sample if values else None,
    )
    notes = []
    weights: dict[str, dict[str, TensorDiff]] = {}
    if values:
        weights = _weight_diffs(source_a, source_b, matching, progress)
    else:
        side = "A" if not source_a.has_values else "B"
        notes.append(f"model {side} is on meta (no values): structural diff only")
    cka: dict[str, float | None] = {}
    output = None
    wants_activations = inputs is not None or input_shape is not None
    if wants_activations and values and source_a.model is not None and source_b.model is not None:
        cka, output = _activations(source_a.model, source_b.model, matching, inputs, input_shape)
    elif wants_activations:
        notes.append("activations need two models with values in memory: not compared")
    modules = _rows(source_a.tree, source_b.tree, matching, weights, cka)
    return ModelDiff(
        modules=modules,
        label_a=source_a.label,
        label_b=source_b.label,
        output=output,
        weights_compared=values,
        activations_compared=bool(cka),
        graph_a=graph_a,
        graph_b=graph_b,
        notes=notes,
    )


def _prepare(model: Any, side: str, inputs: Any, input_shape: Any) -> tuple[Source, LayerGraph]:
    """The model's source and traced graph; the trace's call order orders the module tree."""
    from viz3d.trace import trace

    if not isinstance(model, torch.nn.Module):
        source = as_source(model, side)
        return source, trace(source.skeleton(), stats=False)
    graph = trace(model, inputs, input_shape=input_shape, stats=False)
    order: dict[str, float] = {}
    for key, call in graph.info.calls.items():
        order.setdefault(split_call_key(key)[0], call.get("order", 0))
    return ModuleSource(model, graph.info.model_name or type(model).__name__, order), graph


def _weight_diffs(
    source_a: Source, source_b: Source, matching: Matching, progress: bool
) -> dict[str, dict[str, TensorDiff]]:
    """Own-parameter diffs per paired module (keyed by B's name), one tensor pair at a time."""
    todo = [
        (a, b)
        for a, b in matching.pairs.items()
        if source_a.tree[a].params and source_a.tree[a].params == source_b.tree[b].params
    ]
    done: dict[tuple[Any, Any], TensorDiff] = {}
    out: dict[str, dict[str, TensorDiff]] = {}
    for name_a, name_b in tqdm(todo, desc="comparing weights", disable=not progress, leave=False):
        out[name_b] = {}
        for param in source_a.tree[name_a].params:
            qa, qb = _qualified(name_a, param), _qualified(name_b, param)
            ta, tb = source_a.tensor(qa), source_b.tensor(qb)
            key = (_identity(ta, qa), _identity(tb, qb))
            if key not in done:  # tied weights (an LM head sharing the embedding) once
                done[key] = tensor_diff(ta, tb)
            out[name_b][param] = done[key]
            del ta, tb
    return out


def _identity(tensor: torch.Tensor, name: str) -> tuple[Any, ...]:
    if tensor.device.type == "meta":
        return (name,)
    return (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()), str(tensor.dtype))


def _qualified(module: str, param: str) -> str:
    return f"{module}.{param}" if module else param


def _activations(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module,
    matching: Matching,
    inputs: Any,
    input_shape: Any,
) -> tuple[dict[str, float | None], dict[str, Any] | None]:
    device = model_device(model_a)
    if model_device(model_b) != device:
        raise InputError(
            f"model A is on {device} and model B on {model_device(model_b)}: put both on one "
            "device to compare their activations"
        )
    args, kwargs = prepare_inputs(model_a, inputs, input_shape, None, device)
    try:
        return compare_activations(model_a, model_b, matching.pairs, args, kwargs)
    except Exception as exc:
        shapes = [tuple(t.shape) for t in (*args, *kwargs.values()) if hasattr(t, "shape")]
        raise InputError(
            f"running both models on inputs of shape {shapes} failed ({type(exc).__name__}: "
            f"{exc}); pass inputs both models accept"
        ) from exc


def _rows(
    tree_a: Mapping[str, ModuleRecord],
    tree_b: Mapping[str, ModuleRecord],
    matching: Matching,
    weights: Mapping[str, Mapping[str, TensorDiff]],
    cka: Mapping[str, float | None],
) -> list[ModuleDiff]:
    """One row per module of B (pre-order), each removed subtree after its last paired
    predecessor in A."""
    to_b = matching.pairs
    from_b = {b: a for a, b in to_b.items()}
    added = set(matching.added)
    sums: dict[str, tuple[float, float]] = {}

    def subtree(name_b: str) -> tuple[float, float]:
        delta = sum(d.norm_delta**2 for d in weights.get(name_b, {}).values())
        base = sum(d.norm_a**2 for d in weights.get(name_b, {}).values())
        for child in tree_b[name_b].children:
            cd, cb = subtree(child)
            delta, base = delta + cd, base + cb
        sums[name_b] = (delta, base)
        return delta, base

    subtree("")
    rows: list[tuple[float, ModuleDiff]] = []
    index_b = {name: i for i, name in enumerate(preorder(tree_b, ""))}
    for name_b, i in index_b.items():
        name_a = from_b.get(name_b)
        if name_a is None and name_b not in added:
            continue  # inside an added subtree: its top row stands for it
        rb = tree_b[name_b]
        ra = tree_a[name_a] if name_a is not None else None
        delta, base = sums[name_b]
        row = ModuleDiff(
            name_a=name_a,
            name_b=name_b,
            type_a=ra.type if ra else "",
            type_b=rb.type,
            status=_status(ra, rb, weights.get(name_b)),
            weights=dict(weights.get(name_b, {})),
            relative_change=math.sqrt(delta / base) if base > 0 and ra is not None else None,
            cka=cka.get(name_b),
            params_a=ra.size if ra else 0,
            params_b=rb.size,
            own_params=bool(rb.params or (ra and ra.params)),
        )
        rows.append((float(i), row))
    removed = set(matching.removed)
    last = -1.0
    for name_a in preorder(tree_a, ""):
        if name_a in to_b:
            last = float(index_b[to_b[name_a]])
        elif name_a in removed:
            last += 1e-3
            ra = tree_a[name_a]
            rows.append(
                (
                    last,
                    ModuleDiff(
                        name_a=name_a,
                        name_b=None,
                        type_a=ra.type,
                        status="removed",
                        params_a=ra.size,
                        own_params=bool(ra.params),
                    ),
                )
            )
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


def _status(
    ra: ModuleRecord | None, rb: ModuleRecord, weights: Mapping[str, TensorDiff] | None
) -> str:
    if ra is None:
        return "added"
    if ra.params != rb.params or (ra.type and rb.type and ra.type != rb.type):
        return "shape_changed"
    if weights and any(d.changed for d in weights.values()):
        return "weight_changed"
    return "unchanged"
