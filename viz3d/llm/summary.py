"""``model_summary``: a transformer's architecture facts and where its parameters are.

Facts come from the Hugging Face config when there is one (``num_hidden_layers``,
``num_attention_heads``, ...; GPT-2's ``n_layer``/``n_head`` names map onto those) and from the
modules otherwise. Parameters are counted once even when tied (GPT-2's LM head *is* its token
embedding), each under the first name PyTorch reports for it, and split into parts by module
type and name, so the parts always add up to the total:

============  =====================================================================
embeddings    ``nn.Embedding`` tables (tokens, positions, token types)
attention     projections inside ``attn``/``attention``/``self_attn`` modules
mlp           the feed-forward (``mlp``, ``intermediate``, ``feed_forward``, BERT's
              block ``output``)
norms         every normalisation layer (LayerNorm, RMSNorm, ...) wherever it sits
head          task heads: ``lm_head``, ``cls``, ``pooler``, ``classifier``, ``score``
other         anything else (zero for GPT-2, BERT and LLaMA)
============  =====================================================================
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from viz3d.graph import human

PARTS = ("embeddings", "attention", "mlp", "norms", "head", "other")

# name segments, checked in this order after the type-based rules (norms, embeddings)
_HEAD = {"lm_head", "cls", "pooler", "classifier", "score", "qa_outputs", "head"}
_ATTENTION = {"attn", "attention", "self_attn", "self_attention", "crossattention", "cross_attn"}
_MLP = {"mlp", "intermediate", "feed_forward", "ffn", "ff", "output", "block_sparse_moe"}


@dataclass(frozen=True)
class TransformerSummary:
    """Architecture facts of a transformer (``None`` where a fact cannot be known).

    Attributes
    ----------
    name : str
        Model class, plus the config's ``model_type`` and checkpoint path when known.
    layers, heads, kv_heads, hidden_size, intermediate_size : int or None
        The block count and widths; ``kv_heads`` differs from ``heads`` under grouped-query
        attention.
    vocab_size, context_length : int or None
        Token table rows and longest sequence (position table) the model takes.
    total_params : int
        Unique parameters (tied weights once).
    trainable_params : int
        Unique parameters with ``requires_grad``.
    breakdown : dict of str to int
        Parameters per part (see the module docstring); the values sum to ``total_params``.
    tied : list of str
        ``"alias -> owner"`` for every parameter reached under a second name.

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> info = model_summary(build_sample("gpt2"))
    >>> info.layers, info.heads, info.hidden_size, sum(info.breakdown.values()) == info.total_params
    (2, 4, 64, True)
    """

    name: str
    layers: int | None
    heads: int | None
    kv_heads: int | None
    hidden_size: int | None
    intermediate_size: int | None
    vocab_size: int | None
    context_length: int | None
    total_params: int
    trainable_params: int
    breakdown: dict[str, int] = field(default_factory=dict)
    tied: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The summary as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def table(self) -> str:
        """A plain-text table: the shape facts, then the parameter breakdown with shares.

        Examples
        --------
        >>> from viz3d.zoo import build_sample
        >>> print(model_summary(build_sample("bert")).table().splitlines()[0])
        BertModel (bert)
        """
        facts = [
            ("layers", self.layers),
            ("attention heads", self.heads),
            ("key/value heads", self.kv_heads if self.kv_heads != self.heads else None),
            ("hidden size", self.hidden_size),
            ("MLP size", self.intermediate_size),
            ("vocabulary", self.vocab_size),
            ("context length", self.context_length),
        ]
        rows = [(label, f"{value:,}") for label, value in facts if value is not None]
        total = max(self.total_params, 1)
        parts = [
            (part, count) for part, count in self.breakdown.items() if count or part != "other"
        ]
        width = max(len(label) for label, _ in rows + [("parameters", "")] + parts)
        lines = [self.name, "-" * max(len(self.name), width + 18)]
        lines += [f"{label:<{width}}  {value:>14}" for label, value in rows]
        lines.append(
            f"{'parameters':<{width}}  {self.total_params:>14,}  ({human(self.total_params)})"
        )
        if self.trainable_params != self.total_params:
            lines.append(f"{'trainable':<{width}}  {self.trainable_params:>14,}")
        lines += [
            f"  {part:<{width - 2}}  {count:>14,}  {100 * count / total:5.1f}%"
            for part, count in parts
        ]
        lines += [f"tied: {t}" for t in self.tied]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def model_summary(model: nn.Module) -> TransformerSummary:
    """Summarise a transformer: shape facts and an exact, part-by-part parameter count.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face transformer (GPT-2, BERT, LLaMA naming and alike) or any module; models on
        the ``meta`` device work too (nothing is run).

    Returns
    -------
    TransformerSummary
        Print it for a table; ``to_dict()`` for data.

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> model = build_sample("gpt2")
    >>> info = model_summary(model)
    >>> info.total_params == sum(p.numel() for p in model.parameters())
    True
    >>> info.breakdown["head"], info.tied
    (0, ['lm_head.weight -> transformer.wte.weight'])
    """
    config = getattr(model, "config", None)
    modules = dict(model.named_modules())
    breakdown = dict.fromkeys(PARTS, 0)
    owner: dict[int, str] = {}
    tied: list[str] = []
    total = trainable = 0
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in owner:
            tied.append(f"{name} -> {owner[id(param)]}")
            continue
        owner[id(param)] = name
        module_name = name.rpartition(".")[0]
        breakdown[_part(module_name, modules.get(module_name))] += param.numel()
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    embeddings = [m for m in modules.values() if isinstance(m, nn.Embedding)]
    heads = _config_int(config, "num_attention_heads") or _module_heads(modules.values())
    return TransformerSummary(
        name=_name(model, config),
        layers=_config_int(config, "num_hidden_layers") or _block_count(modules.values()),
        heads=heads,
        kv_heads=_config_int(config, "num_key_value_heads") or heads,
        hidden_size=_config_int(config, "hidden_size") or _widest(embeddings, "embedding_dim"),
        intermediate_size=_config_int(config, "intermediate_size", "n_inner")
        or _mlp_width(modules),
        vocab_size=_config_int(config, "vocab_size") or _widest(embeddings, "num_embeddings"),
        context_length=_config_int(config, "max_position_embeddings", "n_positions", "n_ctx")
        or _position_table(modules),
        total_params=total,
        trainable_params=trainable,
        breakdown=breakdown,
        tied=tied,
    )


def _part(module_name: str, module: nn.Module | None) -> str:
    """Which part a parameter belongs to, from the type and name of the module that holds it."""
    type_name = type(module).__name__.lower()
    segments = module_name.lower().split(".")
    if (
        "norm" in type_name
        or segments[-1].endswith(("norm", "ln", "layernorm"))
        or segments[-1].startswith("ln_")
    ):
        return "norms"
    if isinstance(module, nn.Embedding) or "embed" in type_name:
        return "embeddings"
    if segments[0] in _HEAD or (len(segments) > 1 and segments[1] in _HEAD):
        return "head"
    if any(s in _ATTENTION for s in segments):
        return "attention"
    if any(s in _MLP for s in segments):
        return "mlp"
    return "other"


def _config_int(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _name(model: nn.Module, config: Any) -> str:
    name = type(model).__name__
    if getattr(config, "model_type", ""):
        name += f" ({config.model_type})"
    if getattr(model, "name_or_path", ""):
        name += f" from {model.name_or_path}"
    return name


def _block_count(modules: Any) -> int | None:
    """Length of the longest ``ModuleList``: the stack of transformer blocks."""
    lists = [len(m) for m in modules if isinstance(m, nn.ModuleList)]
    return max(lists) if lists else None


def _module_heads(modules: Any) -> int | None:
    for module in modules:
        for attr in ("num_heads", "n_head", "num_attention_heads"):
            value = getattr(module, attr, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


def _widest(embeddings: list[nn.Embedding], attr: str) -> int | None:
    """From the biggest embedding table (the token table, bigger than position/type tables)."""
    if not embeddings:
        return None
    return int(getattr(max(embeddings, key=lambda e: e.num_embeddings), attr))


def _position_table(modules: dict[str, nn.Module]) -> int | None:
    for name, module in modules.items():
        if isinstance(module, nn.Embedding) and (
            "pos" in name.rpartition(".")[2] or name.endswith("wpe")
        ):
            return module.num_embeddings
    return None


def _mlp_width(modules: dict[str, nn.Module]) -> int | None:
    """Widest output of a projection in the MLP (``nn.Linear``, or GPT-2's ``Conv1D``: ``nf``)."""
    widths = [
        getattr(m, "out_features", None) or getattr(m, "nf", None) or 0
        for n, m in modules.items()
        if _part(n, m) == "mlp"
    ]
    return max(widths, default=0) or None
