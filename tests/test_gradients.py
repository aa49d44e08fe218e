"""Gradient flow, the training watcher and Grad-CAM give the answers known by construction."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import viz3d


class ResidualSigmoid(nn.Module):
    """The same 20 sigmoid layers as the plain MLP, each wrapped in a residual connection."""

    def __init__(self, depth: int = 20, width: int = 16) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.Sigmoid()) for _ in range(depth)
        )
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


def _sigmoid_mlp(depth: int = 20, width: int = 16) -> nn.Sequential:
    return nn.Sequential(
        *[nn.Sequential(nn.Linear(width, width), nn.Sigmoid()) for _ in range(depth)],
        nn.Linear(width, 1),
    )


def _mse(output, target):
    return (output - target).pow(2).mean()


@pytest.fixture
def batch():
    return torch.randn(64, 16), torch.randn(64, 1)


def test_deep_sigmoid_mlp_flags_vanishing_gradients_at_first_layers(batch):
    x, y = batch
    flow = viz3d.gradient_flow(_sigmoid_mlp(), x, loss_fn=_mse, targets=y)
    names = list(flow.grad_norms)
    assert names[0] == "0.0" and names[-1] == "20"  # execution order
    assert {"0.0", "1.0", "2.0"} <= set(flow.vanishing)
    assert "20" not in flow.vanishing
    assert flow.grad_norms["0.0"] < 1e-6 * flow.grad_norms["20"]


def test_residual_version_of_same_depth_does_not_vanish(batch):
    x, y = batch
    flow = viz3d.gradient_flow(ResidualSigmoid(), x, loss_fn=_mse, targets=y)
    assert flow.vanishing == [] and flow.exploding == []
    assert next(iter(flow.grad_norms)) == "blocks.0.0"


def test_exploding_gradients_are_flagged():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    with torch.no_grad():
        model[1].weight.mul_(1e4)
    flow = viz3d.gradient_flow(model, torch.randn(8, 4), loss_fn=lambda y: y.pow(2).mean())
    assert "0" in flow.exploding


def test_gradient_flow_leaves_model_grads_and_optimizer_untouched(batch):
    x, y = batch
    model = nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    _mse(model(x), y).backward()
    optimizer.step()
    state = copy.deepcopy(model.state_dict())
    grads = [p.grad.clone() for p in model.parameters()]
    opt_state = copy.deepcopy(optimizer.state_dict())
    flow = viz3d.gradient_flow(model, x, loss_fn=_mse, targets=y, steps=3, optimizer=optimizer)
    assert len(flow.history) == 3 and set(flow.update_ratios) == set(flow.grad_norms)
    assert all(r > 0 for r in flow.update_ratios.values())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert torch.equal(
        opt_state["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert model.training


def test_plot_draws_a_chart(tmp_path, batch):
    x, y = batch
    flow = viz3d.gradient_flow(_sigmoid_mlp(), x, loss_fn=_mse, targets=y)
    fig = flow.plot(tmp_path / "flow.png")
    pixels = np.asarray(
        __import__("PIL.Image", fromlist=["Image"]).open(tmp_path / "flow.png").convert("RGB")
    )
    assert len(fig.axes[0].lines) == 1 and pixels.std() > 10


def _train(model, data, watcher_every=None):
    torch.manual_seed(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    watcher = viz3d.watch(model, every=watcher_every) if watcher_every else None
    for x, y in data:
        optimizer.zero_grad()
        _mse(model(x), y).backward()
        optimizer.step()
        with torch.no_grad():
            model.eval()(x)  # an evaluation pass is not a step
            model.train()
    if watcher:
        watcher.close()
    return watcher


def test_watch_records_asked_snapshots_without_changing_training():
    data = [(torch.randn(16, 16), torch.randn(16, 1)) for _ in range(23)]
    plain, watched = _sigmoid_mlp(4), _sigmoid_mlp(4)
    watched.load_state_dict(plain.state_dict())
    _train(plain, data)
    watcher = _train(watched, data, watcher_every=5)
    assert [s.step for s in watcher.snapshots] == [0, 5, 10, 15, 20]
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), watched.parameters()))
    first = watcher.snapshots[0]
    assert list(first.grad_norms) == ["0.0", "1.0", "2.0", "3.0", "4"]
    assert set(first.activations["0.0"]) == {"mean", "std", "absmax"}
    flow = watcher.gradient_flow()
    assert flow.steps == [0, 5, 10, 15, 20] and len(flow.history) == 5
    assert not watched._forward_hooks and not watched._forward_pre_hooks


# ---------------------------------------------------------------- Grad-CAM


class QuadrantCNN(nn.Module):
    """Class k's evidence is a bright spot in quadrant k (0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right), by construction: a 1x1 conv over (image, x, y) makes channel k respond to
    brightness inside quadrant k only, and logit k is the spatial mean of channel k."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        with torch.no_grad():
            for k in range(4):
                row, col = divmod(k, 2)
                self.conv.weight[k, :, 0, 0] = torch.tensor(
                    [1.0, 1.0 if col else -1.0, 1.0 if row else -1.0]
                )
                self.conv.bias[k] = -1.0

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        n, _, h, w = image.shape
        y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        coords = torch.stack([x, y]).expand(n, 2, h, w)
        return self.pool(self.relu(self.conv(torch.cat([image, coords], dim=1)))).flatten(1)


