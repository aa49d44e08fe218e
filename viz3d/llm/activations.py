"""``plot_token_activations``: how strongly each token is represented at each depth, as 3D bars.

A grid of bars, tokens along x and layers along y; a bar's height and colour give the L2 norm of
the token's vector there. By default the vectors are the residual stream, read from
``output_hidden_states=True`` (row 0 is the embedding output; Hugging Face applies the final
norm to the last row). With ``module=`` they are the outputs of chosen sub-modules, caught with
forward hooks, one row per matching module (``"transformer.h.*.mlp"`` gives every MLP).
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.llm import forward
from viz3d.llm.inputs import prepare

if TYPE_CHECKING:
    from viz3d.render.scene import Scene


def token_activation_norms(
    model: nn.Module, ids: torch.Tensor, *, module: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """L2 norm of every token's vector at every layer (or matched module).

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face style transformer.
    ids : torch.Tensor
        ``(1, n)`` token ids.
    module : str, optional
        A module name or ``fnmatch`` pattern (``"transformer.h.*.mlp"``); by default the hidden
        states.

    Returns
    -------
    norms : numpy.ndarray
        ``(rows, n)``.
    rows : list of str
        The row names (``"embeddings"``, ``"layer 1"`` ... or module names).

    Examples
    --------
    >>> import torch
    >>> from viz3d.zoo import build_sample
    >>> norms, rows = token_activation_norms(build_sample("gpt2"), torch.tensor([[1, 2, 3]]))
    >>> norms.shape, rows
    ((3, 3), ['embeddings', 'layer 1', 'layer 2'])
    """
    if module is None:
        out = forward.run(model, ids, output_hidden_states=True)
        states = getattr(out, "hidden_states", None)
        if not states:
            raise InputError(
                f"{type(model).__name__} returned no hidden_states for output_hidden_states=True; "
                "name the sub-modules to read instead, e.g. module='layers.*'"
            )
        rows = ["embeddings"] + [f"layer {i}" for i in range(1, len(states))]
        return np.stack(
            [_token_norms(s, name, ids.shape[1]) for s, name in zip(states, rows, strict=True)]
        ), rows
    chosen = [(name, m) for name, m in model.named_modules() if name and fnmatchcase(name, module)]
    if not chosen:
        near = [name for name, _ in model.named_modules() if name][:8]
        raise InputError(
            f"no sub-module of {type(model).__name__} matches {module!r}; names look like {near}"
        )
    caught: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(_catcher(name, caught)) for name, m in chosen]
    try:
        forward.run(model, ids)
    finally:
        for handle in handles:
            handle.remove()
    rows = [name for name, _ in chosen if name in caught]
    if not rows:
        raise InputError(f"the modules matching {module!r} never ran in the forward pass")
    return np.stack([_token_norms(caught[name], name, ids.shape[1]) for name in rows]), rows


def plot_token_activations(
    model: nn.Module,
    text: str | None = None,
    *,
    tokenizer: Any | None = None,
    input_ids: torch.Tensor | Sequence[int] | None = None,
    module: str | None = None,
    log: bool = False,
    cmap: str = "viridis",
    show: bool = True,
) -> Scene:
    """Tokens x layers as 3D bars whose height and colour give the activation norm.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face style transformer (GPT-2, BERT, LLaMA ...).
    text : str, optional
        The text; or pass ``input_ids``.
    tokenizer : transformers tokenizer, optional
        By default the one saved beside the model (nothing is downloaded).
    input_ids : tensor or sequence of int, optional
        One sequence of ids instead of ``text``.
    module : str, optional
        Read these sub-modules' outputs instead of the residual stream: a name or ``fnmatch``
        pattern, one row per match (``"transformer.h.*.attn"``).
    log : bool, default: False
        Heights and colours show ``log10`` of the norm (real checkpoints have a few huge ones).
    cmap : str, default: "viridis"
        Colour map.
    show : bool, default: True
        Show the scene (off screen this only logs a hint).

    Returns
    -------
    Scene
        ``scene.metadata`` holds ``tokens``, ``rows`` and ``norms`` (rows x tokens).

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> scene = plot_token_activations(build_sample("gpt2"), input_ids=[3, 1, 4, 1], show=False)
    >>> len(scene.metadata["norms"]), len(scene.metadata["norms"][0])
    (3, 4)
    """
    tokens = prepare(model, text, tokenizer=tokenizer, input_ids=input_ids)
    norms, rows = token_activation_norms(model, tokens.ids, module=module)
    from viz3d.render.transformer.activations import draw_token_activations

    shown = np.log10(np.maximum(norms, 1e-12)) if log else norms
    what = f"outputs of {module}" if module else "residual stream"
    scene = draw_token_activations(
        shown,
        rows,
        tokens.labels,
        cmap=cmap,
        bar_title="log10 L2 norm" if log else "L2 norm",
        title=f"Token activations: {what}",
        subtitle=f"{type(model).__name__}  -  {len(tokens)} tokens x {len(rows)} rows  -  "
        f"bar height = {'log10 ' if log else ''}L2 norm of each token's vector",
    )
    scene.metadata.update(
        view="token_activations",
        tokens=tokens.labels,
        rows=rows,
        norms=norms.tolist(),
        module=module,
        log=log,
    )
    if show:
        scene.show()
    return scene


def _catcher(name: str, caught: dict[str, torch.Tensor]):
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        tensor = _first_tensor(output)
        if tensor is not None:
            caught.setdefault(
                name, tensor.detach()
            )  # the first call: a block reused later is not overwritten

    return hook


def _first_tensor(output: Any) -> torch.Tensor | None:
    """The activation in a module's output: a tensor, the first tensor of a tuple (blocks return
    ``(hidden, cache, ...)``), or a model output's ``last_hidden_state``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return getattr(output, "last_hidden_state", None)


def _token_norms(tensor: torch.Tensor, name: str, n_tokens: int) -> np.ndarray:
    """Norm over everything but the token axis of a ``(1, n, ...)`` activation."""
    if tensor.dim() < 2 or tensor.shape[0] != 1 or tensor.shape[1] != n_tokens:
        raise InputError(
            f"{name} produced shape {tuple(tensor.shape)}, not (1, {n_tokens}, ...) with one "
            "vector per token; pick a module whose output is per token (a block, its attention "
            "or its MLP)"
        )
    return tensor.reshape(1, n_tokens, -1)[0].float().norm(dim=-1).cpu().numpy()
