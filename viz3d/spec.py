"""Model specs: the strings the command line accepts to name a model.

* ``sample:<name>`` - a built-in sample (``viz3d.zoo.SAMPLES``);
* ``pkg.module:Factory`` or ``path/to/file.py:Factory`` - a callable returning a module (or a
  module instance);
* ``path/to/dir`` - a Hugging Face model saved with ``save_pretrained`` (loaded with
  ``local_files_only=True``: nothing is downloaded);
* ``hf:<arch>`` - a Hugging Face architecture built from its default config plus overrides, by
  model type (``hf:gpt2``) or class name (``hf:GPT2LMHeadModel``), with random weights;
* ``path/to/graph.json`` - a :class:`~viz3d.graph.LayerGraph` saved by ``viz3d trace`` or
  ``LayerGraph.to_json``: commands that draw or summarise a graph take it in place of a model
  (:func:`load_graph_spec`).

A ``file.py:Factory`` or ``pkg.module:Factory`` spec imports that code and runs it, as
``python file.py`` would: name only files you trust. A Hugging Face directory's ``config.json``
may only name a Hugging Face model class (a ``PreTrainedModel``); its weights are read from
safetensors files when there are any.
"""

from __future__ import annotations

import ast
import difflib
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


def _hf_architecture(config_path: Path) -> str | None:
    """The model class a saved ``config.json`` names (``architectures[0]``), if any."""
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(
            f"cannot read {config_path}: {exc}; save the model again with save_pretrained"
        ) from exc
    if not isinstance(config, dict):
        raise SpecError(
            f"{config_path} holds a JSON {type(config).__name__}, not an object: it is not a "
            "Hugging Face config; save the model again with save_pretrained"
        )
    names = config.get("architectures") or [None]
    if not isinstance(names, list) or not (names[0] is None or isinstance(names[0], str)):
        raise SpecError(f"{config_path}: 'architectures' must be a list of class names")
    return names[0]


def _load_hf_dir(path: Path) -> nn.Module:
    tf = _transformers()
    arch = _hf_architecture(path / "config.json")
    cls = getattr(tf, arch, None) if arch else None
    if cls is not None and not (isinstance(cls, type) and issubclass(cls, tf.PreTrainedModel)):
        # config.json is data from whoever made the folder: it may only pick a model class
        raise SpecError(
            f"{path / 'config.json'} names {arch!r}, which is not a Hugging Face model class "
            "(a PreTrainedModel): fix 'architectures' there or remove it to use AutoModel"
        )
    loader = cls if cls is not None else tf.AutoModel
    safetensors = any(path.glob("*.safetensors"))
    try:
        model = loader.from_pretrained(
            path, local_files_only=True, use_safetensors=True if safetensors else None
        )
    except Exception as exc:
        raise SpecError(f"loading the Hugging Face model in {path} failed: {exc}") from exc
    return model.eval()


def _build_hf_arch(name: str, overrides: dict[str, Any]) -> nn.Module:
    tf = _transformers()
    cls = getattr(tf, name, None)
    if isinstance(cls, type) and issubclass(cls, tf.PreTrainedModel):
        try:
            return cls(cls.config_class(**overrides)).eval()
        except (ValueError, TypeError) as exc:
            raise SpecError(
                f"hf:{name} cannot be built from --config {_overrides_text(overrides)}: {exc}"
            ) from exc
    try:
        config = tf.AutoConfig.for_model(name, **overrides)
    except ValueError as exc:
        known = list(getattr(tf, "CONFIG_MAPPING", {}).keys())
        close = difflib.get_close_matches(name, known, n=3) or difflib.get_close_matches(
            name.lower(), known, n=3
        )
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SpecError(
            f"unknown Hugging Face architecture {name!r}: neither a transformers model class "
            f"(e.g. GPT2LMHeadModel) nor a model type (e.g. gpt2){hint}"
        ) from exc
    try:
        return tf.AutoModel.from_config(config).eval()
    except (ValueError, TypeError) as exc:
        raise SpecError(
            f"hf:{name} cannot be built from --config {_overrides_text(overrides)}: {exc}"
        ) from exc


def _overrides_text(overrides: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items()) or "(none)"


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
    device = check_device(device)
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
    if path.suffix.lower() == ".json" and path.is_file():
        raise SpecError(
            f"{spec} is a saved graph, and this command needs the model itself: pass the spec "
            "the graph was traced from (sample:<name>, file.py:Factory, a model directory ...)"
        )
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


def planned_device(spec: str, device: str | None = None) -> str:
    """The device :func:`resolve_spec` will build ``spec`` on, found without building it.

    Examples
    --------
    >>> planned_device("sample:llama7b"), planned_device("sample:mlp"), planned_device("x", "meta")
    ('meta', 'cpu', 'meta')
    """
    name = spec.split(":", 1)[1] if spec.startswith("sample:") else None
    return device or (SAMPLES[name].device if name in SAMPLES else "cpu")


def check_device(device: str | None) -> str | None:
    """``device`` if torch can use it here, else a :class:`SpecError` that says what to pass.

    Checked before a model is built, so that ``--device cuda`` on a CPU-only torch fails at once
    instead of deep inside the first CUDA call.

    Examples
    --------
    >>> check_device("meta"), check_device(None)
    ('meta', None)
    >>> try:
    ...     check_device("gpu")
    ... except SpecError as err:
    ...     print(str(err).split(":")[0])
    unknown device 'gpu'
    """
    if device is None:
        return None
    try:
        parsed = torch.device(device)
    except RuntimeError as exc:
        raise SpecError(f"unknown device {device!r}: use cpu, cuda, cuda:1, mps or meta") from exc
    if parsed.type in ("cpu", "meta"):
        return device
    backend = getattr(torch, parsed.type, None)
    available = getattr(backend, "is_available", None)
    if callable(available) and not available():
        if parsed.type == "cuda" and torch.version.cuda is None:
            why = "this torch is a CPU-only build"
        else:
            why = f"torch finds no {parsed.type} device here"
        raise SpecError(f"cannot use device {device!r}: {why}; use --device cpu (or meta)")
    count = getattr(backend, "device_count", None)
    if parsed.index is not None and callable(count) and parsed.index >= count():
        raise SpecError(
            f"cannot use device {device!r}: only {count()} {parsed.type} device(s) here, "
            "numbered from 0"
        )
    return device


def load_graph_spec(spec: str):
    """The saved :class:`~viz3d.graph.LayerGraph` a ``.json`` spec names, or ``None``.

    Commands that draw or summarise a graph call this first and trace only when it gives
    ``None``; a JSON file that is not a LayerGraph raises :class:`~viz3d.errors.GraphError`.

    Examples
    --------
    >>> load_graph_spec("sample:mlp") is None
    True
    """
    path = Path(spec)
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    from viz3d.graph import LayerGraph

    return LayerGraph.from_json(path)
