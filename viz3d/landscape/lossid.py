"""Fingerprint of a loss function's configuration, so a store is never resumed for another loss.

A loss is described by what decides its values: for an ``nn.Module`` its class, its public
attributes (``label_smoothing``, ``reduction`` ...), a hash of its parameters and buffers and
its submodules; for a plain function, lambda or ``functools.partial`` its qualified name, a
hash of its code, its defaults, closure cells, the globals it reads and its bound arguments.
Anything whose state cannot be read makes the configuration *unknown*; a store made with such
a loss is resumed only when the user says ``resume="force"``.
"""

from __future__ import annotations

import builtins
import dis
import enum
import functools
import hashlib
import inspect
import math
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from viz3d.landscape.directions import tensor_hash

# Deeper than this, a configuration is treated as unknown rather than walked forever.
_MAX_DEPTH = 8
_BUILTIN_CALLABLES = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
)
_GLOBAL_LOADS = {"LOAD_GLOBAL", "LOAD_NAME"}
# Functions and loss classes of these packages are named, not walked into.
_LIBRARIES = {"torch", "numpy", "functools", "math", "operator", "builtins"}


def qualified_name(value: Any) -> str:
    """``module.QualName`` of a function, or of the class of any other object.

    Examples
    --------
    >>> import torch
    >>> qualified_name(torch.nn.MSELoss())
    'torch.nn.modules.loss.MSELoss'
    """
    if isinstance(value, nn.Module) or not hasattr(value, "__qualname__"):
        value = type(value)
    return f"{getattr(value, '__module__', None) or '?'}.{value.__qualname__}"


def loss_fingerprint(loss_fn: Callable) -> dict[str, Any]:
    """JSON-able description of ``loss_fn``'s configuration.

    Parameters
    ----------
    loss_fn : callable
        A loss module, function, lambda, ``functools.partial`` or callable object.

    Returns
    -------
    dict
        ``{"name": ..., "config": ...}``; when the configuration cannot be determined,
        ``config`` is None and ``unknown`` says which part could not be read.

    Examples
    --------
    >>> import torch
    >>> a = loss_fingerprint(torch.nn.CrossEntropyLoss())
    >>> b = loss_fingerprint(torch.nn.CrossEntropyLoss(label_smoothing=0.9))
    >>> a == b, a["config"]["state"]["label_smoothing"], b["config"]["state"]["label_smoothing"]
    (False, 0.0, 0.9)
    >>> loss_fingerprint(lambda o, t: (o - t).mean())["name"]
    'viz3d.landscape.lossid.<lambda>'
    """
    name = qualified_name(loss_fn)
    try:
        return {"name": name, "config": _Describer().describe(loss_fn, "loss_fn", 0)}
    except _Unknown as exc:
        return {"name": name, "config": None, "unknown": str(exc)}


class _Unknown(Exception):
    """A part of the configuration cannot be read; the message says which."""


