"""Whether code runs in a Jupyter kernel, and which cell: shared by the scene and its backends."""

from __future__ import annotations

import sys


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (IPython's ``ZMQInteractiveShell``), without importing IPython.

    Examples
    --------
    >>> from viz3d.render.jupyter import in_jupyter
    >>> in_jupyter()
    False
    """
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def cell_number() -> int | None:
    """The running notebook cell's execution count (``None`` outside IPython)."""
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None
    return getattr(ip, "execution_count", None) if ip is not None else None
