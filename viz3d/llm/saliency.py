"""``plot_gradients``: which input tokens the model's output depends on (gradient x input).

The saliency of token ``i`` is ``|| dF/de_i * e_i ||_2``: the gradient of an objective ``F`` with
respect to the token's input embedding ``e_i``, times the embedding, summed over features as an
L2 norm. ``F`` is the model's own language-modelling loss on the text (``labels=input_ids``; the
model shifts them itself if it is causal), or one logit: the score of ``target`` at
``position`` (by default the last, i.e. the next-token prediction).

The gradient is taken with :func:`torch.autograd.grad` on a copy of the embedding output, so no
parameter's ``.grad`` is touched, frozen models work, and training/eval flags are restored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.llm import forward
from viz3d.llm.inputs import prepare, single_token_id, token_labels

if TYPE_CHECKING:
    from viz3d.render.scene import Scene


def token_saliency(
    model: nn.Module,
    ids: torch.Tensor,
    *,
    target: int | str | None = None,
    position: int = -1,
    tokenizer: Any | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Gradient x input saliency of every token of ``ids`` (shape ``(1, n)``).

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face model with a language-modelling head (``*LMHeadModel``, ``*ForCausalLM``,
        ``*ForMaskedLM``).
    ids : torch.Tensor
        ``(1, n)`` token ids.
    target : int or str, optional
        ``None``: the LM loss; otherwise a token (id, or a string that is one token) whose logit
        at ``position`` is explained.
    position : int, default: -1
        Which position's logit to explain when ``target`` is given.
    tokenizer : transformers tokenizer, optional
        Needed only when ``target`` is a string.

    Returns
    -------
    saliency : numpy.ndarray
        ``(n,)``, non-negative.
    info : dict
        ``objective`` (a description), ``value`` (the loss or logit), ``target_id`` and
        ``probability`` (of the target at ``position``; ``None`` for the loss).

    Examples
    --------
    >>> import torch
    >>> from viz3d.zoo import build_sample
    >>> values, info = token_saliency(build_sample("gpt2"), torch.tensor([[1, 2, 3, 4]]), target=7)
    >>> values.shape, info["target_id"]
    ((4,), 7)
    """
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embed is None:
        raise InputError(
            f"{type(model).__name__} has no get_input_embeddings(); saliency needs a Hugging Face "
            "style model"
        )
    vocab = getattr(embed, "num_embeddings", None)
    target_id = None if target is None else single_token_id(target, tokenizer, vocab)
    if target is None and ids.shape[1] < 2:
        raise InputError(
            "the LM loss needs at least 2 tokens: give a longer text (text= / --text), or explain "
            "one next-token logit instead (target= / --target)"
        )
    caught: dict[str, torch.Tensor] = {}

    def swap_in_leaf(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        # a fresh leaf: its gradient is what we want, and the parameters' .grad stay untouched
        caught["embeds"] = output.detach().requires_grad_(True)
        return caught["embeds"]

    handle = embed.register_forward_hook(swap_in_leaf)
    try:
        with forward.evaluating(model), torch.enable_grad():
            if target_id is None:
                out = forward.call(model, ids, labels=ids)
                objective = getattr(out, "loss", None)
                if objective is None:
                    raise InputError(
                        f"{type(model).__name__} returned no loss for labels=input_ids; use a "
                        "model with an LM head (GPT2LMHeadModel, BertForMaskedLM ...) or "
                        "explain one logit (target= / --target)"
                    )
                probability = None
            else:
                out = forward.call(model, ids)
                logits = _logits(model, out)
                if not -ids.shape[1] <= position < ids.shape[1]:
                    raise InputError(f"position {position} is outside the {ids.shape[1]} tokens")
                objective = logits[0, position, target_id]
                probability = float(
                    torch.softmax(logits[0, position].detach().float(), -1)[target_id]
                )
            (grad,) = torch.autograd.grad(objective, caught["embeds"])
    finally:
        handle.remove()
    saliency = (grad * caught["embeds"].detach()).float().norm(dim=-1)[0].cpu().numpy()
    if target_id is None:
        what = "LM loss"
    else:
        name = token_labels([target_id], tokenizer)[0]
        what = f"logit of {name!r} (id {target_id}) at position {position}"
    info = {
        "objective": what,
        "value": float(objective.detach()),
        "target_id": target_id,
        "probability": probability,
    }
    return saliency, info


def plot_gradients(
    model: nn.Module,
    text: str | None = None,
    *,
    target: int | str | None = None,
    position: int = -1,
    tokenizer: Any | None = None,
    input_ids: torch.Tensor | Sequence[int] | None = None,
    cmap: str = "inferno",
    show: bool = True,
) -> Scene:
    """Saliency of each input token as coloured 3D bars (gradient x input).

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face model with an LM head.
    text : str, optional
        The text; or pass ``input_ids``.
    target : int or str, optional
        Explain the LM loss (``None``) or the logit of this token (id or one-token string) at
        ``position``.
    position : int, default: -1
        Position whose logit is explained (the last one predicts the next token).
    tokenizer : transformers tokenizer, optional
        By default the one saved beside the model (nothing is downloaded).
    input_ids : tensor or sequence of int, optional
        One sequence of ids instead of ``text``.
    cmap : str, default: "inferno"
        Colour map of the saliency.
    show : bool, default: True
        Show the scene (off screen this only logs a hint).

    Returns
    -------
    Scene
        ``scene.metadata["saliency"]``: one value per token; ``objective``, ``target_id``.

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> scene = plot_gradients(build_sample("gpt2"), input_ids=[1, 2, 3], show=False)
    >>> len(scene.metadata["saliency"])
    3
    """
    tokens = prepare(model, text, tokenizer=tokenizer, input_ids=input_ids)
    values, info = token_saliency(
        model, tokens.ids, target=target, position=position, tokenizer=tokens.tokenizer
    )
    from viz3d.render.transformer.saliency import draw_saliency

    detail = f"  -  value {info['value']:.4g}"
    if info["probability"] is not None:
        detail += f", probability {info['probability']:.3g}"
    scene = draw_saliency(
        values,
        tokens.labels,
        cmap=cmap,
        title=f"Saliency: gradient x input of the {info['objective']}",
        subtitle=f"{type(model).__name__}  -  {len(tokens)} tokens{detail}  -  "
        "bar height = L2 norm of grad x embedding, labels: share of the total",
    )
    scene.metadata.update(view="saliency", tokens=tokens.labels, saliency=values.tolist(), **info)
    if show:
        scene.show()
    return scene


def _logits(model: nn.Module, out: Any) -> torch.Tensor:
    logits = getattr(out, "logits", None)
    if logits is None or logits.dim() != 3:
        raise InputError(
            f"{type(model).__name__} returns no per-token logits, so a target logit cannot be "
            "explained; use a model with an LM head (GPT2LMHeadModel, BertForMaskedLM ...)"
        )
    return logits
