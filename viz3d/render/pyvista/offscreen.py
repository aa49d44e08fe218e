"""Pick VTK's headless OpenGL window up front when there is no X display.

VTK 9.4+ wheels try an X window first and fall back to EGL, then OSMesa; on a machine without
``DISPLAY`` the failed X attempt prints a colour-coded ``bad X server connection`` warning on
every first render, although nothing is wrong. Naming the headless window in
``VTK_DEFAULT_OPENGL_WINDOW`` before the first render window is made skips the X attempt, so
headless commands print only what they mean to. A value the user set is kept.

:func:`default_off_screen` decides whether a scene is drawn in a window at all.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

from viz3d.render.jupyter import in_jupyter

#: Headless VTK windows in order of preference, with the shared library each needs.
_HEADLESS = (("vtkEGLRenderWindow", "EGL"), ("vtkOSOpenGLRenderWindow", "OSMesa"))
_VARIABLE = "VTK_DEFAULT_OPENGL_WINDOW"
#: What this module put into the environment (a user's own setting is never changed).
_chosen: dict[str, str] = {}


def choose_headless_window() -> str | None:
    """Set ``VTK_DEFAULT_OPENGL_WINDOW`` to EGL or OSMesa when Linux has no X display.

    Leaves the variable alone on other systems, when the user set it, or when neither library
    is installed (VTK then keeps its own order). Safe to call again: a choice made here is
    withdrawn once ``DISPLAY`` is set, so a window can open on a display that appeared later.

    Returns
    -------
    str or None
        The window class now in ``VTK_DEFAULT_OPENGL_WINDOW``, or ``None`` if it is unset.

    Examples
    --------
    >>> import os
    >>> from viz3d.render.pyvista.offscreen import choose_headless_window
    >>> chosen = choose_headless_window()
    >>> chosen == os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
    True
    """
    current = os.environ.get(_VARIABLE)
    headless = sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
    if current is not None and current == _chosen.get(_VARIABLE) and not headless:
        del os.environ[_VARIABLE]
        return None
    if current is not None or not headless:
        return current
    for window, library in _HEADLESS:
        if ctypes.util.find_library(library):
            os.environ[_VARIABLE] = _chosen[_VARIABLE] = window
            return window
    return None


def default_off_screen() -> bool:
    """Whether to render off screen: forced by ``PYVISTA_OFF_SCREEN``/``pyvista.OFF_SCREEN``,
    otherwise when no display exists (Linux without ``DISPLAY``/``WAYLAND_DISPLAY``, outside
    Jupyter).

    Examples
    --------
    >>> import os
    >>> from viz3d.render import default_off_screen
    >>> os.environ.get("PYVISTA_OFF_SCREEN") != "true" or default_off_screen()
    True
    """
    pv = sys.modules.get("pyvista")  # pyvista.OFF_SCREEN can only be set once it is imported
    if (
        getattr(pv, "OFF_SCREEN", False)
        or os.environ.get("PYVISTA_OFF_SCREEN", "").lower() == "true"
    ):
        return True
    if in_jupyter():
        return False
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False
