"""What the network sees: feature maps, activation maximisation and deep feature factorisation.

Computation only (no pyvista): each result draws itself in 2D with matplotlib (``.figure()``,
``.save(path)``) and in 3D through :mod:`viz3d.render.features` (``.render()``).
"""

from viz3d.features.dff import Concepts, deep_feature_factorization
from viz3d.features.maps import FeatureMaps, feature_maps
from viz3d.features.nmf import NMFResult, nmf
from viz3d.features.optimize import FeatureImages, feature_visualization

__all__ = [
    "Concepts",
    "FeatureImages",
    "FeatureMaps",
    "NMFResult",
    "deep_feature_factorization",
    "feature_maps",
    "feature_visualization",
    "nmf",
]
