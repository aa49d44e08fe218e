"""Model specs: the strings the command line accepts to name a model.

* ``sample:<name>`` - a built-in sample (``viz3d.zoo.SAMPLES``);
* ``pkg.module:Factory`` or ``path/to/file.py:Factory`` - a callable returning a module (or a
  module instance);
* ``path/to/dir`` - a Hugging Face model saved with ``save_pretrained`` (loaded with
  ``local_files_only=True``: nothing is downloaded);
* ``hf:<arch>`` - a Hugging Face architecture built from its default config plus overrides, by
  model type (``hf:gpt2``) or class name (``hf:GPT2LMHeadModel``), with random weights.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from viz3d.errors import SpecError
from viz3d.zoo import SAMPLES, build_sample


@dataclass
class ResolvedModel:
    """A model named by a spec, with the input shape and device it is best traced with."""

    model: nn.Module
    input_shape: tuple[int, ...] | None
    device: str
    label: str


def parse_overrides(text: str | None) -> dict[str, Any]:
    """``"n_layer=2,n_embd=64,act=gelu"`` -> ``{"n_layer": 2, "n_embd": 64, "act": "gelu"}``."""
    overrides: dict[str, Any] = {}
    for item in filter(None, (text or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"config override {item!r} is not key=value (e.g. n_layer=2)")
        try:
            overrides[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value.strip()
    return overrides


def _from_factory(target: Any, label: str) -> nn.Module:
    model = target() if callable(target) and not isinstance(target, nn.Module) else target
    if not isinstance(model, nn.Module):
        raise SpecError(f"{label} gave a {type(model).__name__}, not a torch.nn.Module")
    return model


def _load_python(spec: str) -> nn.Module:
    where, _, attr = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise SpecError(f"no such file: {path}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise SpecError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise SpecError(f"cannot import {where!r}: {exc}") from exc
    if not hasattr(module, attr):
        raise SpecError(f"{where} has no attribute {attr!r}")
    return _from_factory(getattr(module, attr), spec)


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise SpecError("Hugging Face specs need transformers: pip install 'viz3d[hf]'") from exc
    return transformers


def _load_hf_dir(path: Path) -> nn.Module:
    tf = _transformers()
    config = json.loads((path / "config.json").read_text())
    arch = (config.get("architectures") or [None])[0]
    cls = getattr(tf, arch, None) if arch else None
    loader = cls if cls is not None else tf.AutoModel
    try:
        return loader.from_pretrained(path, local_files_only=True).eval()
    except Exception as exc:
        raise SpecError(f"loading the Hugging Face model in {path} failed: {exc}") from exc


def _build_hf_arch(name: str, overrides: dict[str, Any]) -> nn.Module:
    tf = _transformers()
    cls = getattr(tf, name, None)
    try:
        if isinstance(cls, type) and issubclass(cls, tf.PreTrainedModel):
            return cls(cls.config_class(**overrides)).eval()
        config = tf.AutoConfig.for_model(name, **overrides)
        return tf.AutoModel.from_config(config).eval()
    except ValueError as exc:
        raise SpecError(f"unknown Hugging Face architecture {name!r}: {exc}") from exc


def resolve_spec(
    spec: str, *, device: str | None = None, config: str | None = None
) -> ResolvedModel:
    """Build the model a spec names (see the module docstring).

    Examples
    --------
    >>> resolve_spec("sample:mlp").model[0]
    Linear(in_features=64, out_features=128, bias=True)
    """
    overrides = parse_overrides(config)
    if spec.startswith("sample:"):
        name = spec.split(":", 1)[1]
        model = build_sample(name, device)
        sample = SAMPLES[name]
        return ResolvedModel(model, sample.input_shape, device or sample.device, spec)
    target = torch.device(device or "cpu")
    if spec.startswith("hf:"):
        with target:
            model = _build_hf_arch(spec[3:], overrides)
        return ResolvedModel(model, None, str(target), spec)
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise SpecError(f"{path} is a directory without config.json (not a saved HF model)")
        model = _load_hf_dir(path).to(target)
        return ResolvedModel(model, None, str(target), spec)
    if ":" in spec:
        with target:
            model = _load_python(spec)
        return ResolvedModel(model, None, str(target), spec)
    raise SpecError(
        f"cannot read model spec {spec!r}: use sample:<name> ({', '.join(SAMPLES)}), "
        "pkg.module:Factory, path/to/file.py:Factory, a Hugging Face model directory, or hf:<arch>"
    )
