"""A store is resumed only for the same loss configuration, counting the real loss calls."""

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from viz3d.errors import LandscapeError
from viz3d.landscape import loss_landscape
from viz3d.landscape.lossid import loss_fingerprint

SMOOTHING = 0.1  # read by `_global_smoothing`; the tests change it


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


def _data():
    g = torch.Generator().manual_seed(2)
    return torch.randn(30, 5, generator=g), torch.randint(0, 3, (30,), generator=g)


class CountCalls(TorchFunctionMode):
    """Counts calls of ``F.cross_entropy`` (the real loss computation) while active."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += func is F.cross_entropy
        return func(*args, **(kwargs or {}))


def _run(loss_fn, store, **options):
    with CountCalls() as counter:
        ls = loss_landscape(
            _model(), loss_fn, _data(), steps=3, store=store, progress=False, **options
        )
    return ls, counter.calls


def _smoothed(scale):
    def loss(outputs, targets):
        return scale * F.cross_entropy(outputs, targets)

    return loss


def _global_smoothing(outputs, targets):
    return F.cross_entropy(outputs, targets, label_smoothing=SMOOTHING)


class Tempered(nn.Module):
    """A loss module with a parameter and a user-written forward."""

    def __init__(self, temperature):
        super().__init__()
        self.temperature = nn.Parameter(torch.tensor(temperature))

    def forward(self, outputs, targets):
        return F.cross_entropy(outputs / self.temperature, targets)


class SlotLoss:
    """A callable whose state lives in ``__slots__``: viz3d cannot read it."""

    __slots__ = ("scale",)

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, outputs, targets):
        return self.scale * F.cross_entropy(outputs, targets)


WEIGHTS = torch.tensor([1.0, 2.0, 3.0])

SAME = {
    "module arguments": lambda: nn.CrossEntropyLoss(label_smoothing=0.1),
    "module buffer": lambda: nn.CrossEntropyLoss(weight=WEIGHTS.clone()),
    "module parameter and forward": lambda: Tempered(2.0),
    "plain function": lambda: F.cross_entropy,
    "lambda": lambda: lambda o, t: F.cross_entropy(o, t, label_smoothing=0.2),
    "partial": lambda: functools.partial(F.cross_entropy, label_smoothing=0.2),
    "closure": lambda: _smoothed(2.0),
    "global": lambda: _global_smoothing,
}

DIFFERENT = {
    "module arguments": (
        lambda: nn.CrossEntropyLoss(),
        lambda: nn.CrossEntropyLoss(label_smoothing=0.9),
        r"loss\.config\.state\.label_smoothing: 0\.9 now vs 0\.0 in the file",
    ),
    "module buffer": (
        lambda: nn.CrossEntropyLoss(weight=WEIGHTS.clone()),
        lambda: nn.CrossEntropyLoss(weight=WEIGHTS.flip(0)),
        r"loss\.config\.buffers",
    ),
    "module parameter": (lambda: Tempered(2.0), lambda: Tempered(3.0), r"loss\.config\.parameters"),
    "lambda code": (
        lambda: lambda o, t: F.cross_entropy(o, t),
        lambda: lambda o, t: F.cross_entropy(o, t) * 2,
        r"loss\.config\.code",
    ),
    "partial arguments": (
        lambda: functools.partial(F.cross_entropy, label_smoothing=0.2),
        lambda: functools.partial(F.cross_entropy, label_smoothing=0.3),
        r"loss\.config\.keywords",
    ),
    "closure": (lambda: _smoothed(2.0), lambda: _smoothed(3.0), r"loss\.config\.closure"),
    "function": (lambda: F.cross_entropy, lambda: F.nll_loss, r"loss\.name"),
}


@pytest.mark.parametrize("make", SAME.values(), ids=SAME.keys())
def test_same_loss_configuration_resumes_without_loss_calls(tmp_path, make):
    store = str(tmp_path / "plane.npz")
    first, first_calls = _run(make(), store)
    assert first_calls > 0 and first.done.all()
    again, again_calls = _run(make(), store)  # a new, equal loss object
    assert again_calls == 0
    assert again.metadata["evaluated_points"] == 0
    assert again.center_loss == first.center_loss


@pytest.mark.parametrize("make_a, make_b, difference", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_other_loss_configuration_is_refused(tmp_path, make_a, make_b, difference):
    store = str(tmp_path / "plane.npz")
    _run(make_a(), store)
    with CountCalls() as counter, pytest.raises(LandscapeError, match=difference):
        _run(make_b(), store)
    assert counter.calls == 0


def test_changed_global_read_by_the_loss_is_refused(tmp_path, monkeypatch):
    store = str(tmp_path / "plane.npz")
    _run(_global_smoothing, store)
    monkeypatch.setitem(globals(), "SMOOTHING", 0.5)
    with pytest.raises(LandscapeError, match=r"loss\.config\.globals\.SMOOTHING: 0\.5 now vs 0\.1"):
        _run(_global_smoothing, store)


def test_unreadable_loss_configuration_resumes_only_when_forced(tmp_path):
    store = str(tmp_path / "plane.npz")
    assert "SlotLoss whose state viz3d cannot read" in loss_fingerprint(SlotLoss(1.0))["unknown"]
    first, _ = _run(SlotLoss(1.0), store)
    with CountCalls() as counter, pytest.raises(LandscapeError, match="resume='force'"):
        _run(SlotLoss(1.0), store)
    assert counter.calls == 0
    forced, calls = _run(SlotLoss(1.0), store, resume="force")
    assert calls == 0 and forced.metadata["evaluated_points"] == 0
    assert forced.center_loss == first.center_loss
    # forcing vouches for the loss only: another grid is still refused
    with pytest.raises(LandscapeError, match=r"steps: \[5, 5\] now vs \[3, 3\]"):
        loss_landscape(
            _model(), SlotLoss(1.0), _data(), steps=5, store=store, resume="force", progress=False
        )


def test_unknown_resume_option_is_refused():
    with pytest.raises(LandscapeError, match="resume='always' is not supported"):
        loss_landscape(_model(), F.cross_entropy, _data(), steps=3, resume="always")
