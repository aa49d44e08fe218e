"""viz3d: turn any PyTorch model into a 3D scene and its loss function into a 3D landscape.

The heavy parts (torch, pyvista) are imported lazily, so ``import viz3d`` is cheap and the
GL-free stages (trace, graph, layout, landscape) never load VTK.

Example
-------
>>> import viz3d
>>> from viz3d.zoo import build_sample
>>> graph = viz3d.trace(build_sample("mlp"), input_shape=(2, 64))
>>> graph.total_params > 0
True
"""

from viz3d._lazy import lazy_exports
from viz3d.errors import (
    GraphError,
    InputError,
    LandscapeError,
    RenderError,
    SpecError,
    TraceError,
    Viz3dError,
)

__version__ = "0.1.0"

# public name -> module that defines it; imported on first access
_LAZY = {
    "trace": "viz3d.trace",
    "LayerGraph": "viz3d.graph",
    "enhanced_3d_visualization": "viz3d.api",
    "Scene": "viz3d.render",
    "MeshData": "viz3d.render",
    "build_scene": "viz3d.render",
    "Layout": "viz3d.layout",
    "compute_layout": "viz3d.layout",
    "write_diagram": "viz3d.diagram",
    "render_landscape": "viz3d.render.landscape",
    "landscape_evolution_movie": "viz3d.api",
    "loss_landscape": "viz3d.landscape",
    "landscape_from_trajectory": "viz3d.landscape",
    "interpolate": "viz3d.landscape",
    "Landscape": "viz3d.landscape",
    "model_summary": "viz3d.llm",
    "TransformerSummary": "viz3d.llm",
    "plot_token_activations": "viz3d.llm",
    "plot_attention": "viz3d.llm",
    "plot_token_embeddings": "viz3d.llm",
    "plot_gradients": "viz3d.llm",
    "gradient_flow": "viz3d.gradients",
    "GradientFlow": "viz3d.gradients",
    "watch": "viz3d.gradients",
    "grad_cam": "viz3d.gradients",
    "GradCAM": "viz3d.gradients",
    "feature_maps": "viz3d.features",
    "FeatureMaps": "viz3d.features",
    "feature_visualization": "viz3d.features",
    "FeatureImages": "viz3d.features",
    "deep_feature_factorization": "viz3d.features",
    "Concepts": "viz3d.features",
    "compare": "viz3d.compare",
    "ModelDiff": "viz3d.compare",
}

__all__ = [
    "GraphError",
    "InputError",
    "LandscapeError",
    "RenderError",
    "SpecError",
    "TraceError",
    "Viz3dError",
    *_LAZY,
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
