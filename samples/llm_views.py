"""Transformer views of a small GPT-2: summary, token activations, attention, embeddings, saliency.

Writes ``samples/images/llm_*.png`` (the README pictures) and prints the model summary.

By default the model is a small GPT-2 built from a config and trained for a few seconds on the
sentences below, with a byte-level BPE tokenizer trained offline on the same sentences; both
are saved to a local directory and loaded back from it, exactly as a real checkpoint is. Nothing
is downloaded.

The same calls work on a real checkpoint directory you downloaded yourself, for example GPT-2
medium (``huggingface-cli download gpt2-medium --local-dir ~/models/gpt2-medium`` on a machine
with network access)::

    python samples/llm_views.py --model-dir ~/models/gpt2-medium --layer 5 --head 4

which runs, for that directory::

    from transformers import AutoModelForCausalLM
    from viz3d.llm import (model_summary, plot_attention, plot_gradients,
                           plot_token_activations, plot_token_embeddings)

    model = AutoModelForCausalLM.from_pretrained("~/models/gpt2-medium", local_files_only=True)
    print(model_summary(model))
    text = "The quick brown fox jumps over the lazy dog."
    plot_token_activations(model, text)        # the tokenizer beside the model is found
    plot_attention(model, text, layer=5, head=4)
    plot_token_embeddings(model, text, layer=12)
    plot_gradients(model, "The quick brown fox jumps over the lazy", target=" dog")

Run from the repository root: ``python samples/llm_views.py [--model-dir DIR] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")

from viz3d.llm import (
    model_summary,
    plot_attention,
    plot_gradients,
    plot_token_activations,
    plot_token_embeddings,
)

OUT = Path(__file__).resolve().parent / "images"
TEXT = "The quick brown fox jumps over the lazy dog."
PROMPT = "The quick brown fox jumps over the lazy"
CORPUS = [
    TEXT,
    "The lazy dog sleeps in the warm sun.",
    "A quick red fox runs through the brown forest.",
    "The dog jumps over the old wooden fence.",
    "A brown bear walks over the green hill.",
    "The quick cat jumps over the sleeping dog.",
    "The fox and the dog are friends in the forest.",
    "A lazy cat sleeps over the warm fence.",
    "The old bear runs through the quick river.",
    "The brown dog walks in the green forest.",
]


def build_tiny_gpt2(directory: Path, steps: int = 300) -> Path:
    """Train a byte-level BPE tokenizer and a 4-layer GPT-2 on ``CORPUS``, save to ``directory``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=420,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )
    config = GPT2Config(
        n_layer=4,
        n_embd=128,
        n_head=4,
        vocab_size=len(tokenizer),
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    rows = [tokenizer(s)["input_ids"] + [0] for s in CORPUS]
    width = max(len(r) for r in rows)
    batch = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    labels = batch.masked_fill(
        torch.arange(width) > torch.tensor([len(r) - 1 for r in rows])[:, None], -100
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"trained the tiny GPT-2 to loss {loss.item():.3f}")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="a local Hugging Face causal-LM checkpoint with its tokenizer "
        "(default: train a tiny GPT-2)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument(
        "--layer", type=int, default=None, help="attention layer (default: the middle one)"
    )
    parser.add_argument("--head", type=int, default=1)
    parser.add_argument("--prompt", default=PROMPT, help="text whose next-token logit is explained")
    parser.add_argument(
        "--target", default=" dog", help="the next token explained by the saliency view"
    )
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as scratch:
        directory = (
            args.model_dir.expanduser()
            if args.model_dir
            else build_tiny_gpt2(Path(scratch) / "tiny-gpt2")
        )
        model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True)
        render(model, args)  # inside: the tokenizer is loaded from the directory beside the model


def render(model: torch.nn.Module, args: argparse.Namespace) -> None:
    """Print the summary and write one PNG per view."""
    info = model_summary(model)
    print(info)
    layer = args.layer if args.layer is not None else info.layers // 2
    text = args.text
    args.out.mkdir(parents=True, exist_ok=True)
    scenes = {
        "llm_activations": plot_token_activations(model, text, show=False),
        "llm_attention_head": plot_attention(model, text, layer=layer, head=args.head, show=False),
        "llm_attention_heads": plot_attention(model, text, layer=layer, show=False),
        "llm_attention_layers": plot_attention(model, text, stack_layers=True, show=False),
        "llm_embeddings": plot_token_embeddings(model, text, layer=info.layers, show=False),
        "llm_embeddings_table": plot_token_embeddings(model, text, show=False),
        "llm_saliency": plot_gradients(model, args.prompt, target=args.target, show=False),
    }
    for name, scene in scenes.items():
        path = args.out / f"{name}.png"
        scene.screenshot(path, window_size=(1280, 720))
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
