"""One-call entry points that run several stages: ``enhanced_3d_visualization`` (trace + layout +
render) and ``landscape_evolution_movie`` (landscapes + video).

The first is the one-liner users know from notebooks that visualise GPT-2 in 3D, made to work
for any PyTorch model (or an already traced :class:`viz3d.LayerGraph`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from viz3d.errors import RenderError
from viz3d.graph import LayerGraph, module_depth
from viz3d.layout import compute_layout
from viz3d.render import Scene, build_scene

log = logging.getLogger(__name__)

#: Node budget for the automatic depth: the op-level graph if it is smaller, else collapse.
MAX_AUTO_NODES = 300

#: Channels shown per convolution with ``feature_maps=True``.
FEATURE_CHANNELS = 4

_LAYOUT_OPTIONS = ("scale", "neuron_cap", "max_neurons")
_SCENE_OPTIONS = ("title", "labels", "max_labels", "glow", "background")


def enhanced_3d_visualization(
    model: Any,
    inputs: Any = None,
    *,
    input_shape: Any = None,
    depth: int | None = None,
    color_by: str = "activation",
    size_by: str = "params",
    fold: bool = True,
    expand: Sequence[str] = (),
    feature_maps: bool | int = False,
    show: bool = True,
    **options: Any,
) -> Scene:
    """Show a model as an interactive 3D scene: layers, neurons, data flow and skip connections.

    Parameters
    ----------
    model : torch.nn.Module or LayerGraph
        The model to trace (a real forward pass is run, on ``meta`` too), or a graph
        traced before (tracing is skipped).
    inputs : tensor, tuple or dict, optional
        Example inputs for the forward pass (see :func:`viz3d.trace`).
    input_shape : tuple, optional
        Shape of a random input instead of ``inputs``.
    depth : int, optional
        Collapse to this module depth (``graph.collapse(depth)``). By default the op-level
        graph is shown if it has fewer than 300 nodes; otherwise the deepest depth that fits.
    color_by : {"activation", "params", "flops", "type"}, default: "activation"
        What layer colours show.
    size_by : {"params", "flops"}, default: "params"
        What box volume grows with.
    fold : bool, default: True
        Fold runs of identical blocks into one ``xN`` block (``graph.fold_repeats()``) that
        shows one member's inside, the others as ghosts behind it.
    expand : sequence of str, optional
        Modules shown one level deeper than the rest (``["model.layers.0"]``), or at op level
        with a ``.*`` suffix (see :meth:`LayerGraph.collapse`).
    feature_maps : bool or int, default: False
        Show what each convolution sees: the first 4 channels (or this many) of its output for
        the traced input, as textured tiles on its box. Needs the model with real weights (not
        a LayerGraph, not ``meta``); only those channels are kept while tracing.
    show : bool, default: True
        Open a window (or the notebook view); ``False`` only returns the scene.
    **options
        Layout options ``scale`` ("cbrt"/"log"), ``neuron_cap``, ``max_neurons``; scene
        options ``title``, ``labels``, ``max_labels``, ``glow``, ``background``; any other
        keyword goes to :func:`viz3d.trace`.

    Returns
    -------
    Scene
        Save it with ``scene.screenshot(path)``, ``export_html``, ``export_gltf`` or
        ``export_vtk``.

    Examples
    --------
    >>> import torch
    >>> from viz3d.api import enhanced_3d_visualization
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    >>> scene = enhanced_3d_visualization(model, input_shape=(4, 8), show=False)
    >>> scene.metadata["nodes"]
    5
    """
    layout_opts = {k: options.pop(k) for k in _LAYOUT_OPTIONS if k in options}
    scene_opts = {k: options.pop(k) for k in _SCENE_OPTIONS if k in options}
    maps: dict[str, Any] = {}
    if isinstance(model, LayerGraph):
        if feature_maps:
            raise RenderError(
                "feature_maps needs the model itself: a traced LayerGraph keeps no activation "
                "maps; pass the model and its inputs"
            )
        if inputs is not None or input_shape is not None or options:
            raise RenderError(
                "enhanced_3d_visualization got a LayerGraph, which is already traced: drop "
                f"inputs/input_shape/trace options ({', '.join(options) or 'inputs'})"
            )
        graph = model
    else:
        from viz3d.trace import trace

        with _maps_if(feature_maps, model) as maps:
            graph = trace(model, inputs, input_shape=input_shape, **options)
    if graph.partial:
        log.warning("the forward pass failed; drawing the partial graph: %s", graph.error)
    view = choose_view(graph, depth=depth, fold=fold, expand=expand)
    layout = compute_layout(view, size_by=size_by, **layout_opts)
    scene = build_scene(layout, color_by=color_by, **scene_opts)
    if maps:
        from viz3d.render.features import add_layer_maps

        add_layer_maps(scene, layout, maps)
    if show:
        scene.show()
    return scene


def _maps_if(feature_maps: bool | int, model: Any) -> AbstractContextManager[dict[str, Any]]:
    """Record the convolutions' first channels during the trace, only when they are asked for."""
    if not feature_maps:
        return nullcontext({})
    from viz3d.features.layer_maps import first_channels

    k = FEATURE_CHANNELS if feature_maps is True else int(feature_maps)
    return first_channels(model, k)


