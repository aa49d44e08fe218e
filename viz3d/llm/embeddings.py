"""``plot_token_embeddings``: token vectors projected to 2D or 3D as labelled points.

With ``layer=None`` the vectors are rows of the input embedding table, one per distinct token
(where the model starts from); with ``layer=k`` they are the contextual hidden states after
block ``k`` (``0`` = embedding output), one per token of the text, joined in reading order so the
path of the sentence through the space shows. PCA is exact and fast (numpy SVD); t-SNE
(scikit-learn, optional) keeps neighbourhoods but not distances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from viz3d.errors import InputError
from viz3d.llm import forward
from viz3d.llm.inputs import TokenInputs, load_tokenizer, prepare, single_token_id

if TYPE_CHECKING:
    from viz3d.render.scene import Scene

Method = Literal["pca", "tsne"]


def project(
    vectors: np.ndarray, method: Method = "pca", dims: int = 3, seed: int = 0
) -> tuple[np.ndarray, list[float]]:
    """Project ``(n, d)`` vectors to ``(n, dims)``.

    Parameters
    ----------
    vectors : numpy.ndarray
        One row per point.
    method : {"pca", "tsne"}, default: "pca"
        PCA via SVD of the centred rows, or t-SNE (needs scikit-learn).
    dims : {2, 3}, default: 3
        Output dimensions.
    seed : int, default: 0
        t-SNE's random state (PCA is deterministic; its signs are fixed so the largest
        coordinate of each axis is positive).

    Returns
    -------
    coords : numpy.ndarray
        ``(n, dims)``.
    explained : list of float
        PCA: share of the variance on each axis; t-SNE: empty.

    Examples
    --------
    >>> import numpy as np
    >>> points = np.array([[0.0, 0, 0], [2, 0, 0], [0, 1, 0], [2, 1, 0]])
    >>> coords, explained = project(points, dims=2)
    >>> [round(e, 2) for e in explained]
    [0.8, 0.2]
    """
    if dims not in (2, 3):
        raise InputError(f"dims must be 2 or 3, got {dims!r}")
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) < 2:
        raise InputError(
            f"{len(vectors)} vector(s) cannot be projected; give at least 2 distinct tokens "
            "(a longer text= / --text, or more input_ids= / --ids)"
        )
    if method == "pca":
        centred = vectors - vectors.mean(axis=0)
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        coords = centred @ axes[:dims].T
        if coords.shape[1] < dims:  # fewer points or features than axes: pad flat axes
            coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
        coords *= np.where(np.abs(coords.max(axis=0)) >= np.abs(coords.min(axis=0)), 1.0, -1.0)
        variance = singular**2
        explained = (variance[:dims] / max(variance.sum(), 1e-300)).tolist()
        return coords, explained + [0.0] * (dims - len(explained))
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError as exc:
            raise InputError(
                "method='tsne' needs scikit-learn: pip install scikit-learn (or use "
                "method='pca', on the command line --method pca)"
            ) from exc
        perplexity = float(min(30.0, max(1.0, (len(vectors) - 1) / 3)))
        tsne = TSNE(
            n_components=dims,
            perplexity=perplexity,
            init="pca",
            random_state=seed,
            method="exact" if dims > 2 or len(vectors) < 60 else "barnes_hut",
        )
        return tsne.fit_transform(vectors), []
    raise InputError(f"method must be 'pca' or 'tsne', got {method!r}")


def plot_token_embeddings(
    model: nn.Module,
    text_or_tokens: str | Sequence[str] | None = None,
    *,
    layer: int | None = None,
    method: Method = "pca",
    dims: int = 3,
    tokenizer: Any | None = None,
    input_ids: torch.Tensor | Sequence[int] | None = None,
    cmap: str = "turbo",
    show: bool = True,
) -> Scene:
    """Token embeddings projected to 2D or 3D, as labelled points.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face style transformer.
    text_or_tokens : str or sequence of str, optional
        A text to tokenize, or a list of tokens/words (each must be one token of the
        vocabulary); or pass ``input_ids``.
    layer : int, optional
        ``None``: rows of the input embedding table (distinct tokens); ``k``: hidden states after
        block ``k`` (``0`` = embedding output, negative counts from the last).
    method : {"pca", "tsne"}, default: "pca"
        Projection (t-SNE needs scikit-learn).
    dims : {2, 3}, default: 3
        Project to a plane (seen from above) or to space.
    tokenizer : transformers tokenizer, optional
        By default the one saved beside the model (nothing is downloaded).
    input_ids : tensor or sequence of int, optional
        Token ids instead of ``text_or_tokens``.
    cmap : str, default: "turbo"
        Colour map of the token position.
    show : bool, default: True
        Show the scene (off screen this only logs a hint).

    Returns
    -------
    Scene
        ``scene.metadata`` holds ``tokens``, ``coords`` and ``explained`` (PCA variance shares).

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> model = build_sample("gpt2")
    >>> scene = plot_token_embeddings(model, input_ids=[4, 8, 15, 16, 23], show=False)
    >>> len(scene.metadata["coords"]), len(scene.metadata["coords"][0])
    (5, 3)
    """
    if isinstance(text_or_tokens, (list, tuple)):
        tokens = _from_token_list(model, list(text_or_tokens), tokenizer)
    else:
        tokens = prepare(model, text_or_tokens, tokenizer=tokenizer, input_ids=input_ids)
    ids = tokens.ids[0].tolist()
    if layer is None:
        keep = sorted(
            {i: k for k, i in reversed(list(enumerate(ids)))}.values()
        )  # first occurrences
        table = model.get_input_embeddings().weight
        vectors = table[[ids[k] for k in keep]].detach().float().cpu().numpy()
        labels = [tokens.labels[k] for k in keep]
        source, positions = "input embedding table", np.array(keep, dtype=float)
    else:
        states = forward.run(model, tokens.ids, output_hidden_states=True).hidden_states
        if not -len(states) <= layer < len(states):
            raise InputError(
                f"layer {layer} does not exist: hidden states run 0..{len(states) - 1} "
                "(0 = embeddings)"
            )
        vectors = states[layer][0].float().cpu().numpy()
        labels, positions = tokens.labels, np.arange(len(tokens), dtype=float)
        source = (
            f"hidden states after block {layer % len(states)}"
            if layer % len(states)
            else "embedding output"
        )
    coords, explained = project(vectors, method, dims)
    from viz3d.render.transformer.embeddings import draw_token_embeddings

    axes = (
        ", ".join(f"PC{i + 1} {100 * e:.0f}%" for i, e in enumerate(explained))
        if explained
        else "t-SNE axes"
    )
    scene = draw_token_embeddings(
        coords,
        labels,
        positions,
        cmap=cmap,
        connect=layer is not None,
        title=f"Token embeddings: {source}",
        subtitle=f"{type(model).__name__}  -  {len(labels)} tokens  -  {method.upper()} to "
        f"{dims}D ({axes})" + ("  -  line: reading order" if layer is not None else ""),
    )
    scene.metadata.update(
        view="token_embeddings",
        tokens=labels,
        coords=coords.tolist(),
        explained=explained,
        layer=layer,
        method=method,
        dims=dims,
    )
    if show:
        scene.show()
    return scene


def _from_token_list(model: nn.Module, words: list[str], tokenizer: Any | None) -> TokenInputs:
    """Token ids of a list of vocabulary tokens (``"Ġfox"``) or one-token words (``" fox"``)."""
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(model)
    vocab = tokenizer.get_vocab()
    size = getattr(model.get_input_embeddings(), "num_embeddings", None)
    ids = [vocab[w] if w in vocab else single_token_id(w, tokenizer, size) for w in words]
    return prepare(model, tokenizer=tokenizer, input_ids=ids)
