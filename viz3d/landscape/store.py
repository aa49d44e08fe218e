"""Incremental ``.npz`` storage of a landscape run, so an interrupted run resumes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from viz3d.errors import LandscapeError
from viz3d.landscape.landscape import Landscape, write_npz

# Rewriting the whole file after every tiny chunk would dominate small runs; between two
# writes at most this many seconds of work can be lost to a hard kill (an exception or
# Ctrl-C still writes everything computed).
_MIN_SECONDS_BETWEEN_WRITES = 0.5


class Store:
    """A landscape file rewritten atomically as points complete.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file; created if missing, resumed if it holds the same configuration.
    fingerprint : dict
        JSON-able configuration; a file with a different one is refused.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: dict[str, Any]):
        self.path = Path(path)
        if self.path.suffix != ".npz":
            self.path = self.path.with_name(self.path.name + ".npz")
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self._last_write = 0.0

    def load(self) -> Landscape | None:
        """The stored partial landscape, or None when the file does not exist yet."""
        if not self.path.exists():
            return None
        stored = Landscape.load(self.path)
        previous = stored.metadata.get("fingerprint")
        if previous != self.fingerprint:
            raise LandscapeError(
                f"store file {str(self.path)!r} holds a landscape with a different "
                f"configuration ({_differences(previous, self.fingerprint)}); use another "
                "store path, or delete the file to start over"
            )
        return stored

    def write(self, landscape: Landscape, *, force: bool = False) -> None:
        """Save ``landscape``, at most twice a second unless ``force``."""
        now = time.monotonic()
        if not force and now - self._last_write < _MIN_SECONDS_BETWEEN_WRITES:
            return
        write_npz(self.path, landscape.to_arrays())
        self._last_write = time.monotonic()


def _differences(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "the file has no viz3d configuration"
    parts = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            parts.append(f"{key}: {_short(new.get(key))} now vs {_short(old.get(key))} in the file")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
