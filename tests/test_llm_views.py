"""Transformer views on tiny GPT-2 and BERT models and a tokenizer trained offline, all loaded
back from local directories the way a user's checkpoint would be (nothing downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from viz3d.errors import InputError
from viz3d.llm import (
    attention_weights,
    plot_attention,
    plot_gradients,
    plot_token_activations,
    plot_token_embeddings,
    prepare,
)

transformers = pytest.importorskip("transformers")
from tests.llm_models import tiny_bert_config

tokenizers = pytest.importorskip("tokenizers")

TEXT = "the quick brown fox jumps over the lazy dog"
CORPUS = [TEXT, "a lazy dog sleeps in the sun", "the brown fox runs", "attention is all you need"]
SIZE = (400, 300)


def _tokenizer() -> transformers.PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    raw = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"]))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]"
    )


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny GPT-2 and BERT with the same tokenizer, saved like downloaded checkpoints."""
    root = tmp_path_factory.mktemp("llm")
    tokenizer = _tokenizer()
    vocab = len(tokenizer)
    torch.manual_seed(0)
    configs = {
        "gpt2": transformers.GPT2LMHeadModel(
            transformers.GPT2Config(
                n_layer=2,
                n_embd=64,
                n_head=4,
                vocab_size=vocab,
                n_positions=32,
                bos_token_id=0,
                eos_token_id=0,
            )
        ),
        "bert": transformers.BertForMaskedLM(
            tiny_bert_config(vocab, max_position_embeddings=32, pad_token_id=1)
        ),
    }
    dirs = {}
    for name, model in configs.items():
        dirs[name] = root / name
        model.save_pretrained(dirs[name])
        tokenizer.save_pretrained(dirs[name])
    return dirs


@pytest.fixture(scope="session")
def gpt2(checkpoints: dict[str, Path]) -> torch.nn.Module:
    return transformers.AutoModelForCausalLM.from_pretrained(
        checkpoints["gpt2"], local_files_only=True
    )


@pytest.fixture(scope="session")
def bert(checkpoints: dict[str, Path]) -> torch.nn.Module:
    return transformers.AutoModelForMaskedLM.from_pretrained(
        checkpoints["bert"], local_files_only=True
    )


def _colourful(image: np.ndarray) -> bool:
    """Not one flat colour: many distinct colours and a real spread of brightness."""
    colours = np.unique(image.reshape(-1, image.shape[-1])[:, :3], axis=0)
    return len(colours) > 50 and float(image.std()) > 5


# ---------------------------------------------------------------- inputs
def test_tokenizer_beside_the_model_is_used(gpt2: torch.nn.Module) -> None:
    tokens = prepare(gpt2, TEXT)
    assert tokens.labels == TEXT.split()


def test_missing_tokenizer_says_what_to_pass() -> None:
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50)
    )
    with pytest.raises(InputError, match="tokenizer=.*input_ids="):
        plot_token_activations(model, "some text", show=False)


def test_input_ids_need_no_tokenizer(gpt2: torch.nn.Module) -> None:
    scene = plot_token_activations(gpt2, input_ids=[2, 3, 4], show=False)
    assert len(scene.metadata["tokens"]) == 3


# ---------------------------------------------------------------- activations
def test_token_activations_render(gpt2: torch.nn.Module) -> None:
    scene = plot_token_activations(gpt2, TEXT, show=False)
    assert np.asarray(scene.metadata["norms"]).shape == (3, len(TEXT.split()))
    assert _colourful(scene.screenshot(window_size=SIZE))


def test_token_activations_match_hidden_states(gpt2: torch.nn.Module) -> None:
    scene = plot_token_activations(gpt2, TEXT, show=False)
    ids = prepare(gpt2, TEXT).ids
    with torch.no_grad():
        states = gpt2(ids, output_hidden_states=True).hidden_states
    expected = torch.stack([s[0].norm(dim=-1) for s in states]).numpy()
    assert np.allclose(scene.metadata["norms"], expected, atol=1e-5)


