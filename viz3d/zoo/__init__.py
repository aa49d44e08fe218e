"""Built-in sample models: ``build_sample("resnet")``, or ``sample:resnet`` on the command line.

Every sample is written here or built from a Hugging Face config: nothing is downloaded.

Examples
--------
>>> from viz3d.zoo import build_sample, SAMPLES
>>> model, shape = build_sample("mlp"), SAMPLES["mlp"].input_shape
>>> model(__import__("torch").randn(*shape)).shape
torch.Size([1, 10])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from viz3d.errors import SpecError
from viz3d.zoo import language, vision
from viz3d.zoo.data import digits


@dataclass(frozen=True)
class Sample:
    """A built-in model: how to build it, what it eats, and where it lives by default."""

    factory: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    description: str
    device: str = "cpu"


SAMPLES: dict[str, Sample] = {
    "mlp": Sample(vision.mlp, (1, 64), "3-layer ReLU MLP for 8x8 digits"),
    "cnn": Sample(vision.SmallCNN, (1, 1, 28, 28), "two conv blocks + classifier"),
    "digits-cnn": Sample(vision.digits_cnn, (1, 1, 8, 8), "two conv stages for 8x8 digits"),
    "resnet": Sample(vision.SmallResNet, (1, 3, 32, 32), "ResNet with 6 basic blocks and skips"),
    "unet": Sample(vision.SmallUNet, (1, 1, 64, 64), "3-level U-Net with concat skips"),
    "gpt2": Sample(language.gpt2, (1, 16), "tiny GPT-2 (2 blocks, 64 wide), HF transformers"),
    "bert": Sample(
        language.bert, (1, 16), "tiny BERT encoder (2 layers, 64 wide), HF transformers"
    ),
    "gpt2-small": Sample(
        lambda: language.gpt2(12, 768, 12, 50257, 1024),
        (1, 64),
        "GPT-2 small shape (124M), random weights",
    ),
    "gpt2-medium": Sample(
        lambda: language.gpt2(24, 1024, 16, 50257, 1024),
        (1, 64),
        "GPT-2 medium shape (355M) on meta",
        device="meta",
    ),
    "llama7b": Sample(language.llama7b, (1, 64), "LLaMA-7B shape (6.7B) on meta", device="meta"),
}


__all__ = ["SAMPLES", "Sample", "build_sample", "digits"]


def build_sample(name: str, device: str | torch.device | None = None) -> nn.Module:
    """Build the sample ``name`` (see ``SAMPLES``) on ``device`` (default: the sample's own).

    Random weights are seeded, so two builds are identical.
    """
    if name not in SAMPLES:
        raise SpecError(f"unknown sample {name!r}; built-in samples: {', '.join(SAMPLES)}")
    sample = SAMPLES[name]
    torch.manual_seed(0)
    with torch.device(device or sample.device):
        return sample.factory()
