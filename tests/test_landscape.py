"""Loss-landscape evaluation: centre value, untouched model, batched == per point, grids."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from viz3d.errors import LandscapeError
from viz3d.landscape import Landscape, loss_landscape
from viz3d.landscape.directions import unflatten


def _mlp(dtype=torch.float32):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)
    ).to(dtype)


def _wide_mlp(dtype=torch.float32):
    """Hidden layers wider than 16 outputs: the per-point product is not computed transposed."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 24), nn.Tanh(), nn.Linear(24, 20)
    ).to(dtype)


def _cnn(dtype=torch.float32):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(24, 3),
    ).to(dtype)


def _classification(n=40, shape=(6,), dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, *shape, generator=g, dtype=dtype), torch.randint(0, 3, (n,), generator=g)


class _Branchy(nn.Module):
    """Not a Sequential: evaluated through vmap."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(6, 5), nn.Linear(6, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(torch.relu(self.a(x)) * torch.sigmoid(self.b(x)))


class _DataDependent(nn.Module):
    """Control flow on a value: cannot be vmapped, evaluated point by point."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x):
        out = self.lin(x)
        return out * 2 if out.sum().item() > 0 else out


def _reference(model, landscape, loss_fn, data, index):
    """Loss at grid point ``index`` from the stored directions, with a plain forward."""
    names = [entry[0] for entry in landscape.metadata["fingerprint"]["parameters"]]
    theta0 = {n: p.detach() for n, p in model.named_parameters() if n in names}
    dirs = [unflatten(torch.as_tensor(v), theta0) for v in landscape.direction_vectors]
    coords = [axis[i] for axis, i in zip(landscape.coords, index)]
    params = {n: w + sum(c * d[n].to(w) for c, d in zip(coords, dirs)) for n, w in theta0.items()}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return loss_fn(functional_call(model, params, (data[0],)), data[1]).item()
    finally:
        model.train(was_training)


def test_center_equals_eval_mode_loss():
    model, data, loss_fn = _cnn(), _classification(shape=(1, 8, 8)), nn.CrossEntropyLoss()
    model.train()
    ls = loss_landscape(model, loss_fn, data, steps=5, progress=False)
    model.eval()
    expected = loss_fn(model(data[0]), data[1]).item()
    assert ls.coords[0][2] == 0.0 and ls.coords[1][2] == 0.0
    assert ls.center_loss == pytest.approx(expected, rel=1e-6)