def test_token_activations_of_chosen_modules(gpt2: torch.nn.Module) -> None:
    scene = plot_token_activations(gpt2, TEXT, module="transformer.h.*.mlp", show=False)
    assert scene.metadata["rows"] == ["transformer.h.0.mlp", "transformer.h.1.mlp"]


def test_unknown_module_lists_real_names(gpt2: torch.nn.Module) -> None:
    with pytest.raises(InputError, match="transformer"):
        plot_token_activations(gpt2, TEXT, module="decoder.*", show=False)


# ---------------------------------------------------------------- attention
@pytest.mark.parametrize("layer, head", [(0, 1), (1, 3)])
def test_attention_shown_equals_the_models_own(
    checkpoints: dict[str, Path], gpt2: torch.nn.Module, layer: int, head: int
) -> None:
    scene = plot_attention(gpt2, TEXT, layer=layer, head=head, show=False)  # gpt2 loads with SDPA
    eager = transformers.AutoModelForCausalLM.from_pretrained(
        checkpoints["gpt2"], local_files_only=True, attn_implementation="eager"
    )
    with torch.no_grad():
        own = (
            eager(prepare(eager, TEXT).ids, output_attentions=True)
            .attentions[layer][0, head]
            .numpy()
        )
    assert np.allclose(scene.metadata["attention"], own, atol=1e-6)


def test_sdpa_model_is_switched_to_eager_and_back(checkpoints: dict[str, Path]) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(
        checkpoints["gpt2"], local_files_only=True, attn_implementation="sdpa"
    )
    weights = attention_weights(model, prepare(model, TEXT).ids)
    assert weights.shape == (2, 4, 9, 9)
    assert model.config._attn_implementation == "sdpa"


def test_causal_arcs_never_point_to_future_tokens(gpt2: torch.nn.Module) -> None:
    for scene in (
        plot_attention(gpt2, TEXT, layer=0, show=False),
        plot_attention(gpt2, TEXT, stack_layers=True, show=False),
    ):
        arcs = np.asarray(scene.metadata["arcs"])
        assert len(arcs) and np.all(arcs[:, 3] <= arcs[:, 2])


def test_bidirectional_attention_looks_both_ways(bert: torch.nn.Module) -> None:
    scene = plot_attention(bert, TEXT, layer=1, head=0, threshold=0.0, show=False)
    arcs = np.asarray(scene.metadata["arcs"])
    assert np.any(arcs[:, 3] > arcs[:, 2]) and np.any(arcs[:, 3] < arcs[:, 2])
    assert _colourful(scene.screenshot(window_size=SIZE))


def test_two_heads_give_different_pictures(gpt2: torch.nn.Module) -> None:
    first = plot_attention(gpt2, TEXT, layer=1, head=0, show=False).screenshot(window_size=SIZE)
    second = plot_attention(gpt2, TEXT, layer=1, head=2, show=False).screenshot(window_size=SIZE)
    assert _colourful(first)
    assert np.abs(first.astype(int) - second.astype(int)).sum(axis=-1).astype(bool).mean() > 0.002


def test_all_heads_and_stacked_layers(gpt2: torch.nn.Module) -> None:
    heads = plot_attention(gpt2, TEXT, layer=-1, show=False)
    stacked = plot_attention(gpt2, TEXT, stack_layers=True, show=False)
    weights = attention_weights(gpt2, prepare(gpt2, TEXT).ids)
    assert np.allclose(heads.metadata["attention"], weights[-1], atol=1e-6)
    assert np.allclose(stacked.metadata["attention"], weights.mean(axis=1), atol=1e-6)
    assert _colourful(stacked.screenshot(window_size=SIZE))


def test_threshold_drops_only_tiny_weights(gpt2: torch.nn.Module) -> None:
    scene = plot_attention(gpt2, TEXT, layer=0, head=0, threshold=0.1, show=False)
    weights = np.asarray(scene.metadata["attention"])
    assert len(scene.metadata["arcs"]) == int((weights >= 0.1).sum())


def test_bad_head_is_an_input_error(gpt2: torch.nn.Module) -> None:
    with pytest.raises(InputError, match="4 heads"):
        plot_attention(gpt2, TEXT, layer=0, head=7, show=False)


