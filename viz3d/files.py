"""Writing output files safely: atomically, with the user's permissions, strict JSON.

Every file viz3d writes (PNG, HTML, glTF, VTK, JSON, NPZ, movies, plots) goes through
:func:`atomic_write`: the content is written to a temporary file in the target's folder and
renamed over the target, so a reader sees the old file or the new one, never half a file, and an
interrupted write leaves the old file in place. The temporary file gets the mode a plain
``open(path, "w")`` would give (``0o666`` less the umask, see :func:`file_mode`): ``mkstemp``
makes private ``0o600`` files, which would silently stop a shared group from reading results.

JSON written by viz3d holds only finite numbers (:func:`finite_json`): ``NaN`` and ``Infinity``
are not JSON, and strict parsers (browsers, ``jq``, most languages) reject them.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and restoring it
    under a lock (``os.umask`` has no read-only form), which other threads writing files at that
    instant could observe.

    Examples
    --------
    >>> from viz3d.files import current_umask
    >>> 0 <= current_umask() <= 0o777
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Permission bits of a new file: ``0o666`` less the umask (what ``open(..., "w")`` gives).

    Examples
    --------
    >>> from viz3d.files import current_umask, file_mode
    >>> file_mode() == 0o666 & ~current_umask()
    True
    """
    return 0o666 & ~current_umask()


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], Any], *, suffix: str = ".tmp"
) -> Path:
    """Write ``path`` through ``write(temporary_path)``, then rename the result over ``path``.

    Parameters
    ----------
    path : str or PathLike
        The target; its folder is created if needed.
    write : callable
        Called with the temporary file's path (in the target's folder, already created and
        empty); it writes the whole content there.
    suffix : str, default: ".tmp"
        Ending of the temporary name, for writers that pick the format from the extension.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    Exception
        Whatever ``write`` raised; the temporary file is removed and an existing ``path`` is
        left exactly as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> from viz3d.files import atomic_write
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> atomic_write(target, lambda tmp: tmp.write_text("hello")).read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, file_mode())
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())  # the rename must not reach the disk before the content
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def finite_json(data: Any) -> Any:
    """``data`` with every NaN/inf replaced by ``None`` and numpy scalars made plain Python.

    Examples
    --------
    >>> from viz3d.files import finite_json
    >>> finite_json({"mean": float("nan"), "max": [1.5, float("-inf")]})
    {'mean': None, 'max': [1.5, None]}
    """
    if isinstance(data, (float, np.floating)):
        return float(data) if math.isfinite(data) else None
    if isinstance(data, np.integer):
        return int(data)
    if isinstance(data, np.ndarray):
        return finite_json(data.tolist())
    if isinstance(data, dict):
        return {k: finite_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_json(v) for v in data]
    return data


def write_json(path: str | os.PathLike, data: Any, **dumps_kwargs: Any) -> Path:
    """Write ``data`` as strict JSON (non-finite numbers become ``null``), atomically.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from viz3d.files import write_json
    >>> path = write_json(os.path.join(tempfile.mkdtemp(), "x.json"), {"std": float("nan")})
    >>> path.read_text()
    '{"std": null}'
    """
    text = json.dumps(finite_json(data), allow_nan=False, **dumps_kwargs)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), suffix=".json")


def check_format(data: Any, name: str, version: int, what: str) -> None:
    """Raise :class:`viz3d.GraphError` unless ``data`` is a saved ``what`` this viz3d can read.

    Saved viz3d data carries ``"format": name`` and ``"version"``; a newer version than
    ``version`` is refused rather than misread.

    Examples
    --------
    >>> from viz3d.files import check_format
    >>> check_format({"format": "viz3d.Layout", "version": 1}, "viz3d.Layout", 1, "Layout")
    >>> check_format({"format": "x"}, "viz3d.Layout", 1, "Layout")
    Traceback (most recent call last):
    ...
    viz3d.errors.GraphError: not a viz3d Layout (format='x')
    """
    from viz3d.errors import GraphError

    found = data.get("format") if isinstance(data, dict) else type(data).__name__
    if found != name:
        raise GraphError(f"not a viz3d {what} (format={found!r})")
    if data.get("version", 0) > version:
        raise GraphError(
            f"{what} version {data['version']} is newer than this viz3d reads ({version}); "
            "upgrade viz3d"
        )
