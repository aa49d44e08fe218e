"""3D layout of a LayerGraph (numpy and networkx only; no torch, no pyvista).

:func:`compute_layout` turns a :class:`viz3d.LayerGraph` into a :class:`Layout`: layers along
the main axis (x) in topological order, parallel branches side by side (y), skip connections as
arcs above the main line (z), box sizes on a stated scale, and sampled neuron points.
"""

from viz3d.layout.geometry import human, scale_legend, scaled_side, shape_kind
from viz3d.layout.layering import assign_lanes, longest_path_layers, skip_edges
from viz3d.layout.layout import Layout, compute_layout
from viz3d.layout.neurons import neuron_count, neuron_grid

__all__ = [
    "Layout",
    "assign_lanes",
    "compute_layout",
    "human",
    "longest_path_layers",
    "neuron_count",
    "neuron_grid",
    "scale_legend",
    "scaled_side",
    "shape_kind",
    "skip_edges",
]
