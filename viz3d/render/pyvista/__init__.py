"""The PyVista backend: draws a :class:`viz3d.render.Scene` in a window, PNG, movies, glTF and VTK.

The scene is a recipe of plain data; everything that needs VTK lives here. Scenes arrive as
arguments: no module of this package imports :mod:`viz3d.render.scene`, so the recipe and its
renderer never import each other in a circle.
"""

from viz3d.render.pyvista.offscreen import choose_headless_window

# before any render window exists: VTK reads the choice when it makes the first one
choose_headless_window()
