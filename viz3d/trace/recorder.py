"""The recorder: module hooks plus torch function/dispatch modes around one forward pass.

Modules are followed by forward (pre-)hooks, tensor operations between modules by a
``TorchFunctionMode`` and FLOPs by a ``TorchDispatchMode`` using the formulas of
``torch.utils.flop_counter``. Tensors are linked producer -> consumer by identity: the recorder
remembers which node made each live tensor (weakly, so activations are freed as usual).
Everything is removed in ``__exit__``, whatever the forward did.
"""

from __future__ import annotations

import dataclasses
import sys
import weakref
from collections.abc import Mapping
from typing import Any, Self

import networkx as nx
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from viz3d.graph import GraphInfo, LayerGraph, call_key
from viz3d.trace.modules import is_leaf, is_scripted, module_table, unique_param_count
from viz3d.trace.modules import type_name as class_name
from viz3d.trace.ops import SKIPPED, is_inplace, op_category, op_name
from viz3d.trace.stats import activation_stats


def _fields(value: Any) -> dict[str, Any] | None:
    """The fields of a dataclass instance (inputs and outputs people write as dataclasses)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return None


def tensors_in(value: Any, depth: int = 0) -> list[torch.Tensor]:
    """Tensors inside nested tuples, lists, dicts (Hugging Face outputs) and dataclasses."""
    if isinstance(value, torch.Tensor):
        return [value]
    if depth > 4:
        return []
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v, depth + 1)]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in tensors_in(v, depth + 1)]
    fields = _fields(value)
    if fields is not None:
        return [t for v in fields.values() for t in tensors_in(v, depth + 1)]
    return []


def named_tensors(value: Any, prefix: str, depth: int = 0) -> list[tuple[str, torch.Tensor]]:
    """Like :func:`tensors_in`, with a readable path for each tensor (``output.logits``)."""
    if isinstance(value, torch.Tensor):
        return [(prefix, value)]
    if depth > 4:
        return []
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):  # a namedtuple
        items = zip(type(value)._fields, value)
        return [p for k, v in items for p in named_tensors(v, f"{prefix}.{k}", depth + 1)]
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return named_tensors(value[0], prefix, depth + 1)
        return [
            p for i, v in enumerate(value) for p in named_tensors(v, f"{prefix}[{i}]", depth + 1)
        ]
    if isinstance(value, Mapping) or _fields(value) is not None:
        items = value.items() if isinstance(value, Mapping) else _fields(value).items()
        return [p for k, v in items for p in named_tensors(v, f"{prefix}.{k}", depth + 1)]
    return []


def _shapes(tensors: list[torch.Tensor]) -> list[list[int]]:
    return [list(t.shape) for t in tensors]


class _FlopMode(TorchDispatchMode):
    """Adds the FLOPs of every aten op that has a formula to the recorder's running total.

    It sees every op, inside leaves and TorchScript code too, so it also notes parameters the
    model does not own (modules kept in a plain Python list).
    """

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        registered = self.recorder.registered
        for arg in args:
            if isinstance(arg, nn.Parameter) and id(arg) not in registered:
                self.recorder.unregistered[id(arg)] = arg.numel()
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.recorder.flops += formula(*args, **kwargs, out_val=out)
        return out


class _OpMode(TorchFunctionMode):
    """Records tensor operations that run outside leaf modules as op nodes."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder
        self._names: dict[Any, str] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        recorder = self.recorder
        if recorder.leaf_depth:
            return func(*args, **kwargs)
        try:
            name = self._names[func]
        except (KeyError, TypeError):
            name = op_name(func)
            try:
                self._names[func] = name
            except TypeError:
                pass
        if name in SKIPPED or name.startswith("_"):
            return func(*args, **kwargs)
        flops_before = recorder.flops
        try:
            out = func(*args, **kwargs)
        except Exception as exc:
            recorder.record_op(name, args, kwargs, None, flops_before, failure=exc)
            raise
        recorder.record_op(name, args, kwargs, out, flops_before)
        return out


class _ScriptedCall(nn.Module):
    """Stands in for a TorchScript module while recording, so hooks can see its calls.

    A ``ScriptModule`` refuses Python hooks; this plain module calls it and is hooked instead.
    The scripted module is kept outside ``_modules`` so the stand-in has no children.
    """

    def __init__(self, scripted: nn.Module) -> None:
        super().__init__()
        self.__dict__["scripted"] = scripted

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["scripted"](*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["scripted"], name)