def choose_view(
    graph: LayerGraph,
    *,
    depth: int | None = None,
    fold: bool = True,
    expand: Sequence[str] = (),
) -> LayerGraph:
    """The graph to draw: folded (if ``fold``), then collapsed to ``depth`` or to fit the budget,
    then the folded blocks opened (:meth:`LayerGraph.open_folds`).

    With ``depth=None`` the op-level graph is kept when it has fewer than
    :data:`MAX_AUTO_NODES` nodes; otherwise the deepest module depth whose graph fits is used
    (depth 1 at worst). ``expand`` shows the named modules deeper (see
    :meth:`LayerGraph.collapse`); an unknown name raises :class:`~viz3d.errors.GraphError`.

    Examples
    --------
    >>> import torch, viz3d
    >>> from viz3d.api import choose_view
    >>> g = viz3d.trace(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.randn(1, 2))
    >>> len(choose_view(g)) == len(g)
    True
    """
    expand = [expand] if isinstance(expand, str) else list(expand)
    graph.expand_depths(expand)  # an unknown name fails before any work
    base = graph.fold_repeats() if fold else graph
    if depth is None and len(base) >= MAX_AUTO_NODES:
        deepest = max((module_depth(q) for q in graph.modules), default=1)
        depth = next(
            (d for d in range(deepest, 0, -1) if len(base.collapse(d, expand)) < MAX_AUTO_NODES),
            1,
        )
        log.info("showing module depth %d (op level had %d nodes)", depth, len(base))
    view = base.collapse(depth, expand) if depth is not None else base
    return view.open_folds(depth, expand)


def landscape_evolution_movie(
    path: str | os.PathLike,
    model: Any,
    checkpoints: Sequence[Any],
    loss_fn: Callable,
    data: Any,
    *,
    steps: int = 25,
    span: float | None = None,
    seconds: float = 8,
    fps: int = 24,
    window_size: tuple[int, int] = (1280, 720),
    scale: str = "linear",
    progress: bool = True,
) -> Path:
    """Morph the loss surface over training checkpoints, the current position marked.

    Computes one ``steps`` x ``steps`` landscape around every checkpoint on the shared PCA plane of
    the training path (:func:`viz3d.landscape.evolution.landscape_evolution`) and morphs between
    them (:func:`viz3d.render.pyvista.landscape_movie.evolution_movie`). The file is written
    atomically.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> path = [{k: v + 0.2 * i * torch.randn_like(v) for k, v in model.state_dict().items()}
    ...         for i in (3, 2, 1)]
    >>> out = landscape_evolution_movie(os.path.join(tempfile.mkdtemp(), "train.gif"), model, path,
    ...                                 torch.nn.MSELoss(), (x, y), steps=7, seconds=1, fps=4,
    ...                                 window_size=(96, 64), progress=False)
    >>> out.suffix
    '.gif'
    """
    from viz3d.landscape.evolution import landscape_evolution
    from viz3d.render.pyvista.landscape_movie import evolution_movie

    landscapes = landscape_evolution(
        model, checkpoints, loss_fn, data, steps=steps, span=span, progress=progress
    )
    return evolution_movie(
        landscapes,
        path,
        seconds=seconds,
        fps=fps,
        window_size=window_size,
        scale=scale,
        progress=progress,
    )
