"""Transformer samples built from Hugging Face configs (never downloaded: no weights exist)."""

from __future__ import annotations

from torch import nn

from viz3d.errors import SpecError


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise SpecError(
            "this sample needs Hugging Face transformers: pip install 'viz3d[hf]'"
        ) from exc
    return transformers


def gpt2(
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    vocab_size: int = 1000,
    n_positions: int = 128,
) -> nn.Module:
    """A GPT-2 language model (LM head tied to the token embedding) built from a config.

    The defaults make a tiny one; ``gpt2(12, 768, 12, 50257, 1024)`` is GPT-2 small's shape.
    """
    tf = _transformers()
    config = tf.GPT2Config(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        vocab_size=vocab_size,
        n_positions=n_positions,
        attn_implementation="eager",
        bos_token_id=vocab_size - 1,
        eos_token_id=vocab_size - 1,
    )
    return tf.GPT2LMHeadModel(config).eval()


def bert(
    num_hidden_layers: int = 2,
    hidden_size: int = 64,
    num_attention_heads: int = 4,
    vocab_size: int = 1000,
) -> nn.Module:
    """A small BERT encoder built from a config."""
    tf = _transformers()
    config = tf.BertConfig(
        num_hidden_layers=num_hidden_layers,
        hidden_size=hidden_size,
        num_attention_heads=num_attention_heads,
        intermediate_size=4 * hidden_size,
        vocab_size=vocab_size,
        max_position_embeddings=128,
        attn_implementation="eager",
    )
    return tf.BertModel(config).eval()


def llama7b() -> nn.Module:
    """A LLaMA-7B-shaped causal LM (32 layers, 4096 wide, 6.7B parameters).

    Build it under ``torch.device("meta")`` (the sample spec does) to trace it with no weight
    memory.
    """
    tf = _transformers()
    config = tf.LlamaConfig(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
        max_position_embeddings=4096,
    )
    return tf.LlamaForCausalLM(config).eval()
