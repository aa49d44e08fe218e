"""Comparing two models: paired modules, weight differences and activation similarity.

``viz3d.compare(model_a, model_b)`` returns a :class:`ModelDiff` (see :mod:`viz3d.compare.api`);
its drawing lives in :mod:`viz3d.render.compare`. Nothing here imports pyvista.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from viz3d.compare.api import compare
from viz3d.compare.diff import STATUSES, ModelDiff, ModuleDiff
from viz3d.compare.weights import TensorDiff, tensor_diff

__all__ = ["STATUSES", "ModelDiff", "ModuleDiff", "TensorDiff", "compare", "tensor_diff"]


class _CallableModule(types.ModuleType):
    """Importing ``viz3d.compare`` (this package) rebinds the name ``viz3d.compare`` to the
    package, shadowing the function; making the package callable keeps ``viz3d.compare(a, b)``
    working."""

    def __call__(self, *args: Any, **kwargs: Any) -> ModelDiff:
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
