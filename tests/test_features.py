"""Feature maps, activation maximisation and deep feature factorisation on a trained digits CNN."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

import viz3d
from viz3d.errors import InputError
from viz3d.features import nmf
from viz3d.zoo import digits
from viz3d.zoo.data import fit_digits
from viz3d.zoo.vision import digits_gap_cnn

SIZE = (200, 200)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These models are tiny: one thread is as fast, and far faster on a busy shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits_cnn():
    """A small CNN trained for a couple of seconds on scikit-learn's bundled 8x8 digits."""
    torch.manual_seed(0)
    images, labels = digits(images=True)
    model = digits_gap_cnn()
    # trained, not random: the checks below mean something
    assert fit_digits(model, epochs=12, batch=100, lr=2e-2) > 0.7
    return model, images, labels


def _optimise(model, layer, channels, **kwargs):
    options = {"size": 8, "steps": 128, "progress": False, **kwargs}
    return viz3d.feature_visualization(model, layer, channels, **options)


# ----------------------------------------------------------------- activation maximisation
def test_class_images_score_higher_than_95_percent_of_real_and_random_inputs(digits_cnn):
    model, images, _ = digits_cnn
    result = _optimise(model, "output", list(range(10)))
    with torch.no_grad():
        optimised = model(result.inputs)
        real = model(images)
        noise = model(torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(1)))
    for c in range(10):
        score = float(optimised[c, c])
        assert score > np.percentile(real[:, c].numpy(), 95), c
        assert score > np.percentile(noise[:, c].numpy(), 95), c
    assert result.objective == "class logit"
    np.testing.assert_allclose(result.scores, optimised.diagonal().numpy(), rtol=1e-4)


def test_images_for_two_channels_differ(digits_cnn):
    model, _, _ = digits_cnn
    result = _optimise(model, "2", [0, 1])
    first, second = result.images
    assert np.abs(first - second).mean() > 0.05
    assert result.images.shape == (2, 8, 8, 1)
    assert result.images.min() >= 0 and result.images.max() <= 1


def test_same_seed_gives_the_same_image_and_another_seed_another(digits_cnn):
    model, _, _ = digits_cnn
    once = _optimise(model, "2", [3], seed=7, steps=32).images
    again = _optimise(model, "2", [3], seed=7, steps=32).images
    other = _optimise(model, "2", [3], seed=8, steps=32).images
    np.testing.assert_array_equal(once, again)
    assert np.abs(once - other).max() > 1e-3


def test_neuron_objective_excites_the_centre_unit_more_than_the_channel_objective(digits_cnn):
    model, _, _ = digits_cnn
    neuron = _optimise(model, "3", [5], objective="neuron")
    channel = _optimise(model, "3", [5], objective="channel")
    with torch.no_grad(), viz3d.features.capture.recording(model, {"3": model[3]}) as seen:
        model(torch.cat([neuron.inputs, channel.inputs]))
    centre = seen["3"][:, 5, 4, 4]
    assert centre[0] > centre[1]


def test_rgb_images_are_optimised_in_colour():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    result = viz3d.feature_visualization(model, "0", [1], size=16, steps=32, progress=False)
    image = result.images[0]
    assert image.shape == (16, 16, 3)
    assert np.abs(image[..., 0] - image[..., 2]).mean() > 0.01  # not grey


def test_optimisation_leaves_the_model_as_it_was(digits_cnn):
    model, _, _ = digits_cnn
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad for p in model.parameters()]
    model.train()
    try:
        _optimise(model, "0", [0], steps=4)
        assert model.training
        assert all(p.grad is g for p, g in zip(model.parameters(), grads))
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    finally:
        model.eval()


def test_out_of_range_channel_and_flat_layer_are_clear_errors(digits_cnn):
    model, _, _ = digits_cnn
    with pytest.raises(InputError, match="channel 40 is out of range: layer '2' has 32"):
        _optimise(model, "2", [40], steps=1)
    with pytest.raises(InputError, match="no module named 'nope'"):
        _optimise(model, "nope", [0], steps=1)


# ----------------------------------------------------------------- deep feature factorisation
def test_dff_masks_partition_each_image_and_are_reproducible(digits_cnn):
    model, images, _ = digits_cnn
    concepts = viz3d.deep_feature_factorization(model, images[:12], "3", k=4)
    again = viz3d.deep_feature_factorization(model, images[:12], "3", k=4)
    assert concepts.labels.shape == (12, 8, 8)
    one_hot = np.eye(4)[concepts.labels]  # N x H x W x k
    assert (one_hot.sum(axis=-1) == 1).all()
    # the partition is the arg-max of the concept weights upsampled to the image
    upsampled = nn.functional.interpolate(
        torch.from_numpy(concepts.weights), size=(8, 8), mode="bilinear", align_corners=False
    )
    np.testing.assert_array_equal(concepts.labels, upsampled.argmax(1).numpy())
    assert len(np.unique(concepts.labels)) >= 3  # the concepts really split the images
    assert concepts.masks.min() >= 0 and np.allclose(concepts.masks.max(axis=(2, 3)), 1)
    np.testing.assert_array_equal(concepts.labels, again.labels)
    np.testing.assert_array_equal(concepts.embeddings, again.embeddings)


