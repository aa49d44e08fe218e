"""``plot_attention``: attention weights as arcs between tokens, per head or through all layers.

Each panel is a vertical slice: the tokens twice, keys (the tokens attended to) on the lower row
and queries (the tokens attending) on the upper row, with a tube from key to query for every
weight above ``threshold``; the tube's width, colour and opacity follow the weight. Arcs bow
towards the viewer, more for longer jumps, so crossing arcs separate in 3D.

* one layer, one head: one panel;
* ``head=None``: all heads of the layer, panels one behind the other;
* ``stack_layers=True``: the rows are stacked, layer ``l``'s panel sitting on layer ``l-1``'s
  (its queries are the next layer's keys), so attention can be followed up through depth; the
  heads are averaged unless ``head`` is given.

Causal models (GPT-2) give arcs that only lean back (a query never sees a later key);
bidirectional ones (BERT) lean both ways. Weights come from the model itself, with eager attention
switched on for the call (SDPA returns none) and ``output_attentions=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.llm import forward
from viz3d.llm.inputs import prepare

if TYPE_CHECKING:
    from viz3d.render.scene import Scene


def attention_weights(model: nn.Module, ids: torch.Tensor) -> np.ndarray:
    """The model's attention probabilities for ``ids``: ``(layers, heads, queries, keys)``.

    Examples
    --------
    >>> import torch
    >>> from viz3d.zoo import build_sample
    >>> weights = attention_weights(build_sample("bert"), torch.tensor([[1, 2, 3]]))
    >>> weights.shape, bool(abs(weights.sum(-1) - 1).max() < 1e-5)
    ((2, 4, 3, 3), True)
    """
    with forward.eager_attention(model):
        out = forward.run(model, ids, output_attentions=True)
    maps = getattr(out, "attentions", None)
    if not maps or any(m is None for m in maps):
        raise InputError(
            f"{type(model).__name__} returned no attention weights for output_attentions=True; "
            "load it with attn_implementation='eager' (Hugging Face models) to get them"
        )
    return torch.stack([m[0] for m in maps]).float().cpu().numpy()


def plot_attention(
    model: nn.Module,
    text: str | None = None,
    *,
    layer: int = 0,
    head: int | None = None,
    stack_layers: bool = False,
    tokenizer: Any | None = None,
    input_ids: torch.Tensor | Sequence[int] | None = None,
    threshold: float = 0.02,
    cmap: str = "plasma",
    show: bool = True,
) -> Scene:
    """Tokens in 3D with attention drawn as arcs whose width, colour and opacity follow the weight.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face style transformer, causal (GPT-2, LLaMA) or bidirectional (BERT).
    text : str, optional
        The text; or pass ``input_ids``.
    layer : int, default: 0
        Which layer (0-based; negative counts from the end). Ignored with ``stack_layers``.
    head : int, optional
        Which head; ``None`` shows every head of the layer one behind the other (or, stacked,
        their mean).
    stack_layers : bool, default: False
        Stack every layer to follow attention up through depth.
    tokenizer : transformers tokenizer, optional
        By default the one saved beside the model (nothing is downloaded).
    input_ids : tensor or sequence of int, optional
        One sequence of ids instead of ``text``.
    threshold : float, default: 0.02
        Weights below this get no arc (they stay in ``scene.metadata["attention"]``).
    cmap : str, default: "plasma"
        Colour map of the weights (0 to 1).
    show : bool, default: True
        Show the scene (off screen this only logs a hint).

    Returns
    -------
    Scene
        ``scene.metadata["attention"]``: the weights drawn, ``(queries, keys)`` for one head,
        ``(heads, queries, keys)`` for a layer, ``(layers, queries, keys)`` stacked;
        ``scene.metadata["arcs"]``: ``[layer, head, query, key, weight]`` per arc (head -1: mean).

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.zoo import build_sample
    >>> model = build_sample("gpt2")
    >>> scene = plot_attention(model, input_ids=[5, 6, 7], layer=1, head=2, show=False)
    >>> np.asarray(scene.metadata["attention"]).shape
    (3, 3)
    >>> all(key <= query for _, _, query, key, _ in scene.metadata["arcs"])
    True
    """
    tokens = prepare(model, text, tokenizer=tokenizer, input_ids=input_ids)
    weights = attention_weights(model, tokens.ids)
    n_layers, n_heads = weights.shape[:2]
    if head is not None and not -n_heads <= head < n_heads:
        raise InputError(
            f"head {head} does not exist: the model has {n_heads} heads per layer "
            f"(0..{n_heads - 1})"
        )
    if stack_layers:
        shown = weights[:, head] if head is not None else weights.mean(axis=1)
        mean_or_head = -1 if head is None else head % n_heads
        panels = [_Panel(i, mean_or_head, shown[i], depth=0, level=i) for i in range(n_layers)]
        what = f"all {n_layers} layers, " + (
            f"head {head % n_heads}" if head is not None else "mean of heads"
        )
    else:
        if not -n_layers <= layer < n_layers:
            raise InputError(
                f"layer {layer} does not exist: the model has {n_layers} layers (0..{n_layers - 1})"
            )
        layer %= n_layers
        heads = [head % n_heads] if head is not None else list(range(n_heads))
        shown = weights[layer, heads[0]] if head is not None else weights[layer]
        panels = [
            _Panel(layer, h, weights[layer, h], depth=d, level=0) for d, h in enumerate(heads)
        ]
        what = f"layer {layer}, " + (
            f"head {heads[0]}" if head is not None else f"all {n_heads} heads"
        )
    from viz3d.render.transformer.attention import draw_attention

    rows = (
        "arcs rise from the keys a layer reads to the queries it writes"
        if stack_layers
        else "lower row: keys, upper row: queries"
    )
    scene, arcs = draw_attention(
        panels,
        tokens.labels,
        threshold=threshold,
        cmap=cmap,
        stacked=stack_layers,
        title=f"Attention: {what}",
        subtitle=f"{type(model).__name__}  -  {rows}  -  arcs for weights >= {threshold:g}; "
        "width, colour and opacity follow the weight",
    )
    scene.metadata.update(
        view="attention",
        tokens=tokens.labels,
        layer=None if stack_layers else layer,
        head=None if head is None else head % n_heads,
        stack_layers=stack_layers,
        threshold=threshold,
        attention=shown.tolist(),
        arcs=arcs,
    )
    if show:
        scene.show()
    return scene


class _Panel(NamedTuple):
    """One slice of arcs: whose weights, and where it sits (``depth`` back, ``level`` up)."""

    layer: int
    head: int  # -1: the mean of the heads
    weights: np.ndarray
    depth: int
    level: int
