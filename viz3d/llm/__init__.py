"""Transformer views: summary, token activations, attention, embeddings and saliency in 3D.

Every view takes ``(model, text, *, tokenizer=None, input_ids=None, show=True, ...)`` and returns
a :class:`viz3d.render.Scene` to show, screenshot, export or film; the numbers drawn are in
``scene.metadata``. The tokenizer defaults to the one saved beside the model
(``model.name_or_path``, loaded with ``local_files_only=True``): nothing is ever downloaded.

==========================  =================================================================
:func:`model_summary`       layers, heads, sizes and an exact parameter breakdown (a table)
:func:`plot_token_activations`  tokens x layers bars of the residual stream's norm
:func:`plot_attention`      attention as arcs between tokens, per head or through all layers
:func:`plot_token_embeddings`   token vectors projected to 2D/3D (PCA or t-SNE)
:func:`plot_gradients`      gradient x input saliency of each token, for the loss or one logit
==========================  =================================================================

The views (and PyVista) load on first use, so ``import viz3d.llm`` stays light.

Examples
--------
>>> import viz3d.llm
>>> from viz3d.zoo import build_sample
>>> viz3d.llm.model_summary(build_sample("gpt2")).layers
2
"""

from viz3d._lazy import lazy_exports

# public name -> module that defines it; imported on first access
_LAZY = {
    "model_summary": "viz3d.llm.summary",
    "TransformerSummary": "viz3d.llm.summary",
    "plot_token_activations": "viz3d.llm.activations",
    "token_activation_norms": "viz3d.llm.activations",
    "plot_attention": "viz3d.llm.attention",
    "attention_weights": "viz3d.llm.attention",
    "plot_token_embeddings": "viz3d.llm.embeddings",
    "project": "viz3d.llm.embeddings",
    "plot_gradients": "viz3d.llm.saliency",
    "token_saliency": "viz3d.llm.saliency",
    "TokenInputs": "viz3d.llm.inputs",
    "prepare": "viz3d.llm.inputs",
    "load_tokenizer": "viz3d.llm.inputs",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
