"""Exceptions raised by viz3d. Every message says what happened, where, and what to do."""


class Viz3dError(Exception):
    """Base class of every error viz3d raises on purpose."""


class TraceError(Viz3dError):
    """The model's forward pass failed while tracing (raised with ``strict=True``)."""


class InputError(Viz3dError):
    """The inputs given to :func:`viz3d.trace` (or their shape) cannot be used."""


class SpecError(Viz3dError):
    """A model spec (``sample:mlp``, ``pkg.mod:Factory``, ``file.py:Factory``, HF dir) is unusable."""


class GraphError(Viz3dError):
    """A LayerGraph operation or file is invalid (bad depth, unreadable JSON, wrong version)."""


class RenderError(Viz3dError):
    """A scene could not be rendered or exported."""


class LandscapeError(Viz3dError):
    """A loss landscape could not be computed, stored or resumed."""
