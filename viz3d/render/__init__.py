"""PyVista rendering: :class:`Scene` (a renderer-independent recipe) and the layer renderer.

``build_scene(layout)`` turns a :class:`viz3d.layout.Layout` into a :class:`Scene`; the scene
then drives the window, screenshots, movies and the HTML/glTF/VTK exports.
"""

from viz3d.render.builder import build_scene
from viz3d.render.offscreen import choose_headless_window
from viz3d.render.scene import (
    ActorSpec,
    Camera,
    PointLabelSpec,
    Scene,
    TextSpec,
    default_off_screen,
)

# before any render window exists: VTK reads the choice when it makes the first one
choose_headless_window()

__all__ = [
    "ActorSpec",
    "Camera",
    "PointLabelSpec",
    "Scene",
    "TextSpec",
    "build_scene",
    "default_off_screen",
]
