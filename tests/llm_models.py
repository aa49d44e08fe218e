"""Tiny transformer configs shared by the transformer-view tests."""

from __future__ import annotations

from typing import Any

import transformers


def tiny_bert_config(vocab_size: int, **extra: Any) -> transformers.BertConfig:
    """A 2-layer, 64-wide, 4-head BERT config."""
    return transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=vocab_size,
        **extra,
    )
