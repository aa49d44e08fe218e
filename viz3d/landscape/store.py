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

# "auto": resume a store made with the same configuration; "force": also when the loss
# function's configuration cannot be determined (the user vouches that it is the same).
RESUME_OPTIONS = ("auto", "force")


class Store:
    """A landscape file rewritten atomically as points complete.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file; created if missing, resumed if it holds the same configuration.
    fingerprint : dict
        JSON-able configuration; a file with a different one is refused.
    resume : {"auto", "force"}
        ``"force"`` resumes even when the loss function's configuration cannot be
        determined (``fingerprint["loss"]["unknown"]``); other differences are still refused.
    """

    def __init__(
        self, path: str | os.PathLike, fingerprint: dict[str, Any], *, resume: str = "auto"
    ):
        check_resume(resume)
        self.path = Path(path)
        if self.path.suffix != ".npz":
            self.path = self.path.with_name(self.path.name + ".npz")
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.resume = resume
        self._last_write = 0.0

    def load(self) -> Landscape | None:
        """The stored partial landscape, or None when the file does not exist yet."""
        if not self.path.exists():
            return None
        stored = Landscape.load(self.path)
        previous, current = stored.metadata.get("fingerprint"), self.fingerprint
        unknown = current.get("loss", {}).get("unknown")
        if unknown and self.resume == "force" and isinstance(previous, dict):
            # the user vouches for the loss: only its name and everything else must match
            previous = {**previous, "loss": _name_only(previous.get("loss"))}
            current = {**current, "loss": _name_only(current["loss"])}
        if previous != current:
            raise LandscapeError(
                f"store file {str(self.path)!r} holds a landscape with a different "
                f"configuration ({_differences(previous, current)}); use another "
                "store path, or delete the file to start over"
            )
        if unknown and self.resume != "force":
            raise LandscapeError(
                f"store file {str(self.path)!r} cannot be resumed safely: the loss function's "
                f"configuration cannot be determined ({unknown}), so viz3d cannot tell whether "
                "the stored points used the same loss. Pass resume='force' if it is the same "
                "loss, or delete the file (or use another store path) to start over"
            )
        return stored

    def write(self, landscape: Landscape, *, force: bool = False) -> None:
        """Save ``landscape``, at most twice a second unless ``force``."""
        now = time.monotonic()
        if not force and now - self._last_write < _MIN_SECONDS_BETWEEN_WRITES:
            return
        write_npz(self.path, landscape.to_arrays())
        self._last_write = time.monotonic()


def check_resume(resume: str) -> None:
    """Refuse an unknown ``resume`` option before any work is done."""
    if resume not in RESUME_OPTIONS:
        raise LandscapeError(f"resume={resume!r} is not supported; use one of {RESUME_OPTIONS}")


def _name_only(loss: Any) -> Any:
    return {"name": loss.get("name")} if isinstance(loss, dict) else loss


# Differences listed in an error message; more are counted, not listed.
_MAX_LISTED = 6


def _differences(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "the file has no viz3d configuration"
    parts = _diff(old, new, "")
    more = len(parts) - _MAX_LISTED
    return "; ".join(parts[:_MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def _diff(old: Any, new: Any, path: str) -> list[str]:
    """One line per differing leaf, named by its dotted path (``loss.config.state.x``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        parts = []
        for key in sorted(set(old) | set(new)):
            parts += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return parts
    if old == new:
        return []
    return [f"{path}: {_short(new)} now vs {_short(old)} in the file"]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
