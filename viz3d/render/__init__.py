"""Rendering: :class:`Scene` (a renderer-independent recipe), the renderers that fill it, and
its backends (:mod:`viz3d.render.pyvista`, :mod:`viz3d.render.web`).

``build_scene(layout)`` turns a :class:`viz3d.layout.Layout` into a :class:`Scene`; the scene
then drives the window, screenshots, movies and the HTML/glTF/VTK exports. Importing this
package loads no PyVista: the names below are imported on first use.
"""

from viz3d._lazy import lazy_exports

# public name -> module that defines it; imported on first access
_LAZY = {
    "ActorSpec": "viz3d.render.scene",
    "Camera": "viz3d.render.camera",
    "MeshData": "viz3d.render.mesh_data",
    "PointLabelSpec": "viz3d.render.scene",
    "Scene": "viz3d.render.scene",
    "TextSpec": "viz3d.render.scene",
    "build_scene": "viz3d.render.builder",
    "default_off_screen": "viz3d.render.pyvista.offscreen",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
