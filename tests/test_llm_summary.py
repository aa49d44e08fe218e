"""model_summary: shape facts from configs or modules, an exact part-by-part parameter count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from viz3d.llm import TransformerSummary, model_summary
from viz3d.llm.summary import PARTS

transformers = pytest.importorskip("transformers")
from tests.llm_models import tiny_bert_config


def _unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _tiny_models() -> dict[str, nn.Module]:
    tf = transformers
    return {
        "gpt2": tf.GPT2LMHeadModel(
            tf.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=120, n_positions=32)
        ),
        "bert": tf.BertModel(tiny_bert_config(120, max_position_embeddings=32)),
        "bert-mlm": tf.BertForMaskedLM(tiny_bert_config(120)),
        "llama": tf.LlamaForCausalLM(
            tf.LlamaConfig(
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                vocab_size=120,
                max_position_embeddings=32,
            )
        ),
    }


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    return _tiny_models()


@pytest.mark.parametrize("name", ["gpt2", "bert", "bert-mlm", "llama"])
def test_total_is_exact_and_breakdown_sums_to_it(models: dict[str, nn.Module], name: str) -> None:
    info = model_summary(models[name])
    assert info.total_params == _unique_params(models[name])
    assert sum(info.breakdown.values()) == info.total_params
    assert set(info.breakdown) == set(PARTS)


@pytest.mark.parametrize("name", ["gpt2", "bert", "bert-mlm", "llama"])
def test_known_architectures_leave_nothing_in_other(
    models: dict[str, nn.Module], name: str
) -> None:
    breakdown = model_summary(models[name]).breakdown
    assert breakdown["other"] == 0
    assert all(breakdown[part] > 0 for part in ("embeddings", "attention", "mlp", "norms"))


def test_tied_lm_head_counted_once(models: dict[str, nn.Module]) -> None:
    info = model_summary(models["gpt2"])
    assert info.tied == ["lm_head.weight -> transformer.wte.weight"]
    assert info.breakdown["head"] == 0
    assert info.breakdown["embeddings"] == (120 + 32) * 64


def test_untied_llama_head_is_its_own_part(models: dict[str, nn.Module]) -> None:
    info = model_summary(models["llama"])
    assert info.breakdown["head"] == 120 * 64
    assert info.breakdown["attention"] == 2 * (
        64 * 64 * 2 + 64 * 32 * 2
    )  # q, o full; k, v with 2 kv heads


def test_facts_come_from_the_config(models: dict[str, nn.Module]) -> None:
    gpt2, llama = model_summary(models["gpt2"]), model_summary(models["llama"])
    assert (gpt2.layers, gpt2.heads, gpt2.hidden_size, gpt2.vocab_size, gpt2.context_length) == (
        2,
        4,
        64,
        120,
        32,
    )
    assert gpt2.intermediate_size == 256  # GPT-2's n_inner=None means 4x, read from its Conv1D
    assert (llama.heads, llama.kv_heads, llama.intermediate_size) == (4, 2, 128)


def test_facts_come_from_modules_without_a_config() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(16)
            self.attn = nn.MultiheadAttention(16, 2)
            self.mlp = nn.Sequential(nn.Linear(16, 48), nn.GELU(), nn.Linear(48, 16))

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 16)
            self.pos_embed = nn.Embedding(8, 16)
            self.layers = nn.ModuleList(Block() for _ in range(3))
            self.lm_head = nn.Linear(16, 50)

    model = Tiny()
    info = model_summary(model)
    assert (
        info.layers,
        info.heads,
        info.hidden_size,
        info.vocab_size,
        info.context_length,
        info.intermediate_size,
    ) == (3, 2, 16, 50, 8, 48)
    assert info.total_params == _unique_params(model) == sum(info.breakdown.values())
    assert info.breakdown["head"] == 16 * 50 + 50


def test_frozen_parameters_are_not_trainable(models: dict[str, nn.Module]) -> None:
    model = models["bert"]
    model.embeddings.requires_grad_(False)
    try:
        info = model_summary(model)
    finally:
        model.embeddings.requires_grad_(True)
    assert info.trainable_params == info.total_params - info.breakdown["embeddings"] - 2 * 64


def test_table_and_dict_agree(models: dict[str, nn.Module]) -> None:
    info = model_summary(models["bert"])
    table = info.table()
    assert f"{info.total_params:,}" in table and "attention heads" in table
    assert all(f"{count:,}" in table for count in info.breakdown.values())
    data = info.to_dict()
    assert data["total_params"] == info.total_params and data["breakdown"] == info.breakdown
    assert TransformerSummary(**data) == info


def test_meta_device_models_are_counted_without_memory() -> None:
    config = transformers.LlamaConfig(
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        vocab_size=1000,
    )
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    info = model_summary(model)
    assert info.total_params == _unique_params(model) == sum(info.breakdown.values())