# ---------------------------------------------------------------- embeddings
def test_embedding_table_rows_projected_in_3d(gpt2: torch.nn.Module) -> None:
    scene = plot_token_embeddings(gpt2, TEXT, show=False)
    assert scene.metadata["tokens"] == list(dict.fromkeys(TEXT.split()))  # "the" once
    assert np.asarray(scene.metadata["coords"]).shape == (8, 3)
    assert _colourful(scene.screenshot(window_size=SIZE))


def test_pca_of_contextual_states_matches_numpy(gpt2: torch.nn.Module) -> None:
    scene = plot_token_embeddings(gpt2, TEXT, layer=1, dims=2, show=False)
    with torch.no_grad():
        states = (
            gpt2(prepare(gpt2, TEXT).ids, output_hidden_states=True).hidden_states[1][0].numpy()
        )
    centred = states - states.mean(axis=0)
    expected = np.abs(centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T)
    assert np.allclose(np.abs(scene.metadata["coords"]), expected, atol=1e-4)
    assert _colourful(scene.screenshot(window_size=SIZE))


def test_token_list_and_tsne(gpt2: torch.nn.Module) -> None:
    pytest.importorskip("sklearn")
    scene = plot_token_embeddings(
        gpt2, ["fox", "dog", "sun", "lazy", "brown"], method="tsne", show=False
    )
    assert scene.metadata["tokens"] == ["fox", "dog", "sun", "lazy", "brown"]
    assert np.isfinite(scene.metadata["coords"]).all()


# ---------------------------------------------------------------- saliency
def test_saliency_one_value_per_token_and_renders(gpt2: torch.nn.Module) -> None:
    scene = plot_gradients(gpt2, TEXT, show=False)
    saliency = np.asarray(scene.metadata["saliency"])
    assert saliency.shape == (len(TEXT.split()),) and (saliency >= 0).all() and saliency.sum() > 0
    assert _colourful(scene.screenshot(window_size=SIZE))


def test_saliency_changes_with_the_target(gpt2: torch.nn.Module) -> None:
    loss = plot_gradients(gpt2, TEXT, show=False).metadata
    fox = plot_gradients(gpt2, TEXT, target="fox", show=False).metadata
    sun = plot_gradients(
        gpt2, TEXT, target=prepare(gpt2, "sun").ids[0, 0].item(), show=False
    ).metadata
    assert fox["target_id"] != sun["target_id"]
    assert not np.allclose(fox["saliency"], sun["saliency"])
    assert not np.allclose(loss["saliency"], fox["saliency"])


def test_saliency_leaves_the_model_as_it_was(checkpoints: dict[str, Path]) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(
        checkpoints["gpt2"], local_files_only=True
    )
    model.train()
    model.transformer.wte.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plot_gradients(model, TEXT, target="dog", show=False)
    assert model.training and all(m.training for m in model.modules())
    assert (
        not model.transformer.wte.weight.requires_grad
        and model.transformer.h[0].attn.c_attn.weight.requires_grad
    )
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_masked_lm_saliency(bert: torch.nn.Module) -> None:
    scene = plot_gradients(bert, TEXT, show=False)
    assert len(scene.metadata["saliency"]) == len(TEXT.split())


def test_multi_token_target_is_an_input_error(gpt2: torch.nn.Module) -> None:
    with pytest.raises(InputError, match="2 tokens"):
        plot_gradients(gpt2, TEXT, target="lazy dog", show=False)


def test_llm_command_draws_attention_from_a_saved_directory(checkpoints, tmp_path, capsys):
    from viz3d.cli import main

    out = tmp_path / "attention.png"
    assert (
        main(
            [
                "llm",
                "attention",
                str(checkpoints["gpt2"]),
                "--text",
                "the cat sat on the mat",
                "--layer",
                "1",
                "--head",
                "0",
                "-o",
                str(out),
                "--window-size",
                "320x180",
            ]
        )
        == 0
    )
    assert _colourful(
        np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(out).convert("RGB"))
    )
    assert main(["llm", "summary", str(checkpoints["gpt2"])]) == 0
    assert "heads" in capsys.readouterr().out.lower()
