"""Directions: filter normalisation, Hessian eigenvectors, PCA of trajectories, interpolation."""

import numpy as np
import pytest
import torch
from torch import nn

from viz3d.errors import LandscapeError
from viz3d.landscape import interpolate, landscape_from_trajectory, loss_landscape
from viz3d.landscape.directions import parameters_of, random_directions, unflatten


def _convnet():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2)
    )


def test_filter_directions_have_filter_norms_and_zero_ignored_tensors():
    theta = parameters_of(_convnet())
    for direction in random_directions(theta, 2, "filter", seed=4):
        for name, w in theta.items():
            d = direction[name]
            if w.dim() <= 1:
                assert torch.equal(d, torch.zeros_like(w)), name
            else:
                torch.testing.assert_close(d.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))


def test_filter_directions_without_ignore_copy_one_dimensional_weights():
    theta = parameters_of(_convnet())
    (direction,) = random_directions(theta, 1, "filter", seed=4, ignore=None)
    assert torch.equal(direction["1.weight"], theta["1.weight"])
    assert torch.equal(direction["4.bias"], theta["4.bias"])


def test_landscape_stores_the_directions_it_used():
    model = _convnet()
    x, y = torch.randn(6, 1, 4, 4), torch.randint(0, 2, (6,))
    ls = loss_landscape(model, nn.CrossEntropyLoss(), (x, y), steps=3, seed=4, progress=False)
    theta = parameters_of(model)
    expected = random_directions(theta, 2, "filter", seed=4)
    for vector, direction in zip(ls.direction_vectors, expected):
        stored = unflatten(torch.as_tensor(vector), theta)
        assert all(torch.equal(stored[n], direction[n]) for n in theta)


def test_layer_and_model_normalisation():
    theta = parameters_of(_convnet())
    (layer,) = random_directions(theta, 1, "layer", seed=1)
    torch.testing.assert_close(layer["0.weight"].norm(), theta["0.weight"].norm())
    (whole,) = random_directions(theta, 1, "model", seed=1)
    kept = [n for n, w in theta.items() if w.dim() > 1]

    def norm(t):
        return torch.sqrt(sum(t[n].pow(2).sum() for n in kept))

    torch.testing.assert_close(norm(whole), norm(theta))


def test_hessian_direction_is_the_top_eigenvector_of_a_quadratic():
    g = torch.Generator().manual_seed(5)
    x = (
        torch.randn(40, 3, generator=g, dtype=torch.float64)
        * torch.tensor([3.0, 1.0, 0.5]).double()
    )
    y = torch.randn(40, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(3, 1).double()
    ls = loss_landscape(
        model, nn.MSELoss(), (x, y), dims=2, steps=3, directions="hessian", progress=False
    )
    a = torch.cat([x, torch.ones(40, 1, dtype=torch.float64)], 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(2 / 40 * a.T @ a)
    top = eigenvectors[:, -1].numpy()
    found = ls.direction_vectors[0]  # order: weight (1x3), bias (1)
    assert abs(found @ top) == pytest.approx(1.0, abs=1e-6)
    assert ls.directions["eigenvalues"][0] == pytest.approx(eigenvalues[-1].item(), rel=1e-6)
    assert ls.directions["eigenvalues"][1] == pytest.approx(eigenvalues[-2].item(), rel=1e-4)
    assert abs(ls.direction_vectors[0] @ ls.direction_vectors[1]) < 1e-8


def test_planar_trajectory_projects_back_exactly():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1))
    final = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(6)
    u = {k: torch.randn(v.shape, generator=g) for k, v in final.items()}
    v = {k: torch.randn(v.shape, generator=g) for k, v in final.items()}
    steps = [(3.0, 1.0), (2.0, 0.5), (1.0, -0.5), (0.5, 0.2)]
    checkpoints = [{k: final[k] + s * u[k] + t * v[k] for k in final} for s, t in steps]
    x, y = torch.randn(20, 4, generator=g), torch.randn(20, 1, generator=g)
    ls = landscape_from_trajectory(
        model, checkpoints, nn.MSELoss(), (x, y), steps=5, progress=False
    )
    assert ls.trajectory.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-9)
    theta = parameters_of(model)
    flat_final = torch.cat([w.reshape(-1) for w in theta.values()]).double()
    basis = torch.as_tensor(ls.direction_vectors).double()
    for coords, checkpoint in zip(ls.trajectory.coords, checkpoints):
        rebuilt = flat_final + torch.as_tensor(coords) @ basis
        target = torch.cat([checkpoint[n].reshape(-1) for n in theta]).double()
        torch.testing.assert_close(rebuilt, target, atol=1e-5, rtol=0)
    assert (np.abs(ls.trajectory.coords) <= np.array([ls.coords[0][-1], ls.coords[1][-1]])).all()
    with torch.no_grad():
        model.load_state_dict(checkpoints[0])
        first = nn.MSELoss()(model(x), y).item()
    assert ls.trajectory.losses[0] == pytest.approx(first, rel=1e-5)


def test_interpolate_endpoints_are_the_two_models_losses():
    torch.manual_seed(0)
    a, b = _convnet(), _convnet()
    with torch.no_grad():
        for p in b.parameters():
            p.mul_(-1.5)
    b[1].running_mean.fill_(0.3)
    x, y = torch.randn(10, 1, 4, 4), torch.randint(0, 2, (10,))
    loss_fn = nn.CrossEntropyLoss()
    curve = interpolate(a, b, loss_fn, (x, y), steps=7, start=-0.25, stop=1.25, progress=False)
    a.eval(), b.eval()
    assert curve.coords[0][1] == pytest.approx(0.0) and curve.coords[0][5] == pytest.approx(1.0)
    assert curve.losses[1] == pytest.approx(loss_fn(a(x), y).item(), rel=1e-5)
    assert curve.losses[5] == pytest.approx(loss_fn(b(x), y).item(), rel=1e-5)


def test_explicit_direction_shape_mismatch_is_named():
    model = _convnet()
    bad = {"0.weight": torch.zeros(2, 2)}
    with pytest.raises(LandscapeError, match=r"'0.weight': shape \(2, 2\)"):
        loss_landscape(
            model,
            nn.CrossEntropyLoss(),
            (torch.randn(2, 1, 4, 4), torch.zeros(2).long()),
            dims=1,
            directions=[bad],
            progress=False,
        )