@pytest.fixture(scope="module")
def quadrant_cnn():
    return QuadrantCNN()


def _quadrant_mass(heatmap: np.ndarray) -> list[float]:
    return [float(heatmap[r : r + 8, c : c + 8].sum()) for r in (0, 8) for c in (0, 8)]


def test_grad_cam_moves_to_the_quadrant_of_the_target_class(quadrant_cnn):
    image = torch.full((1, 16, 16), 0.1)
    image[0, 2:6, 2:6] = 1.0  # evidence for class 0 (top left)
    image[0, 10:14, 10:14] = 1.0  # evidence for class 3 (bottom right)
    cam0 = viz3d.grad_cam(quadrant_cnn, image, target=0)
    cam3 = viz3d.grad_cam(quadrant_cnn, image, target=3)
    assert cam0.layer == "conv"  # the last Conv2d by default
    assert (
        cam0.heatmap.shape == (16, 16)
        and cam0.heatmap.min() >= 0
        and cam0.heatmap.max() == pytest.approx(1)
    )
    assert int(np.argmax(_quadrant_mass(cam0.heatmap))) == 0
    assert int(np.argmax(_quadrant_mass(cam3.heatmap))) == 3
    overlay = cam0.overlay()
    assert overlay.shape == (16, 16, 3) and overlay.dtype == np.uint8


def test_grad_cam_rejects_bad_targets_and_layers(quadrant_cnn):
    image = torch.rand(1, 16, 16)
    with pytest.raises(viz3d.InputError, match="outside the model's 4 outputs"):
        viz3d.grad_cam(quadrant_cnn, image, target=7)
    with pytest.raises(viz3d.InputError, match="has no module named 'pool.missing'"):
        viz3d.grad_cam(quadrant_cnn, image, target=0, layer="pool.missing")


def test_grad_cam_rejects_non_spatial_layer():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    with pytest.raises(viz3d.InputError, match="must output N x C x h x w"):
        viz3d.grad_cam(model, torch.rand(1, 8, 8), target=0, layer="1")


# ---------------------------------------------------------------- pictures

SIZE = (480, 270)