class _Describer:
    def __init__(self) -> None:
        self._active: set[int] = set()  # objects being described: a cycle is only named

    def describe(self, value: Any, where: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise _Unknown(f"{where} is nested more than {_MAX_DEPTH} levels deep")
        plain = _plain(value)
        if plain is not _NOT_PLAIN:
            return plain
        if id(value) in self._active:
            return {"cycle": qualified_name(value)}
        self._active.add(id(value))
        try:
            return self._compound(value, where, depth + 1)
        finally:
            self._active.discard(id(value))

    def _compound(self, value: Any, where: str, depth: int) -> Any:
        if isinstance(value, (tuple, list)):
            return [self.describe(v, f"{where}[{i}]", depth) for i, v in enumerate(value)]
        if isinstance(value, (set, frozenset)):
            items = [self.describe(v, f"{where} item", depth) for v in value]
            return {"set": sorted(items, key=repr)}
        if isinstance(value, dict):
            return {
                "dict": [
                    [
                        self.describe(k, f"{where} key", depth),
                        self.describe(v, f"{where}[{k!r}]", depth),
                    ]
                    for k, v in value.items()
                ]
            }
        if isinstance(value, functools.partial):
            return {
                "partial": self.describe(value.func, f"{where}.func", depth),
                "args": self.describe(value.args, f"{where}.args", depth),
                "keywords": self.describe(value.keywords, f"{where}.keywords", depth),
            }
        if isinstance(value, types.FunctionType):
            return self._function(value, where, depth)
        if isinstance(value, types.MethodType):
            return {
                "method": self.describe(value.__func__, f"{where}.__func__", depth),
                "self": self.describe(value.__self__, f"{where}.__self__", depth),
            }
        if isinstance(value, _BUILTIN_CALLABLES):
            owner = getattr(value, "__self__", None)
            if owner is None or isinstance(owner, (types.ModuleType, type)):
                return {"builtin": _builtin_name(value)}
            return {
                "builtin": _builtin_name(value),
                "self": self.describe(owner, f"{where}.__self__", depth),
            }
        if isinstance(value, nn.Module):
            return self._module(value, where, depth)
        return self._object(value, where, depth)

    def _function(self, fn: types.FunctionType, where: str, depth: int) -> dict[str, Any]:
        code = fn.__code__
        description = {
            "function": qualified_name(fn),
            "code": _code_hash(code),
            "defaults": self.describe(fn.__defaults__, f"{where} defaults", depth),
            "kwdefaults": self.describe(fn.__kwdefaults__, f"{where} defaults", depth),
        }
        if _from_library(fn):
            return description  # its name, code and defaults fix it; its internals are not ours
        cells = {}
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not filled yet
                cells[name] = "<empty>"
                continue
            cells[name] = self.describe(contents, f"{where} closure {name!r}", depth)
        reads = {}
        for name in sorted(_global_names(code)):
            if name in fn.__globals__:
                reads[name] = self.describe(fn.__globals__[name], f"{where} global {name!r}", depth)
            elif not hasattr(builtins, name):
                reads[name] = "<undefined>"
        return {**description, "closure": cells, "globals": reads}

    def _module(self, module: nn.Module, where: str, depth: int) -> dict[str, Any]:
        description = {
            "class": qualified_name(module),
            "state": self._public_state(module, where, depth),
            "parameters": tensor_hash(dict(module.named_parameters(recurse=False))),
            "buffers": tensor_hash(dict(module.named_buffers(recurse=False))),
            "modules": {
                name: self.describe(child, f"{where}.{name}", depth)
                for name, child in module.named_children()
            },
        }
        if not _from_library(type(module)):
            forward = type(module).forward
            description["forward"] = self.describe(forward, f"{where}.forward", depth)
        return description

    def _object(self, value: Any, where: str, depth: int) -> dict[str, Any]:
        if not hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
            raise _Unknown(f"{where} is a {qualified_name(value)} whose state viz3d cannot read")
        description = {
            "object": qualified_name(value),
            "state": self._public_state(value, where, depth),
        }
        call = inspect.getattr_static(type(value), "__call__", None)
        if isinstance(call, types.FunctionType):
            description["call"] = self.describe(call, f"{where}.__call__", depth)
        return description

    def _public_state(self, value: Any, where: str, depth: int) -> dict[str, Any]:
        return {
            name: self.describe(entry, f"{where}.{name}", depth)
            for name, entry in sorted(vars(value).items())
            if not name.startswith("_")
        }


class _NotPlain:
    pass


_NOT_PLAIN = _NotPlain()


def _plain(value: Any) -> Any:
    """A leaf's JSON-able description, or ``_NOT_PLAIN`` for anything with parts."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # JSON has no inf or NaN
    if isinstance(value, (complex, bytes, bytearray)):
        return {"repr": repr(value)} if isinstance(value, complex) else _bytes_hash(value)
    if isinstance(value, enum.Enum):
        return {"enum": f"{qualified_name(type(value))}.{value.name}"}
    if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
        return {"torch": str(value)}
    if isinstance(value, torch.Tensor):
        if value.is_meta:
            return {"tensor": list(value.shape), "dtype": str(value.dtype), "meta": True}
        sha = tensor_hash({"": value})
        return {"tensor": list(value.shape), "dtype": str(value.dtype), "sha256": sha}
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return _plain(value.item())
    if isinstance(value, np.ndarray) and value.dtype != object:
        return {
            "array": list(value.shape),
            "dtype": str(value.dtype),
            **_bytes_hash(value.tobytes()),
        }
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if isinstance(value, type):
        return {"class": qualified_name(value)}
    return _NOT_PLAIN


def _bytes_hash(data: bytes | bytearray) -> dict[str, str]:
    return {"sha256": hashlib.sha256(bytes(data)).hexdigest()}


def _builtin_name(fn: Any) -> str:
    owner = getattr(fn, "__objclass__", None) or getattr(fn, "__self__", None)
    module = getattr(fn, "__module__", None) or getattr(owner, "__module__", None)
    if module is None and isinstance(owner, types.ModuleType):
        module = owner.__name__
    return f"{module or '?'}.{getattr(fn, '__qualname__', getattr(fn, '__name__', '?'))}"


def _from_library(value: Any) -> bool:
    return (getattr(value, "__module__", None) or "").split(".")[0] in _LIBRARIES


def _code_hash(code: types.CodeType) -> str:
    """sha256 of the bytecode, the constants and the names it uses (nested code included)."""
    digest = hashlib.sha256()
    _feed_code(digest, code)
    return digest.hexdigest()


def _feed_code(digest: Any, code: types.CodeType) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(digest, const)
        else:
            digest.update(_const_repr(const).encode())


def _const_repr(const: Any) -> str:
    # frozenset order depends on the per-process string hash seed: sort it
    if isinstance(const, frozenset):
        return "frozenset(" + ",".join(sorted(_const_repr(c) for c in const)) + ")"
    if isinstance(const, tuple):
        return "(" + ",".join(_const_repr(c) for c in const) + ")"
    return repr(const)


def _global_names(code: types.CodeType) -> set[str]:
    """Names the code (and the code nested in it) reads from the module's globals."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_LOADS}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
