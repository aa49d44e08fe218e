"""Incremental storage: resume without recomputing, refuse other configurations, keep NaN."""

import numpy as np
import pytest
import torch
from torch import nn

from viz3d.errors import LandscapeError
from viz3d.landscape import Landscape, Trajectory, loss_landscape


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))


def _data():
    g = torch.Generator().manual_seed(2)
    return torch.randn(30, 5, generator=g), torch.randn(30, 1, generator=g)


class CountingMSE(nn.Module):
    """MSE that counts its calls and can simulate Ctrl-C after a number of calls.

    It reads ``.item()``, which vmap cannot batch, so it is called once per grid point. The
    counters are private attributes, which are not part of the loss's configuration.
    """

    def __init__(self, interrupt_after=None):
        super().__init__()
        self._calls, self._interrupt_after = 0, interrupt_after

    def forward(self, outputs, targets):
        self._calls += 1
        if self._interrupt_after is not None and self._calls > self._interrupt_after:
            raise KeyboardInterrupt
        loss = ((outputs - targets) ** 2).mean()
        return loss if loss.item() >= 0 else -loss


def test_resume_after_interruption_recomputes_nothing_stored(tmp_path):
    path = tmp_path / "plane.npz"
    model, data = _model(), _data()
    options = {"steps": 5, "batch_points": 3, "progress": False}
    fresh_loss = CountingMSE()
    fresh = loss_landscape(model, fresh_loss, data, **options)
    with pytest.raises(KeyboardInterrupt):
        loss_landscape(model, CountingMSE(interrupt_after=6), data, store=str(path), **options)
    partial = Landscape.load(path)
    stored = int(partial.done.sum())
    assert 0 < stored < 25
    assert partial.metadata["error"] == "KeyboardInterrupt"
    assert np.isfinite(partial.losses[partial.done]).all()
    assert np.isnan(partial.losses[~partial.done]).all()

    resumed_loss = CountingMSE()
    resumed = loss_landscape(model, resumed_loss, data, store=str(path), **options)
    # one real loss call per missing point: a fresh run makes `stored` calls more
    assert resumed_loss._calls == fresh_loss._calls - stored
    assert resumed.metadata["evaluated_points"] == 25 - stored
    assert resumed.done.all()
    np.testing.assert_array_equal(resumed.losses[partial.done], partial.losses[partial.done])
    np.testing.assert_allclose(resumed.losses, fresh.losses, rtol=1e-6)

    again_loss = CountingMSE()
    again = loss_landscape(model, again_loss, data, store=str(path), **options)
    assert again_loss._calls == 0
    assert again.metadata["evaluated_points"] == 0


def test_other_configuration_on_same_store_is_refused(tmp_path):
    path = str(tmp_path / "plane.npz")
    loss_landscape(_model(), nn.MSELoss(), _data(), steps=3, store=path, progress=False)
    with pytest.raises(LandscapeError, match=r"steps: \[5, 5\] now vs \[3, 3\].*delete the file"):
        loss_landscape(_model(), nn.MSELoss(), _data(), steps=5, store=path, progress=False)
    with pytest.raises(LandscapeError, match="seed"):
        loss_landscape(_model(), nn.MSELoss(), _data(), steps=3, seed=1, store=path, progress=False)


def test_non_finite_losses_are_nan_and_masked():
    def capped(outputs, targets):
        loss = ((outputs - targets) ** 2).mean()
        return torch.where(loss > 1.5, torch.tensor(float("inf")), loss)

    ls = loss_landscape(_model(), capped, _data(), steps=7, span=3.0, progress=False)
    bad = np.isnan(ls.losses)
    assert bad.any() and not bad.all()
    assert not np.isinf(ls.losses).any()
    masked = ls.masked_losses
    np.testing.assert_array_equal(masked.mask, bad)
    assert ls.minimum[1] == pytest.approx(float(np.nanmin(ls.losses)))


def test_save_and_load_round_trip_without_pickle(tmp_path):
    ls = loss_landscape(_model(), nn.MSELoss(), _data(), steps=(3, 4), progress=False)
    ls = Landscape(
        ls.coords,
        ls.losses,
        ls.done,
        ls.directions,
        ls.direction_vectors,
        Trajectory(np.zeros((2, 2)), np.ones(2), np.array([0.7, 0.2])),
        ls.metadata,
    )
    path = ls.save(tmp_path / "plane")
    with np.load(path, allow_pickle=False) as raw:
        assert raw["losses"].shape == (3, 4)
    back = Landscape.load(path)
    np.testing.assert_array_equal(back.losses, ls.losses)
    np.testing.assert_array_equal(back.direction_vectors, ls.direction_vectors)
    assert [len(a) for a in back.coords] == [3, 4]
    assert back.directions == ls.directions and back.metadata == ls.metadata
    np.testing.assert_array_equal(back.trajectory.explained_variance_ratio, [0.7, 0.2])


def test_loading_a_foreign_file_says_so(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(LandscapeError, match="not a viz3d landscape"):
        Landscape.load(path)