def test_gradient_colouring_differs_between_plain_and_residual_pictures(batch):
    x, y = batch
    plain = viz3d.gradient_flow(_sigmoid_mlp(), x, loss_fn=_mse, targets=y).render(show=False)
    residual = viz3d.gradient_flow(ResidualSigmoid(), x, loss_fn=_mse, targets=y).render(show=False)
    assert "vanishing" in [a.name for a in plain.actors]
    assert "vanishing" not in [a.name for a in residual.actors]
    layers = next(a for a in plain.actors if a.name == "layers")
    values = layers.mesh.cell_data["value"]
    assert np.nanmax(values) - np.nanmin(values) > 10  # log10 norms span > 10 decades
    a, b = plain.screenshot(window_size=SIZE), residual.screenshot(window_size=SIZE)

    def magenta(img):
        return int(((img[..., 0] > 220) & (img[..., 1] < 120) & (img[..., 2] > 180)).sum())

    assert magenta(a) > magenta(b) + 100
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 3


def _watched_training(every: int, steps: int, lr: float):
    """A 3-layer sigmoid MLP trained ``steps`` SGD steps on random data under a watcher."""
    model = _sigmoid_mlp(3)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    with viz3d.watch(model, every=every) as watcher:
        for _ in range(steps):
            optimizer.zero_grad()
            _mse(model(torch.randn(8, 16)), torch.randn(8, 1)).backward()
            optimizer.step()
    return watcher


def test_watcher_gradient_flow_renders_on_the_traced_architecture():
    watcher = _watched_training(every=2, steps=4, lr=0.1)
    scene = watcher.gradient_flow().render(show=False)
    image = scene.screenshot(window_size=SIZE)
    assert len(np.unique(image.reshape(-1, 3) // 8, axis=0)) > 50


def test_grad_cam_view_places_input_heatmap_and_feature_maps(quadrant_cnn):
    image = torch.full((1, 16, 16), 0.1)
    image[0, 2:6, 2:6] = 1.0
    scene = viz3d.grad_cam(quadrant_cnn, image, target=0).render(show=False)
    names = [a.name for a in scene.actors]
    assert {"cam-input", "cam-overlay", "cam-layer"} <= set(names)
    assert sum(n.startswith("cam-feature-") for n in names) == 4
    picture = scene.screenshot(window_size=SIZE)
    other = (
        viz3d.grad_cam(quadrant_cnn, image, target=3)
        .render(show=False)
        .screenshot(window_size=SIZE)
    )
    assert (
        np.abs(picture.astype(int) - other.astype(int)).sum() > 0
    )  # the overlay follows the target


def test_textured_planes_read_upright_from_the_front():
    from viz3d.render.gradients import _texture, _upright_plane
    from viz3d.render.scene import Scene

    picture = np.zeros((8, 8, 3))
    picture[0, :, 0] = 1.0  # top row red
    picture[:, 0, 1] = 1.0  # left column green
    scene = Scene(background="black")
    scene.add_mesh(_upright_plane(np.zeros(3), 1.0, 1.0), name="plane", texture=_texture(picture))
    scene.set_camera((0, -3, 0), (0, 0, 0), (0, 0, 1))
    image = scene.screenshot(window_size=(200, 200))
    red_rows = np.nonzero(image[..., 0] > 150)[0]
    green_cols = np.nonzero(image[..., 1] > 150)[1]
    lit_rows, lit_cols = np.nonzero(image.sum(axis=2) > 30)
    assert red_rows.max() < lit_rows.min() + 20 < lit_rows.max()
    assert green_cols.max() < lit_cols.min() + 20 < lit_cols.max()


def test_training_dynamics_video_has_one_held_frame_per_snapshot(tmp_path):
    import imageio.v3 as iio

    watcher = _watched_training(every=3, steps=9, lr=0.5)
    path = watcher.movie(
        tmp_path / "dynamics.mp4",
        seconds_per_snapshot=0.25,
        fps=8,
        window_size=(160, 96),
        progress=False,
    )
    frames = iio.imread(path)
    assert frames.shape == (3 * 2, 96, 160, 3)
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() < 1  # held
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.05  # recoloured
