"""What a digits CNN sees: feature maps, activation maximisation and concepts, for the README.

    python samples/features.py [--out samples/images]

The CNN of ``samples/gradients.py`` is trained for a few seconds on scikit-learn's bundled 8x8
digits (no download), then:

1. the feature maps of both convolutions for one test digit, in 2D (most active channels first)
   and as slices above the architecture in 3D;
2. the inputs that maximise each class logit (a gallery) and the second convolution's eight
   most active channels (slices above that layer in 3D);
3. deep feature factorisation of the last ReLU over 16 test digits into 4 concepts, each named
   by the classes the classifier head gives its embedding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from gradients import train_digits_cnn

import viz3d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="samples/images")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model, images, labels = train_digits_cnn()

    maps = viz3d.feature_maps(model, images[3])
    maps.save(out / "features_maps.png", k=8)
    maps.render(k=8, show=False).screenshot(out / "features_maps_3d.png")

    classes = viz3d.feature_visualization(model, "output", range(10), size=8)
    print("class logits reached:", ", ".join(f"{s:.1f}" for s in classes.scores))
    classes.save(out / "features_classes.png")
    # the most active channels of the second convolution (before its ReLU, so every channel
    # has a gradient to climb even where it starts silent)
    active, _ = maps.ranked("2", k=8)
    channels = viz3d.feature_visualization(model, "2", active.tolist(), size=8)
    channels.render(show=False).screenshot(out / "features_channels_3d.png")

    concepts = viz3d.deep_feature_factorization(
        model, images[:16], "3", k=4, head=model[6], class_names=[str(d) for d in range(10)]
    )
    print(f"{concepts.k} concepts, relative NMF error {concepts.relative_error:.3f}")
    print("\n".join(concepts.legend()))
    concepts.save(out / "features_concepts.png")
    concepts.render(show=False).screenshot(out / "features_concepts_3d.png")


if __name__ == "__main__":
    main()
