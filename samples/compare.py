"""Model-diff pictures for the README: a small GPT-2 against an edited copy.

    python samples/compare.py [--out samples/images]

Model A: a 4-block GPT-2 (64 wide, random weights, no download). Model B, its edited copy:
a rank-4 update merged into the attention projections of blocks 1 and 3 (a merged LoRA), half
of block 2's MLP weights pruned by magnitude, its LM head rounded to int8 and back, and a
fresh block inserted after block 0. Writes

* ``compare_status.png`` - A above B, linked module by module, coloured by status;
* ``compare_weight_change.png`` - B coloured by log10 relative weight change, the added block
  outlined.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
from torch import nn

import viz3d


def edited_pair() -> tuple[nn.Module, nn.Module]:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=4, n_embd=64, n_head=4, vocab_size=512, n_positions=64, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    base = GPT2LMHeadModel(config).eval()
    edited = copy.deepcopy(base)
    edited.config.tie_word_embeddings = False
    edited.lm_head.weight = nn.Parameter(base.lm_head.weight.detach().clone())
    blocks = edited.transformer.h
    with torch.no_grad():
        for block in (blocks[1], blocks[3]):
            for proj in (block.attn.c_attn, block.attn.c_proj):
                w = proj.weight
                w += 0.003 * torch.randn(w.shape[0], 4) @ torch.randn(4, w.shape[1])
        for layer in (blocks[2].mlp.c_fc, blocks[2].mlp.c_proj):
            layer.weight.mul_(layer.weight.abs() > layer.weight.abs().median())
        head = edited.lm_head.weight
        scale = head.abs().amax(dim=1, keepdim=True) / 127
        head.copy_(torch.round(head / scale) * scale)
    fresh = copy.deepcopy(blocks[0])
    for p in fresh.parameters():
        nn.init.normal_(p, std=0.02)
    edited.transformer.h = nn.ModuleList([blocks[0], fresh, *blocks[1:]])
    edited.config.n_layer = 5
    return base, edited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="samples/images")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    base, edited = edited_pair()
    diff = viz3d.compare(base, edited, input_shape=(2, 16))
    print(diff.summary())
    diff.render(color_by="status", side_by_side=True).screenshot(out / "compare_status.png")
    diff.render(color_by="weight_change").screenshot(out / "compare_weight_change.png")
    print(f"wrote {out / 'compare_status.png'} and {out / 'compare_weight_change.png'}")


if __name__ == "__main__":
    main()
