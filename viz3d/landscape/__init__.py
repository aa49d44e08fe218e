"""Loss landscapes: losses on a grid of weights around a model, computed fast and resumably.

Public entry points: :func:`loss_landscape` (random, Hessian or given directions),
:func:`landscape_from_trajectory` (PCA plane of a training path), :func:`interpolate`
(the line between two models) and the :class:`Landscape` result.
"""

from viz3d.landscape.api import interpolate, loss_landscape
from viz3d.landscape.landscape import Landscape, Trajectory
from viz3d.landscape.trajectory import landscape_from_trajectory

__all__ = ["Landscape", "Trajectory", "interpolate", "landscape_from_trajectory", "loss_landscape"]
