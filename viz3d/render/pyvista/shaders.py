"""GLSL effects from ``shaders/*.glsl`` applied to single actors through VTK shader replacements.

An effect file is GLSL text split into sections by marker lines::

    //@@ fragment //VTK::Light::Impl
      fragOutput0.rgb += ...;

Each section's code is injected right *after* the named VTK shader tag (the tag itself is kept,
so VTK's own code still runs first). Text before the first marker is a comment header. Uniforms
an effect uses are set from :data:`EFFECTS` (overridable per call) as VTK custom uniforms.

Shader replacements act on every primitive of an actor, so effects go on their own actors (the
neuron points, say), never on a merged mesh that also holds text or edges. Exports (vtk.js,
glTF, VTK files) carry no GLSL: there the actors appear with their plain colours.

The files live in the top-level ``shaders/`` folder of a source checkout and are installed as
``viz3d/shaders``; :func:`shader_dir` finds either. If the GL driver rejects an effect (checked
by drawing the very actor it is applied to once off screen, cached per kind of actor), the
effect is taken off again with a logged note.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from viz3d.errors import RenderError

log = logging.getLogger(__name__)

#: Default uniform values of each effect shipped in ``shaders/``.
EFFECTS: dict[str, dict[str, Any]] = {
    "glow": {"glowStrength": 1.6, "glowPower": 2.0},
    "depth_cue": {"fogNear": 10.0, "fogFar": 100.0, "fogColor": (1.0, 1.0, 1.0)},
    # the forward-pass pulse (see viz3d.render.pyvista.pulse); pulseTime moves every frame
    "pulse": {
        "pulseTime": 0.0,
        "pulseWidth": 0.02,
        "pulseDim": 0.25,
        "pulseFlash": 0.65,
        "pulseColor": (1.0, 0.97, 0.85),
        "pulseAlphaFloor": 1.0,
        "pulseAmbient": 0.25,
        "pulseDiffuse": 0.75,
    },
}

_MARKER = re.compile(r"^//@@\s+(vertex|fragment|geometry)\s+(//VTK::\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ShaderSection:
    """Code injected after one VTK shader tag of one stage."""

    stage: str
    tag: str
    code: str


def shader_dir() -> Path:
    """The folder holding the ``*.glsl`` effects: ``viz3d/shaders`` when installed, else the
    checkout's top-level ``shaders/`` (``VIZ3D_SHADER_DIR`` overrides both).

    Examples
    --------
    >>> from viz3d.render.pyvista.shaders import shader_dir
    >>> (shader_dir() / "glow.glsl").is_file()
    True
    """
    override = os.environ.get("VIZ3D_SHADER_DIR")
    package = Path(__file__).resolve().parents[2]  # viz3d/
    for candidate in (override, package / "shaders", package.parent / "shaders"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise RenderError(
        f"no shaders folder found next to {package} or in the checkout above it; reinstall "
        "viz3d (the wheel ships viz3d/shaders) or set VIZ3D_SHADER_DIR to the shaders/ folder"
    )


def available_effects() -> list[str]:
    """Names of the effects in :func:`shader_dir` (file names without ``.glsl``)."""
    return sorted(p.stem for p in shader_dir().glob("*.glsl"))


@functools.cache
def load_shader(name: str) -> tuple[ShaderSection, ...]:
    """Parse ``shaders/<name>.glsl`` into its sections.

    Examples
    --------
    >>> from viz3d.render.pyvista.shaders import load_shader
    >>> [(s.stage, s.tag) for s in load_shader("glow")]
    [('fragment', '//VTK::Light::Impl')]
    """
    path = shader_dir() / f"{name}.glsl"
    if not path.is_file():
        raise RenderError(
            f"unknown shader effect {name!r}: no {path}; "
            f"available: {', '.join(available_effects())}"
        )
    text = path.read_text(encoding="utf-8")
    marks = list(_MARKER.finditer(text))
    if not marks:
        raise RenderError(f"{path} has no '//@@ <stage> //VTK::<Tag>' section marker")
    sections = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        sections.append(
            ShaderSection(mark.group(1), mark.group(2), text[mark.end() : end].strip("\n"))
        )
    return tuple(sections)


def apply_shader(actor: Any, name: str, **uniforms: Any) -> bool:
    """Inject effect ``name`` into ``actor``'s shaders; return ``False`` if the driver rejects it.

    Whether the driver compiles the effect depends on the actor: VTK writes different shader
    code for triangles, lines, points drawn as spheres, per-vertex colours or normals. So the
    check renders *this* actor, with every effect it already carries, once in a tiny off-screen
    window and watches for shader errors; the answer is cached per kind of actor. Apply effects
    before the actor is first drawn. A rejected effect is taken off the actor again.

    Parameters
    ----------
    actor : vtkActor
        The actor (as returned by :meth:`pyvista.Plotter.add_mesh`).
    name : str
        Effect name, a file ``shaders/<name>.glsl``.
    **uniforms
        Uniform values overriding :data:`EFFECTS` defaults (floats or 3-tuples).

    Returns
    -------
    bool
        Whether the effect was applied.

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render.pyvista.shaders import apply_shader
    >>> pl = pv.Plotter(off_screen=True)
    >>> actor = pl.add_mesh(pv.Sphere())
    >>> apply_shader(actor, "glow", glowStrength=2.0)
    True
    >>> pl.close()
    """
    sections = load_shader(name)
    _inject(actor, sections, {**EFFECTS.get(name, {}), **uniforms})
    key = (name, actor_kind(actor))
    if key not in _ACCEPTED:
        _ACCEPTED[key] = _compiles(actor)
        if not _ACCEPTED[key]:
            log.info(
                "shader effect %r was rejected by the GL driver for %s (see the VTK error "
                "above); drawing without it",
                name,
                key[1],
            )
    if not _ACCEPTED[key]:
        _remove(actor, sections)
    return _ACCEPTED[key]


def actor_kind(actor: Any) -> tuple[Any, ...]:
    """What decides the shader code VTK writes for ``actor``: mapper, primitives, colours, look.

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render.pyvista.shaders import actor_kind
    >>> pl = pv.Plotter(off_screen=True)
    >>> cloud = pl.add_mesh(pv.PolyData([[0.0, 0, 0]]), render_points_as_spheres=True)
    >>> ball = pl.add_mesh(pv.Sphere())
    >>> actor_kind(cloud) != actor_kind(ball)
    True
    >>> pl.close()
    """
    mapper, prop = actor.GetMapper(), actor.GetProperty()
    data = mapper.GetInput() if mapper is not None else None
    cells: tuple[Any, ...] = (type(data).__name__,)
    if data is not None and hasattr(data, "GetNumberOfVerts"):
        counts = (data.GetNumberOfVerts(), data.GetNumberOfLines(), data.GetNumberOfPolys())
        cells = tuple(bool(n) for n in counts) + (data.GetNumberOfStrips() > 0,)
    point_data = data.GetPointData() if data is not None else None
    return (
        type(mapper).__name__,
        cells,
        point_data is not None and point_data.GetNormals() is not None,
        bool(mapper is not None and mapper.GetScalarVisibility()),
        prop.GetRepresentation(),
        bool(prop.GetRenderPointsAsSpheres()),
        bool(prop.GetRenderLinesAsTubes()),
        prop.GetInterpolation(),
        actor.GetShaderProperty().GetNumberOfShaderReplacements(),
    )


def _inject(actor: Any, sections: tuple[ShaderSection, ...], uniforms: dict[str, Any]) -> None:
    prop = actor.GetShaderProperty()
    for section in sections:
        # replaceFirst=True: runs before VTK's own substitution, which then still expands the tag
        _ADD[section.stage](prop)(section.tag, True, f"{section.tag}\n{section.code}\n", False)
    for stage_uniforms in (prop.GetFragmentCustomUniforms(), prop.GetVertexCustomUniforms()):
        for key, value in uniforms.items():
            arr = np.atleast_1d(np.asarray(value, dtype=float))
            if arr.size == 1:
                stage_uniforms.SetUniformf(key, float(arr[0]))
            elif arr.size == 3:
                stage_uniforms.SetUniform3f(key, [float(v) for v in arr])
            else:
                raise RenderError(f"uniform {key!r} must be a float or 3 floats, got {value!r}")


def _remove(actor: Any, sections: tuple[ShaderSection, ...]) -> None:
    prop = actor.GetShaderProperty()
    for section in sections:
        _CLEAR[section.stage](prop)(section.tag, True)


_ADD = {
    "vertex": lambda p: p.AddVertexShaderReplacement,
    "fragment": lambda p: p.AddFragmentShaderReplacement,
    "geometry": lambda p: p.AddGeometryShaderReplacement,
}
_CLEAR = {
    "vertex": lambda p: p.ClearVertexShaderReplacement,
    "fragment": lambda p: p.ClearFragmentShaderReplacement,
    "geometry": lambda p: p.ClearGeometryShaderReplacement,
}
#: (effect, actor kind) -> whether the driver compiled it.
_ACCEPTED: dict[tuple[str, tuple[Any, ...]], bool] = {}


def _compiles(actor: Any) -> bool:
    """Draw ``actor`` once in a tiny off-screen window; ``False`` if VTK reports a shader error.

    A picture cannot tell: some effects leave an actor invisible until animated (the pulse
    tubes), and a rejected program may still leave the background drawn.
    """
    pl = pv.Plotter(off_screen=True, window_size=(16, 16))
    try:
        with pv.VtkErrorCatcher() as caught:
            pl.renderer.AddActor(actor)
            pl.reset_camera()
            pl.screenshot(return_img=True)
            pl.renderer.RemoveActor(actor)  # frees this window's GL objects of the actor
    finally:
        pl.close()
    if actor.GetMapper() is not None:
        actor.GetMapper().Modified()  # rebuild its buffers in the window it belongs to
    return not caught.events