def test_model_left_bit_identical_with_flags():
    model, data = _cnn(), _classification(shape=(1, 8, 8))
    model.train()
    model[0].weight.requires_grad_(False)
    model[1].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [(m.training) for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    loss_landscape(model, nn.CrossEntropyLoss(), data, steps=3, progress=False)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == grads


@pytest.mark.parametrize("factory, shape", [(_mlp, (6,)), (_wide_mlp, (6,)), (_cnn, (1, 8, 8))])
def test_batched_matches_per_point_float64(factory, shape):
    model, data = factory(torch.float64), _classification(shape=shape, dtype=torch.float64)
    loss_fn = nn.CrossEntropyLoss()
    ls = loss_landscape(model, loss_fn, data, steps=5, batch_points=7, progress=False)
    assert ls.metadata["strategy"] == "batched"
    for index in [(0, 0), (1, 3), (4, 2), (3, 4)]:
        assert ls.losses[index] == pytest.approx(
            _reference(model, ls, loss_fn, data, index), rel=1e-10
        )


def test_batched_matches_per_point_float32():
    model, data, loss_fn = _cnn(), _classification(shape=(1, 8, 8)), nn.CrossEntropyLoss()
    ls = loss_landscape(model, loss_fn, data, steps=5, span=0.5, progress=False)
    for index in [(0, 4), (2, 1), (4, 4)]:
        assert ls.losses[index] == pytest.approx(
            _reference(model, ls, loss_fn, data, index), rel=1e-5
        )


def test_custom_module_uses_vmap_and_agrees():
    model, data, loss_fn = _Branchy(), _classification(), nn.CrossEntropyLoss()
    ls = loss_landscape(model, loss_fn, data, steps=3, progress=False)
    assert ls.metadata["strategy"] == "vmap"
    for index in [(0, 0), (2, 1)]:
        assert ls.losses[index] == pytest.approx(
            _reference(model, ls, loss_fn, data, index), rel=1e-5
        )


def test_unvmappable_module_falls_back_per_point_with_warning():
    model, data, loss_fn = _DataDependent(), _classification(), nn.CrossEntropyLoss()
    with pytest.warns(RuntimeWarning, match="'loop'"):
        ls = loss_landscape(model, loss_fn, data, steps=3, progress=False, ignore=None)
    assert ls.metadata["strategy"] == "loop"
    assert ls.losses[0, 2] == pytest.approx(_reference(model, ls, loss_fn, data, (0, 2)), rel=1e-5)


def test_linear_regression_surface_is_the_exact_quadratic():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    y = torch.randn(50, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(4, 1).double()
    d1 = {
        "weight": torch.randn(1, 4, generator=g, dtype=torch.float64),
        "bias": torch.ones(1).double(),
    }
    d2 = {
        "weight": torch.randn(1, 4, generator=g, dtype=torch.float64),
        "bias": torch.zeros(1).double(),
    }
    ls = loss_landscape(
        model,
        nn.MSELoss(),
        (x, y),
        steps=(9, 7),
        span=(2.0, 1.5),
        directions=[d1, d2],
        progress=False,
    )
    w0, b0 = model.weight.detach().numpy(), model.bias.detach().numpy()
    X, Y = x.numpy(), y.numpy()
    a, b = np.meshgrid(ls.coords[0], ls.coords[1], indexing="ij")
    w = (
        w0[None, None]
        + a[..., None, None] * d1["weight"].numpy()
        + b[..., None, None] * d2["weight"].numpy()
    )
    bias = b0 + a[..., None] * d1["bias"].numpy() + b[..., None] * d2["bias"].numpy()
    pred = np.einsum("nd,ijod->ijno", X, w) + bias[:, :, None, :]
    closed = ((pred - Y) ** 2).mean(axis=(2, 3))
    np.testing.assert_allclose(ls.losses, closed, rtol=1e-10)
    # curvature along d1 is d1^T H d1 with H = 2/n [X 1]^T [X 1]
    h = ls.coords[0][1] - ls.coords[0][0]
    second = (ls.losses[5, 3] - 2 * ls.losses[4, 3] + ls.losses[3, 3]) / h**2
    v = np.concatenate([d1["weight"].numpy().ravel(), d1["bias"].numpy()])
    A = np.hstack([X, np.ones((50, 1))])
    assert second == pytest.approx(v @ (2 / 50 * A.T @ A) @ v, rel=1e-8)


def test_non_square_grid_keeps_axis_order():
    model, data, loss_fn = _mlp(), _classification(), nn.CrossEntropyLoss()
    ls = loss_landscape(model, loss_fn, data, steps=(7, 5), span=(1.0, 0.4), progress=False)
    assert ls.losses.shape == (7, 5) and len(ls.coords[0]) == 7 and len(ls.coords[1]) == 5
    assert ls.coords[1][-1] == pytest.approx(0.4)
    for index in [(6, 0), (0, 4), (5, 1)]:
        assert ls.losses[index] == pytest.approx(
            _reference(model, ls, loss_fn, data, index), rel=1e-5
        )


def test_one_dimensional_curve_and_dataloader_weighting():
    model, (x, y), loss_fn = _mlp(), _classification(n=30), nn.CrossEntropyLoss()
    batches = [(x[:20], y[:20]), (x[20:], y[20:])]
    curve = loss_landscape(model, loss_fn, batches, dims=1, steps=5, progress=False)
    whole = loss_landscape(model, loss_fn, (x, y), dims=1, steps=5, progress=False)
    assert curve.losses.shape == (5,) and curve.dims == 1
    np.testing.assert_allclose(curve.losses, whole.losses, rtol=1e-6)


def test_recalibrated_batchnorm_centre_matches_manual_recalibration():
    model, data, loss_fn = _cnn(), _classification(shape=(1, 8, 8)), nn.CrossEntropyLoss()
    ls = loss_landscape(model, loss_fn, data, steps=3, progress=False, bn="recalibrate")
    manual = _cnn()
    manual.load_state_dict(model.state_dict())
    manual[1].reset_running_stats()
    manual[1].momentum = None
    manual.train()
    with torch.no_grad():
        manual(data[0])
    manual.eval()
    assert ls.center_loss == pytest.approx(loss_fn(manual(data[0]), data[1]).item(), rel=1e-5)
    assert ls.metadata["strategy"] == "loop"


def test_empty_data_is_refused():
    with pytest.raises(LandscapeError, match="data is empty"):
        loss_landscape(_mlp(), nn.CrossEntropyLoss(), [], steps=3, progress=False)


def test_non_scalar_loss_is_refused():
    loss = nn.CrossEntropyLoss(reduction="none")
    with pytest.raises(LandscapeError, match="scalar"):
        loss_landscape(_mlp(), loss, _classification(), steps=3, progress=False)


def test_input_shape_mismatch_names_the_module():
    x, y = torch.randn(10, 7), torch.randint(0, 3, (10,))
    with pytest.raises(LandscapeError, match=r"module 0 \(Linear\)"):
        loss_landscape(_mlp(), nn.CrossEntropyLoss(), (x, y), steps=3, progress=False)


def test_minimum_is_lowest_finite_point():
    ls = loss_landscape(_mlp(), nn.CrossEntropyLoss(), _classification(), steps=5, progress=False)
    (a, b), value = ls.minimum
    assert value == np.nanmin(ls.losses)
    i, j = np.argwhere(ls.losses == value)[0]
    assert (a, b) == (ls.coords[0][i], ls.coords[1][j])
    assert isinstance(ls, Landscape)
