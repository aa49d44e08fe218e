"""Where a compared model's modules and weights come from: a live module, or safetensors files.

Both give the same three things: a module tree (:class:`viz3d.compare.structure.ModuleRecord`),
one parameter tensor at a time by qualified name, and a small sample of a parameter's first
values for pairing. A safetensors source reads one tensor at a time through ``safe_open``
(memory-mapped), so two checkpoints too big to load together are compared with only two tensors
in memory at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from viz3d.compare.structure import SAMPLE, ModuleRecord, build_tree, natural_key
from viz3d.errors import InputError


class ModuleSource:
    """A live ``torch.nn.Module`` (on any device; ``meta`` has shapes but no values)."""

    def __init__(self, model: nn.Module, label: str, order: dict[str, float] | None = None):
        self.model = model
        self.label = label
        entries = [
            (
                name,
                type(module).__name__,
                {k: tuple(p.shape) for k, p in module._parameters.items() if p is not None},
            )
            for name, module in model.named_modules()
        ]
        self.tree: dict[str, ModuleRecord] = build_tree(entries, order)
        self.has_values = not any(p.is_meta for p in model.parameters())

    def tensor(self, name: str) -> torch.Tensor:
        """The parameter ``name`` (qualified), detached."""
        return self.model.get_parameter(name).detach()

    def sample(self, name: str) -> np.ndarray | None:
        """The first :data:`SAMPLE` values of a parameter, or ``None`` without values."""
        if not self.has_values:
            return None
        flat = self.tensor(name).reshape(-1)[:SAMPLE]
        return flat.to("cpu", torch.float64).numpy()


class SafetensorsSource:
    """One ``.safetensors`` file, or a directory of them (a sharded Hugging Face checkpoint).

    Modules are the parameter-name prefixes (``h.0.attn`` owns ``h.0.attn.c_attn.weight``'s
    parent); their classes are unknown (``""``), so they pair with any class.
    """

    def __init__(self, path: str | os.PathLike, label: str | None = None):
        try:
            from safetensors import safe_open
        except ImportError as exc:
            raise InputError(
                "comparing safetensors checkpoints needs the safetensors package: "
                "pip install safetensors"
            ) from exc
        self._open = safe_open
        root = Path(path)
        files = sorted(root.glob("*.safetensors")) if root.is_dir() else [root]
        if not files or not all(f.is_file() for f in files):
            raise InputError(
                f"{path} is not a .safetensors file or a directory holding some; pass a model, "
                "a file saved with safetensors.torch.save_file, or a save_pretrained directory"
            )
        self.model = None
        self.label = label or root.name
        self.has_values = True
        self._where: dict[str, Path] = {}
        shapes: dict[str, dict[str, tuple[int, ...]]] = {}
        for file in files:
            with self._open(file, framework="pt") as handle:
                for key in handle.keys():  # noqa: SIM118 (safe_open handles do not iterate)
                    self._where[key] = file
                    module, _, param = key.rpartition(".")
                    shape = tuple(handle.get_slice(key).get_shape())
                    shapes.setdefault(module, {})[param] = shape
        entries = [(name, "", shapes[name]) for name in sorted(shapes, key=natural_key)]
        self.tree = build_tree(entries)

    def tensor(self, name: str) -> torch.Tensor:
        """Read the tensor ``name`` from its file (only this one is loaded)."""
        with self._open(self._where[name], framework="pt") as handle:
            return handle.get_tensor(name)

    def sample(self, name: str) -> np.ndarray | None:
        """The first :data:`SAMPLE` values of the tensor, read from its first row only."""
        with self._open(self._where[name], framework="pt") as handle:
            piece = handle.get_slice(name)
            shape = piece.get_shape()
            if not shape:
                values = handle.get_tensor(name).reshape(-1)
            else:
                values = piece[0:1] if len(shape) > 1 else piece[0:SAMPLE]
        return values.reshape(-1)[:SAMPLE].to(torch.float64).numpy()

    def skeleton(self) -> nn.Module:
        """An empty module tree on ``meta`` with these parameter shapes (for drawing)."""
        return _skeleton(self.tree, "")


def _skeleton(tree: dict[str, ModuleRecord], name: str) -> nn.Module:
    module = nn.Module()
    for param, shape in tree[name].params.items():
        module.register_parameter(param, nn.Parameter(torch.empty(shape, device="meta")))
    for child in tree[name].children:
        module.add_module(tree[child].local, _skeleton(tree, child))
    return module


def as_source(model: Any, label: str) -> ModuleSource | SafetensorsSource:
    """A source for what the user passed: a module, or a path to safetensors weights."""
    if isinstance(model, nn.Module):
        return ModuleSource(model, label)
    if isinstance(model, (str, os.PathLike)):
        return SafetensorsSource(model, label=None)
    raise InputError(
        f"compare() takes torch.nn.Module models or paths to safetensors weights; {label} is a "
        f"{type(model).__name__}"
    )
