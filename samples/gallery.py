"""Render the gallery: real architectures at the defaults, 1280x720, to samples/images/gallery/.

The gallery is the visual specification of the layout and the renderer: look at every picture
after every change to either. Hugging Face models are built from their configs with small widths
and their real depth (random weights, nothing is downloaded); the rest come from ``viz3d.zoo``.

Run from the repository root::

    python samples/gallery.py                   # all of them
    python samples/gallery.py t5 unet           # some of them
    python samples/gallery.py --out /tmp/g t5   # somewhere else
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import viz3d
from viz3d.zoo import SAMPLES, build_sample

OUT = Path(__file__).resolve().parent / "images" / "gallery"
SIZE = (1280, 720)


@dataclass(frozen=True)
class Entry:
    """One gallery picture: how to build the model and the inputs it is traced with."""

    build: Callable[[], nn.Module]
    inputs: Callable[[], Any]
    title: str


def _hf(config_class: str, model_class: str, **config: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import transformers

        cfg = getattr(transformers, config_class)(**config)
        return getattr(transformers, model_class)(cfg).eval()

    return build


def _ids(length: int = 16, vocab: int = 1000) -> Callable[[], torch.Tensor]:
    return lambda: torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(0))


def _image(channels: int = 3, side: int = 32) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(1, channels, side, side, generator=torch.Generator().manual_seed(0))


def _sample(name: str) -> Entry:
    shape = SAMPLES[name].input_shape
    return Entry(lambda: build_sample(name), lambda: torch.randn(*shape), SAMPLES[name].description)


class Autoencoder(nn.Module):
    """A convolutional autoencoder: 32x32 images squeezed to a 32-number latent code and back."""

    def __init__(self, latent: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * 8 * 8, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 32 * 8 * 8),
            nn.Unflatten(1, (32, 8, 8)),
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


_SMALL_LM = {"vocab_size": 1000, "max_position_embeddings": 64}
GALLERY: dict[str, Entry] = {
    "gpt2": Entry(
        _hf(
            "GPT2Config",
            "GPT2LMHeadModel",
            n_layer=12,
            n_embd=64,
            n_head=4,
            vocab_size=1000,
            bos_token_id=0,
            eos_token_id=0,
        ),
        _ids(),
        "GPT-2 (12 layers)",
    ),
    "llama": Entry(
        _hf(
            "LlamaConfig",
            "LlamaForCausalLM",
            num_hidden_layers=8,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=2,
            **_SMALL_LM,
        ),
        _ids(),
        "LLaMA (8 layers, grouped-query attention)",
    ),
    "mixtral": Entry(
        _hf(
            "MixtralConfig",
            "MixtralForCausalLM",
            num_hidden_layers=4,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=2,
            num_local_experts=4,
            num_experts_per_tok=2,
            **_SMALL_LM,
        ),
        _ids(),
        "Mixtral (4 layers, 4 experts)",
    ),
    "t5": Entry(
        _hf(
            "T5Config",
            "T5ForConditionalGeneration",
            num_layers=6,
            num_decoder_layers=6,
            d_model=64,
            d_ff=128,
            d_kv=16,
            num_heads=4,
            vocab_size=1000,
        ),
        lambda: {"input_ids": _ids()(), "decoder_input_ids": _ids(8)()},
        "T5 (6 + 6 layers)",
    ),
    "bart": Entry(
        _hf(
            "BartConfig",
            "BartForConditionalGeneration",
            encoder_layers=4,
            decoder_layers=4,
            d_model=64,
            encoder_ffn_dim=128,
            decoder_ffn_dim=128,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            **_SMALL_LM,
        ),
        lambda: {"input_ids": _ids()(), "decoder_input_ids": _ids(8)()},
        "BART (4 + 4 layers)",
    ),
    "bert": Entry(
        _hf(
            "BertConfig",
            "BertForSequenceClassification",
            num_hidden_layers=12,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            vocab_size=1000,
        ),
        _ids(),
        "BERT (12 layers)",
    ),
    "vit": Entry(
        _hf(
            "ViTConfig",
            "ViTForImageClassification",
            num_hidden_layers=12,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        _image(),
        "ViT (12 layers, 8x8 patches)",
    ),
    "swin": Entry(
        _hf(
            "SwinConfig",
            "SwinForImageClassification",
            image_size=128,
            patch_size=4,
            embed_dim=16,
            depths=[2, 2, 6, 2],
            num_heads=[1, 2, 4, 8],
            window_size=4,
        ),
        _image(3, 128),
        "Swin (2-2-6-2 stages)",
    ),
    "convnext": Entry(
        _hf(
            "ConvNextConfig",
            "ConvNextForImageClassification",
            hidden_sizes=[16, 32, 64, 128],
            depths=[3, 3, 9, 3],
        ),
        _image(3, 64),
        "ConvNeXt (3-3-9-3 stages)",
    ),
    "resnet50": Entry(
        _hf(
            "ResNetConfig",
            "ResNetForImageClassification",
            embedding_size=16,
            hidden_sizes=[32, 64, 128, 256],
            depths=[3, 4, 6, 3],
            layer_type="bottleneck",
        ),
        _image(3, 64),
        "ResNet-50 shape (bottlenecks 3-4-6-3)",
    ),
    "efficientnet": Entry(
        _hf(
            "EfficientNetConfig",
            "EfficientNetForImageClassification",
            image_size=64,
            width_coefficient=0.25,
            depth_coefficient=1.0,
            hidden_dim=320,
        ),
        _image(3, 64),
        "EfficientNet-B0 depth",
    ),
    "clip": Entry(
        lambda: _clip(),
        lambda: {"input_ids": _ids(8)(), "pixel_values": _image()()},
        "CLIP (text and image towers)",
    ),
    "mamba": Entry(
        _hf(
            "MambaConfig",
            "MambaForCausalLM",
            num_hidden_layers=8,
            hidden_size=64,
            state_size=8,
            vocab_size=1000,
        ),
        _ids(),
        "Mamba (8 layers)",
    ),
    "unet": _sample("unet"),
    "autoencoder": Entry(Autoencoder, _image(1, 32), "convolutional autoencoder"),
    "resnet": _sample("resnet"),
}


def _clip() -> nn.Module:
    import transformers

    text = {"num_hidden_layers": 4, "hidden_size": 64, "intermediate_size": 128}
    text.update(num_attention_heads=4, vocab_size=1000, max_position_embeddings=32)
    text.update(bos_token_id=0, eos_token_id=2, pad_token_id=1)  # inside the small vocabulary
    vision = {"num_hidden_layers": 4, "hidden_size": 64, "intermediate_size": 128}
    vision.update(num_attention_heads=4, image_size=32, patch_size=8)
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
    return transformers.CLIPModel(config).eval()


def render(name: str, out: Path = OUT) -> Path:
    """Trace and render one gallery entry at the defaults into ``out``; return the PNG's path."""
    entry = GALLERY[name]
    torch.manual_seed(0)
    model, inputs = entry.build(), entry.inputs()
    graph = viz3d.trace(model, inputs)
    scene = viz3d.enhanced_3d_visualization(graph, show=False, title=entry.title)
    path = out / f"{name}.png"
    scene.screenshot(path, window_size=SIZE)
    return path


def main(argv: list[str]) -> None:
    """Render the named entries (default: all) into ``--out DIR`` (default: :data:`OUT`)."""
    parser = argparse.ArgumentParser(description="Render the gallery of real architectures.")
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"entries to render (default: all): {', '.join(GALLERY)}",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default: {OUT})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in GALLERY]
    if unknown:
        parser.error(f"no gallery entry {', '.join(unknown)}; choose from {', '.join(GALLERY)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or GALLERY:
        start = time.perf_counter()
        path = render(name, args.out)
        print(f"wrote {path} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