def _matched_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row cosines between ``a`` and ``b`` under the best permutation of ``b``'s rows."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    sims = a @ b.T
    best = max(itertools.permutations(range(len(b))), key=lambda p: sims[range(len(a)), p].sum())
    return sims[range(len(a)), best]


def test_dff_factorisation_matches_scikit_learn_nmf_up_to_permutation(digits_cnn):
    sklearn_nmf = pytest.importorskip("sklearn.decomposition").NMF
    model, images, _ = digits_cnn
    concepts = viz3d.deep_feature_factorization(model, images[:16], "3", k=4)
    with torch.no_grad():
        activation = model[:4](images[:16]).clamp(min=0)
    x = activation.permute(0, 2, 3, 1).reshape(-1, 32).double().numpy()
    reference = sklearn_nmf(4, init="nndsvd", solver="cd", tol=1e-7, max_iter=3000)
    w_ref = reference.fit_transform(x)
    h_ref = reference.components_
    assert (_matched_cosines(concepts.embeddings, h_ref) > 0.99).all()
    w_ours = concepts.weights.transpose(0, 2, 3, 1).reshape(-1, 4)
    assert (_matched_cosines(w_ours.T, w_ref.T) > 0.99).all()
    error_ref = np.linalg.norm(x - w_ref @ h_ref) / np.linalg.norm(x)
    assert abs(concepts.relative_error - error_ref) < 0.01 * error_ref


def test_nmf_recovers_an_exact_low_rank_factorisation():
    generator = torch.Generator().manual_seed(0)
    w = torch.rand(40, 3, generator=generator, dtype=torch.float64)
    h = torch.rand(3, 12, generator=generator, dtype=torch.float64)
    result = nmf(w @ h, 3, max_iter=2000, tol=1e-12)
    assert result.relative_error < 1e-3
    with pytest.raises(InputError, match="non-negative"):
        nmf(-(w @ h), 3)


def test_dff_names_each_concepts_top_classes_through_the_head(digits_cnn):
    model, images, _ = digits_cnn
    names = [f"digit {i}" for i in range(10)]
    concepts = viz3d.deep_feature_factorization(
        model, images[:16], "3", k=3, head=model[6], class_names=names, top=2
    )
    assert len(concepts.top_classes) == 3
    for classes in concepts.top_classes:
        assert [name for name, _ in classes] == sorted(
            (name for name, _ in classes), key=lambda n: -dict(classes)[n]
        )
        assert all(name in names for name, _ in classes)
    assert "digit" in concepts.legend()[0]
    with pytest.raises(InputError, match="one row of class scores per concept"):
        viz3d.deep_feature_factorization(model, images[:4], "3", k=2, head=lambda e: e.sum())


def test_dff_refuses_a_layer_without_feature_maps(digits_cnn):
    model, images, _ = digits_cnn
    with pytest.raises(InputError, match="not N x C x h x w feature maps"):
        viz3d.deep_feature_factorization(model, images[:4], "6", k=2)


# ----------------------------------------------------------------- feature maps and pictures
@pytest.fixture()
def corner_model():
    """A 1x1 convolution that copies its input, and an 8x8 image bright only at its top left."""
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    image = torch.zeros(1, 8, 8)
    image[0, :3, :3] = 1.0
    return nn.Sequential(conv, nn.ReLU()), image


