"""Exceptions raised by viz3d. Every message says what happened, where, and what to do.

Each class carries the exit status the ``viz3d`` command ends with when it stops on one:
``1`` when the model itself failed, ``2`` for unusable input or usage.
"""


class Viz3dError(Exception):
    """Base class of every error viz3d raises on purpose.

    Examples
    --------
    >>> Viz3dError.exit_code, TraceError.exit_code
    (2, 1)
    """

    #: Exit status of the ``viz3d`` command when it stops on this error.
    exit_code = 2


class TraceError(Viz3dError):
    """The model's forward pass failed while tracing (raised with ``strict=True``)."""

    exit_code = 1


class InputError(Viz3dError):
    """The inputs given to :func:`viz3d.trace` (or their shape) cannot be used."""


class SpecError(Viz3dError):
    """A model spec (``sample:mlp``, ``pkg.mod:Factory``, ``file.py:Factory``, HF dir) or a
    command-line input (``--device``, ``--data``, an output path) is unusable."""


class GraphError(Viz3dError):
    """A LayerGraph operation or file is invalid (bad depth, unreadable JSON, wrong version)."""


class RenderError(Viz3dError):
    """A scene could not be rendered or exported."""


class LandscapeError(Viz3dError):
    """A loss landscape could not be computed, stored or resumed."""
