"""Running a transformer for a view: evaluation mode, no dropout, and the model left as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from viz3d.errors import InputError


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode (dropout off, so views are repeatable), restore on exit.

    Each module's own ``training`` flag is restored, not just the root's, because a model can be
    partly in training mode (frozen, eval-mode parts inside a training model).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout()).train()
    >>> with evaluating(net):
    ...     net[1].training
    False
    >>> net[1].training
    True
    """
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


@contextmanager
def eager_attention(model: nn.Module) -> Iterator[nn.Module]:
    """Switch a Hugging Face model to eager attention for the duration, so it returns weights.

    SDPA and flash kernels never materialise the attention matrix (transformers 5 then returns
    an empty ``attentions`` tuple), so the implementation is changed temporarily and restored.

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> model = build_sample("bert")
    >>> with eager_attention(model):
    ...     model.config._attn_implementation
    'eager'
    """
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    if before in (None, "eager"):
        yield model
        return
    if not hasattr(model, "set_attn_implementation"):
        raise InputError(
            f"{type(model).__name__} uses {before!r} attention, which returns no weights, and "
            "cannot switch to eager; load it with attn_implementation='eager'"
        )
    model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        model.set_attn_implementation(before)


def run(model: nn.Module, ids: torch.Tensor, **flags: Any) -> Any:
    """Call ``model(input_ids=ids, **flags)`` in eval mode without building a graph.

    Examples
    --------
    >>> import torch
    >>> from viz3d.zoo import build_sample
    >>> out = run(build_sample("gpt2"), torch.tensor([[1, 2, 3]]), output_hidden_states=True)
    >>> len(out.hidden_states)
    3
    """
    with evaluating(model), torch.no_grad():
        return call(model, ids, **flags)


def call(model: nn.Module, ids: torch.Tensor, **flags: Any) -> Any:
    """``model(input_ids=ids, **flags)``, with a clear error when the model takes no input_ids."""
    try:
        return model(input_ids=ids, **flags)
    except TypeError as exc:
        raise InputError(
            f"{type(model).__name__} could not be called as model(input_ids=..., "
            f"{', '.join(f'{k}=...' for k in flags)}) ({exc}); the transformer views need a "
            "Hugging Face style model (GPT-2, BERT, LLaMA ...)"
        ) from exc