def _quadrant_means(picture: np.ndarray) -> np.ndarray:
    """Mean brightness of the top-left, top-right, bottom-left, bottom-right quarters."""
    grey = picture[..., :3].astype(float).mean(axis=-1)
    h, w = grey.shape
    return np.array(
        [grey[: h // 2, : w // 2].mean(), grey[: h // 2, w // 2 :].mean()]
        + [grey[h // 2 :, : w // 2].mean(), grey[h // 2 :, w // 2 :].mean()]
    )


def test_slices_of_a_collapsed_module_stand_above_its_drawn_ancestor():
    from viz3d.layout import compute_layout
    from viz3d.render.features import anchor_node

    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten())
    graph = viz3d.trace(model, torch.rand(1, 1, 6, 6))
    full, collapsed = compute_layout(graph), compute_layout(graph.collapse(1))
    assert full.nodes[anchor_node(full, "0.0")]["module"] == "0.0"
    assert collapsed.nodes[anchor_node(collapsed, "0.0")]["module"] == "0"
    with pytest.raises(viz3d.RenderError, match="not drawn in this layout"):
        anchor_node(collapsed, "9")


def test_feature_maps_rank_channels_by_mean_activation(digits_cnn):
    model, images, _ = digits_cnn
    maps = viz3d.feature_maps(model, images[0])
    assert maps.layers == ["0", "2"]
    channels, top = maps.ranked("2", k=5)
    means = maps.maps["2"].mean(axis=(1, 2))
    np.testing.assert_array_equal(channels, np.argsort(-means, kind="stable")[:5])
    assert top.shape == (5, 8, 8)


def test_feature_map_slice_reads_upright_in_3d(corner_model):
    model, image = corner_model
    scene = viz3d.feature_maps(model, image, "0").render(k=1, show=False)
    plane = next(a for a in scene.actors if a.name == "slice-1-0").mesh
    x0, x1, y0, _, z0, z1 = plane.bounds
    centre = np.array([(x0 + x1) / 2, y0, (z0 + z1) / 2])
    distance = (z1 - z0) / 2 / np.tan(np.radians(15))  # the plane just fills a 30° view
    scene.set_camera(centre - [0, distance, 0], centre, (0, 0, 1))
    quadrants = _quadrant_means(scene.screenshot(window_size=SIZE))
    assert quadrants[0] > 4 * quadrants[1:].max(), quadrants


def test_textured_slices_export_to_the_viewer_with_their_pictures(corner_model, tmp_path):
    from viz3d.render.web import scene_data

    model, image = corner_model
    scene = viz3d.feature_maps(model, image, "0").render(k=1, show=False)
    page = scene.export_html(tmp_path / "maps.html").read_text()
    assert 'id="viz3d-data"' in page and "OfflineLocalView" not in page
    slices = [m for m in scene_data(scene)["meshes"] if m["name"].startswith("slice-")]
    assert slices and all(m["texture"].startswith("data:image/png;base64,") for m in slices)
    assert all(m["texture"] in page for m in slices)


def test_feature_map_figure_reads_upright(corner_model):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    model, image = corner_model
    fig = viz3d.feature_maps(model, image, "0").figure("0", k=1)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    axes = [ax for ax in fig.get_axes() if ax.images][1]  # after the input
    box = axes.get_window_extent()
    height = pixels.shape[0]
    rows = slice(int(height - box.y1) + 2, int(height - box.y0) - 2)
    cols = slice(int(box.x0) + 2, int(box.x1) - 2)
    quadrants = _quadrant_means(pixels[rows, cols])
    assert quadrants[0] > 2 * quadrants[1:].max(), quadrants


def _hue_pixels(picture: np.ndarray, colour: np.ndarray) -> int:
    """How many lit pixels have ``colour``'s hue (RGB direction), whatever their shading."""
    rgb = picture[..., :3].astype(float)
    unit = rgb / np.maximum(np.linalg.norm(rgb, axis=-1, keepdims=True), 1.0)
    return int(((unit @ (colour / np.linalg.norm(colour)) > 0.97) & (rgb.max(-1) > 60)).sum())


def test_concepts_colour_the_3d_view_and_the_figure(digits_cnn, tmp_path):
    model, images, _ = digits_cnn
    concepts = viz3d.deep_feature_factorization(model, images[:4], "3", k=2)
    scene = concepts.render(show=False)
    picture = scene.screenshot(window_size=(640, 360))
    scene.actors = [a for a in scene.actors if not a.name.startswith("slice-")]
    bare = scene.screenshot(window_size=(640, 360))
    slices = np.abs(picture.astype(int) - bare.astype(int)).max(axis=-1) > 30
    for colour in concepts.colours():  # each concept's hue shows on the slices
        assert _hue_pixels(picture * slices[..., None], colour) > 50, colour
    path = concepts.save(tmp_path / "concepts.png")
    import imageio.v3 as iio

    figure = iio.imread(path)
    assert len(np.unique(figure.reshape(-1, figure.shape[-1]) // 16, axis=0)) > 20


def test_figure_refuses_an_unknown_format_and_writes_nothing(digits_cnn, tmp_path):
    model, images, _ = digits_cnn
    with pytest.raises(InputError, match="use .png, .pdf, .svg"):
        viz3d.feature_maps(model, images[0]).save(tmp_path / "maps.jpg")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------- command line
def test_cli_writes_feature_figures_and_scenes(tmp_path, capsys):
    import imageio.v3 as iio

    from viz3d.cli import main

    out = tmp_path / "maps.png"
    assert main(["features", "sample:digits-cnn", "--digits", "1", "-o", str(out)]) == 0
    figure = iio.imread(out)
    assert figure.shape[0] > 200 and figure.std() > 10
    concepts = tmp_path / "concepts.html"
    args = ["features", "sample:digits-cnn", "--view", "concepts", "--digits", "6", "-k", "3"]
    assert main([*args, "-o", str(concepts)]) == 0
    assert "<html" in concepts.read_text().lower()
    gallery = tmp_path / "classes.png"
    args = ["features", "sample:digits-cnn", "--view", "optimize", "--channels", "3,5"]
    assert main([*args, "--steps", "8", "-o", str(gallery)]) == 0
    assert iio.imread(gallery).std() > 10


def test_cli_rejects_bad_output_and_unreadable_image(tmp_path, capsys):
    from viz3d.cli import main

    assert main(["features", "sample:digits-cnn", "-o", str(tmp_path / "x.avi")]) == 2
    assert "cannot write" in capsys.readouterr().err
    bogus = tmp_path / "not-a-picture.png"
    bogus.write_text("hello")
    out = tmp_path / "maps.png"
    assert main(["features", "sample:digits-cnn", "--image", str(bogus), "-o", str(out)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not out.exists()