def _scripted_roots(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost TorchScript modules of ``model`` (with their names), ``model`` included."""
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if is_scripted(module) and not any(name.startswith(f"{n}.") or not n for n, _ in found):
            found.append((name, module))
    return found


class Recorder:
    """Context manager that records one forward pass of ``model`` into a :class:`LayerGraph`.

    Use :func:`viz3d.trace` rather than this class; it exists separately so the recording can
    be tested and reused (e.g. by the transformer views) without the input handling.
    """

    def __init__(self, model: nn.Module, *, stats: bool = True, samples: int = 256) -> None:
        self.model = model
        self.stats = stats
        self.samples = samples
        self.modules = module_table(model)
        self._name_of = {
            id(m): n for n, m in reversed(list(model.named_modules(remove_duplicate=False)))
        }
        self._leaf = {id(m): is_leaf(m, model) for m in model.modules()}
        self.registered = {id(p) for p in model.parameters()}
        self.unregistered: dict[int, int] = {}
        self.notes: list[str] = []
        self._scripted = _scripted_roots(model)
        self._inside_scripted = {id(m) for _, top in self._scripted for m in top.modules()}
        self._swapped: list[tuple[nn.Module, str, nn.Module]] = []
        self._entry: nn.Module = model
        self.graph = nx.DiGraph()
        self.calls: dict[str, dict[str, Any]] = {}
        self.flops = 0
        self.leaf_depth = 0
        self.failure: dict[str, Any] | None = None
        self.failure_op: dict[str, Any] | None = None
        self._order = 0
        self._producers: dict[int, tuple[str, weakref.ref]] = {}
        self._scope: list[str] = []
        self._stack: list[tuple[str, bool, int, list[str], list[list[int]]]] = []
        self._handles: list[Any] = []
        self._modes: list[Any] = []

    # ------------------------------------------------------------- context manager
    def __enter__(self) -> Self:
        try:
            self._stand_in_for_scripted()
            for module in self._hookable():
                self._handles.append(
                    module.register_forward_pre_hook(self._pre_hook, with_kwargs=True)
                )
                self._handles.append(
                    module.register_forward_hook(
                        self._post_hook, with_kwargs=True, always_call=True
                    )
                )
            for mode in (_FlopMode(self), _OpMode(self)):
                mode.__enter__()
                self._modes.append(mode)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._modes:
            self._modes.pop().__exit__(None, None, None)
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        while self._swapped:
            parent, attr, scripted = self._swapped.pop()
            parent._modules[attr] = scripted
        self._entry = self.model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the model's forward (through its stand-in when the model itself is scripted)."""
        return self._entry(*args, **kwargs)

    def _stand_in_for_scripted(self) -> None:
        """Put a hookable :class:`_ScriptedCall` where each outermost ScriptModule sits.

        The user's model gets its own modules back in ``__exit__``, whatever the forward did.
        """
        for name, scripted in self._scripted:
            stand_in = _ScriptedCall(scripted)
            self._name_of[id(stand_in)] = name
            self._leaf[id(stand_in)] = True
            if not name:
                self._entry = stand_in
            else:
                parent_name, _, attr = name.rpartition(".")
                parent = self.model.get_submodule(parent_name)
                self._swapped.append((parent, attr, scripted))
                parent._modules[attr] = stand_in
            self.notes.append(
                f"'{name or self.modules[name]['type']}' is a TorchScript module: drawn as one "
                "node, since its compiled inside cannot be hooked (shapes, parameters and FLOPs "
                "are recorded)"
            )

    def _hookable(self) -> list[nn.Module]:
        modules = [m for m in self.model.modules() if id(m) not in self._inside_scripted]
        if self._entry is not self.model:
            modules.append(self._entry)
        return modules

    # ------------------------------------------------------------- tensors <-> nodes
    def _new_node(self, **attrs: Any) -> str:
        node = f"n{self._order}"
        self.graph.add_node(node, order=self._order, **attrs)
        self._order += 1
        return node

    def _producer(self, tensor: torch.Tensor) -> str | None:
        entry = self._producers.get(id(tensor))
        if entry is not None and entry[1]() is tensor:
            return entry[0]
        return None

    def _register(self, tensors: list[torch.Tensor], node: str) -> None:
        producers = self._producers
        for tensor in tensors:
            key = id(tensor)

            def forget(ref: weakref.ref, key: int = key) -> None:
                if producers.get(key, (None, None))[1] is ref:
                    del producers[key]

            producers[key] = (node, weakref.ref(tensor, forget))

    def _link(self, sources: list[tuple[str | None, torch.Tensor]], node: str) -> None:
        for source, tensor in sources:
            if source is None or source == node:
                continue
            if self.graph.has_edge(source, node):
                self.graph.edges[source, node]["count"] += 1
            else:
                self.graph.add_edge(
                    source, node, shape=list(tensor.shape), dtype=str(tensor.dtype)[6:], count=1
                )

    def _stats(self, tensors: list[torch.Tensor], type_name: str) -> dict[str, Any] | None:
        if not self.stats or not tensors:
            return None
        # the statistics' own ops are not the model's: the op mode must not record them (count
        # them as inside a leaf) and the FLOP mode must not see them (its Python dispatch per op
        # costs more than the reductions themselves)
        self.leaf_depth += 1
        try:
            with torch._C._DisableTorchDispatch():
                return activation_stats(tensors[0], type_name, self.samples)
        finally:
            self.leaf_depth -= 1

    # ------------------------------------------------------------- inputs and outputs
    def add_inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """One input node per tensor argument (``input``, ``input[1]``, ``input.input_ids``)."""
        named = named_tensors(args, "input") + named_tensors(kwargs, "input")
        for name, tensor in named:
            self._register([tensor], self._data_node("input", name, tensor))

    def add_outputs(self, output: Any) -> None:
        """One output node per tensor in the model's result, whatever its structure."""
        for name, tensor in named_tensors(output, "output"):
            self._link([(self._producer(tensor), tensor)], self._data_node("output", name, tensor))

    def _data_node(self, kind: str, name: str, tensor: torch.Tensor) -> str:
        """A node for one of the model's input or output tensors (data, not a layer)."""
        return self._new_node(
            kind=kind,
            name=name,
            type=kind.title(),
            out_shapes=[list(tensor.shape)],
            out_dtypes=[str(tensor.dtype)[6:]],
            stats=self._stats([tensor], kind.title()),
        )

    # ------------------------------------------------------------- module hooks
    def _pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        name = self._name_of[id(module)]
        entry = self.modules[name]
        call = entry["calls"]
        entry["calls"] = call + 1
        key = call_key(name, call)
        inputs = tensors_in((args, kwargs))
        in_shapes = _shapes(inputs)
        leaf = self._leaf[id(module)]
        sources = [(self._producer(t), t) for t in inputs] if leaf else []
        self.calls[key] = {
            "in_shapes": in_shapes,
            "out_shapes": [],
            "out_dtypes": [],
            "stats": None,
            "order": self._order,
        }
        self._order += 1
        self._stack.append((key, leaf, self.flops, sources, in_shapes))
        self._scope.append(key)
        if leaf:
            self.leaf_depth += 1

    def _post_hook(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        key, leaf, flops_before, sources, in_shapes = self._stack.pop()
        self._scope.pop()
        if leaf:
            self.leaf_depth -= 1
        exc = sys.exc_info()[1]
        failed = output is None and exc is not None
        name = self._name_of[id(module)]
        type_name = self.modules[name]["type"]
        if failed and (self.failure is None or self.failure["exception"] is not exc):
            self.failure = {
                "exception": exc,
                "module": name,
                "type": type_name,
                "in_shapes": in_shapes,
            }
        outputs = [] if failed else tensors_in(output)
        call = self.calls[key]
        call["out_shapes"] = _shapes(outputs)
        call["out_dtypes"] = [str(t.dtype)[6:] for t in outputs]
        call["stats"] = self._stats(outputs, type_name)
        if not leaf:
            return
        node = self._new_node(
            kind="module",
            name=name or type_name,
            type=type_name,
            module=name,
            call=int(key.rpartition("#")[2]),
            scope=list(self._scope),
            in_shapes=in_shapes,
            out_shapes=call["out_shapes"],
            out_dtypes=call["out_dtypes"],
            params=self.modules[name]["params"],
            flops=self.flops - flops_before,
            stats=call["stats"],
            failed=failed,
        )
        if isinstance(module, _ScriptedCall):
            self.graph.nodes[node]["scripted"] = True
        self._link(sources, node)
        self._register(outputs, node)

    # ------------------------------------------------------------- ops
    def record_op(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        out: Any,
        flops_before: int,
        failure: BaseException | None = None,
    ) -> None:
        """Add an op node for one function call made outside leaf modules."""
        inputs = tensors_in((args, kwargs))
        outputs = tensors_in(out)
        if not outputs and is_inplace(name) and args and isinstance(args[0], torch.Tensor):
            outputs = [args[0]]
        if not outputs and failure is None:
            return
        sources = [(self._producer(t), t) for t in inputs]
        node = self._new_node(
            kind="op",
            name=name,
            type=name,
            module=self._scope[-1].rpartition("#")[0] if self._scope else "",
            scope=list(self._scope),
            category=op_category(name),
            in_shapes=_shapes(inputs),
            out_shapes=_shapes(outputs),
            out_dtypes=[str(t.dtype)[6:] for t in outputs],
            flops=self.flops - flops_before,
            stats=self._stats(outputs, name),
            failed=failure is not None,
        )
        self._link(sources, node)
        self._register(outputs, node)
        if failure is not None:
            self.failure_op = {"exception": failure, "name": name, "in_shapes": _shapes(inputs)}

    # ------------------------------------------------------------- result
    def describe_failure(self, exc: BaseException) -> str:
        """What failed, where, and with which shapes: the message of a partial graph."""
        parts = []
        op = self.failure_op
        if op is not None and op["exception"] is exc:
            parts.append(f"op '{op['name']}' with input shapes {_shape_list(op['in_shapes'])}")
        failure = self.failure
        if failure is not None and failure["exception"] is exc:
            where = failure["module"] or "<root>"
            shapes = _shape_list(failure["in_shapes"])
            parts.append(f"module '{where}' ({failure['type']}) with input shapes {shapes}")
        location = " inside ".join(parts) if parts else type(self.model).__name__
        return f"forward failed in {location}: {type(exc).__name__}: {exc}"

    def build(self, *, device: str, partial: bool = False, error: str | None = None) -> LayerGraph:
        """The recorded graph with the model's totals."""
        total, trainable = unique_param_count(self.model)
        info = GraphInfo(
            model_name=class_name(self.model),
            total_params=total,
            trainable_params=trainable,
            total_flops=int(self.flops),
            device=device,
            partial=partial,
            error=error,
            modules=self.modules,
            calls=self.calls,
            unregistered_params=sum(self.unregistered.values()),
            notes=list(self.notes),
        )
        return LayerGraph(self.graph, info)


def _shape_list(shapes: list[list[int]]) -> str:
    return ", ".join("[" + ", ".join(map(str, s)) + "]" for s in shapes) or "(no tensors)"


def registration_graph(model: nn.Module, *, device: str, error: str) -> LayerGraph:
    """The module tree in registration order, for a model whose forward never ran.

    Leaf modules are chained in the order they were registered (seed 000's view); the edges are
    marked ``inferred`` because no tensor was seen flowing along them.
    """
    recorder = Recorder(model, stats=False)
    compiled_inside = recorder._inside_scripted - {id(m) for _, m in recorder._scripted}
    previous = None
    for name, module in model.named_modules():
        if not is_leaf(module, model) or id(module) in compiled_inside:
            continue
        parts = name.split(".") if name else []
        scope = [call_key(".".join(parts[:i]), 0) for i in range(len(parts))]
        for key in scope:
            recorder.calls.setdefault(
                key, {"in_shapes": [], "out_shapes": [], "stats": None, "order": 0}
            )
        node = recorder._new_node(
            kind="module",
            name=name or class_name(module),
            type=class_name(module),
            module=name,
            scope=scope,
            params=recorder.modules[name]["params"],
        )
        if previous is not None:
            recorder.graph.add_edge(previous, node, shape=[], dtype="", count=1, inferred=True)
        previous = node
    return recorder.build(device=device, partial=True, error=error)
