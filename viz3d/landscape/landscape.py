"""The :class:`Landscape` result: a grid of losses as plain numpy data, stored in npz files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from viz3d.errors import LandscapeError
from viz3d.files import atomic_write

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Trajectory:
    """A training path projected onto a landscape's plane.

    Attributes
    ----------
    coords : numpy.ndarray
        ``(n_checkpoints, dims)`` coordinates of each checkpoint on the plane.
    losses : numpy.ndarray
        ``(n_checkpoints,)`` loss of each checkpoint's *own* weights. The checkpoints lie
        off the plane, so these differ from the surface value under the projected point.
    explained_variance_ratio : numpy.ndarray
        Fraction of the path's squared distance to the centre captured by each direction.
    """

    coords: np.ndarray
    losses: np.ndarray
    explained_variance_ratio: np.ndarray


@dataclass(frozen=True)
class Landscape:
    """Losses on a 1D or 2D grid around a model, as plain numpy data.

    Attributes
    ----------
    coords : tuple of numpy.ndarray
        One axis per dimension; ``losses[i, j]`` is the loss at ``(coords[0][i], coords[1][j])``.
    losses : numpy.ndarray
        Loss per grid point, shape ``tuple(len(axis) for axis in coords)``; NaN where the loss
        was not finite or not computed yet.
    done : numpy.ndarray
        Boolean mask of the points that were computed (all True for a finished run).
    directions : dict
        JSON-able description of the directions: ``kind`` and ``norms`` (global norm of each
        direction), plus ``eigenvalues`` for Hessian directions.
    direction_vectors : numpy.ndarray or None
        ``(dims, n_parameters)`` flattened directions in the order of
        ``metadata["parameters"]``, kept for models small enough (see ``loss_landscape``).
    trajectory : Trajectory or None
        A projected training path, for landscapes made from checkpoints.
    metadata : dict
        JSON-able run description: configuration fingerprint, parameter names and shapes,
        evaluation strategy, timings.
    """

    coords: tuple[np.ndarray, ...]
    losses: np.ndarray
    done: np.ndarray
    directions: dict[str, Any] = field(default_factory=dict)
    direction_vectors: np.ndarray | None = None
    trajectory: Trajectory | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def dims(self) -> int:
        """Number of grid dimensions (1 or 2)."""
        return len(self.coords)

    @property
    def masked_losses(self) -> np.ma.MaskedArray:
        """Losses with non-finite and not-yet-computed points masked.

        Examples
        --------
        >>> import numpy as np
        >>> ls = Landscape((np.array([-1.0, 0.0, 1.0]),), np.array([1.0, np.nan, 2.0]),
        ...                np.array([True, True, True]))
        >>> int(ls.masked_losses.count())
        2
        """
        return np.ma.masked_array(self.losses, mask=~(np.isfinite(self.losses) & self.done))

    @property
    def minimum(self) -> tuple[tuple[float, ...], float]:
        """Coordinates and value of the lowest finite point.

        Examples
        --------
        >>> import numpy as np
        >>> ls = Landscape((np.array([-1.0, 0.0, 1.0]),), np.array([3.0, 1.0, 2.0]),
        ...                np.ones(3, bool))
        >>> ls.minimum
        ((0.0,), 1.0)
        """
        masked = self.masked_losses
        if masked.count() == 0:
            raise LandscapeError(
                "the landscape has no finite loss: every point diverged or none was computed; "
                "try a smaller span or check the loss function"
            )
        index = np.unravel_index(int(np.ma.argmin(masked)), self.losses.shape)
        point = tuple(float(axis[i]) for axis, i in zip(self.coords, index))
        return point, float(self.losses[index])

    @property
    def center_loss(self) -> float:
        """Loss at the grid point nearest the origin (the unperturbed model for odd steps).

        Examples
        --------
        >>> import numpy as np
        >>> ls = Landscape((np.array([-1.0, 0.0, 1.0]),), np.array([3.0, 1.0, 2.0]),
        ...                np.ones(3, bool))
        >>> ls.center_loss
        1.0
        """
        index = tuple(int(np.argmin(np.abs(axis))) for axis in self.coords)
        return float(self.losses[index])

    def render(self, **options: Any) -> Any:
        """Draw the landscape as a :class:`viz3d.Scene` (surface or curve, contours, minimum,
        trajectory); ``options`` go to :func:`viz3d.render.landscape.render_landscape`."""
        from viz3d.render.landscape import render_landscape  # rendering lives in render/

        return render_landscape(self, **options)

    def movie(self, path: str | os.PathLike, **options: Any) -> Path:
        """Write an orbit video of the surface (see
        :func:`viz3d.render.pyvista.landscape_movie.landscape_orbit_movie`)."""
        from viz3d.render.pyvista.landscape_movie import landscape_orbit_movie

        return landscape_orbit_movie(self, path, **options)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the landscape to an ``.npz`` file atomically (temporary file, then rename).

        Parameters
        ----------
        path : str or os.PathLike
            Destination; ``.npz`` is appended when missing.

        Returns
        -------
        pathlib.Path
            The path written.

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> ls = Landscape((np.linspace(-1, 1, 3),), np.array([1.0, 0.5, 1.0]), np.ones(3, bool))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     back = Landscape.load(ls.save(os.path.join(tmp, "curve.npz")))
        >>> back.center_loss
        0.5
        """
        return write_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Landscape:
        """Read a landscape written by :meth:`save` (or a partial ``store=`` file).

        Parameters
        ----------
        path : str or os.PathLike
            An ``.npz`` file.

        Returns
        -------
        Landscape

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> ls = Landscape((np.zeros(1), np.zeros(1)), np.ones((1, 1)), np.ones((1, 1), bool))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     Landscape.load(ls.save(os.path.join(tmp, "plane"))).dims
        2
        """
        return cls.from_arrays(read_npz(path))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flatten to the named arrays stored in the npz file (no pickled objects)."""
        header = {
            "format_version": FORMAT_VERSION,
            "directions": self.directions,
            "metadata": self.metadata,
        }
        arrays = {
            "header": np.array(json.dumps(header)),
            "losses": np.asarray(self.losses, dtype=np.float64),
            "done": np.asarray(self.done, dtype=bool),
        }
        for k, axis in enumerate(self.coords):
            arrays[f"axis_{k}"] = np.asarray(axis, dtype=np.float64)
        if self.direction_vectors is not None:
            arrays["direction_vectors"] = self.direction_vectors
        if self.trajectory is not None:
            arrays["path_coords"] = self.trajectory.coords
            arrays["path_losses"] = self.trajectory.losses
            arrays["path_explained_variance_ratio"] = self.trajectory.explained_variance_ratio
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Landscape:
        """Inverse of :meth:`to_arrays`."""
        try:
            header = json.loads(str(arrays["header"]))
            coords = tuple(arrays[f"axis_{k}"] for k in range(len(arrays["losses"].shape)))
            trajectory = None
            if "path_coords" in arrays:
                trajectory = Trajectory(
                    arrays["path_coords"],
                    arrays["path_losses"],
                    arrays["path_explained_variance_ratio"],
                )
            return cls(
                coords=coords,
                losses=arrays["losses"],
                done=arrays["done"],
                directions=header["directions"],
                direction_vectors=arrays.get("direction_vectors"),
                trajectory=trajectory,
                metadata=header["metadata"],
            )
        except (KeyError, ValueError) as exc:
            raise LandscapeError(
                f"not a viz3d landscape file (missing or bad entry: {exc}); "
                "load files written by Landscape.save or loss_landscape(store=...)"
            ) from exc


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` so that a reader never sees a half-written file."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.savez would append ".npz" to a name
            np.savez(handle, **arrays)

    return atomic_write(path, write)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an npz file without allowing pickled objects."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise LandscapeError(
            f"cannot read landscape file {os.fspath(path)!r}: {exc}; "
            "check the path, or delete the file if it is corrupt"
        ) from exc
