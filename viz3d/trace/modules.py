"""Static facts about a model's modules: parameters, structure signatures, leaves."""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn


def is_scripted(module: nn.Module) -> bool:
    """TorchScript modules (``torch.jit.script``/``trace``) run compiled code that no hook sees."""
    return isinstance(module, torch.jit.ScriptModule)


def type_name(module: nn.Module) -> str:
    """The class name users wrote: a scripted ``Sequential`` is ``Sequential``, not its wrapper."""
    if is_scripted(module):
        return getattr(module, "original_name", None) or type(module).__name__
    return type(module).__name__


def is_leaf(module: nn.Module, root: nn.Module | None = None) -> bool:
    """Leaf modules become single nodes; the ops inside them are not recorded separately.

    A module without children is a leaf, except a user-written root model (a model with no
    submodules is all ops, and those ops are what the user wants to see). A TorchScript module
    is always a leaf: its inside is compiled.
    """
    if is_scripted(module):
        return True
    if next(module.children(), None) is not None:
        return False
    return module is not root or type(module).__module__.startswith("torch.nn")


def unique_param_count(module: nn.Module) -> tuple[int, int]:
    """(all, trainable) parameter counts of a module, each shared tensor counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for p in module.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable


def module_table(model: nn.Module) -> dict[str, dict[str, Any]]:
    """One entry per module, in registration order, keyed by qualified name (root is ``""``).

    Each entry holds ``type``, ``params`` (subtree, shared once), ``own_params``, ``trainable``,
    ``calls`` (filled in by the recorder) and ``signature``, equal for modules with the same
    classes and parameter shapes all the way down (used to fold repeated blocks).
    """
    signatures: dict[int, str] = {}

    def signature(module: nn.Module) -> str:
        key = id(module)
        if key not in signatures:
            own = [(n, tuple(p.shape)) for n, p in module._parameters.items() if p is not None]
            children = [(n, signature(c)) for n, c in module.named_children()]
            text = repr((type_name(module), own, children))
            signatures[key] = hashlib.sha1(text.encode()).hexdigest()[:16]
        return signatures[key]

    table: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if name in table:
            continue
        params, trainable = unique_param_count(module)
        own = sum(p.numel() for p in module._parameters.values() if p is not None)
        table[name] = {
            "type": type_name(module),
            "params": params,
            "own_params": own,
            "trainable": trainable,
            "calls": 0,
            "signature": signature(module),
        }
    return table


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")
