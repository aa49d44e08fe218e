"""Training diagnostics: gradient flow, a training-loop watcher, and Grad-CAM heatmaps."""

from viz3d.gradients.flow import RULE, GradientFlow, flag_layers, gradient_flow
from viz3d.gradients.gradcam import GradCAM, grad_cam
from viz3d.gradients.watch import Snapshot, Watcher, watch

__all__ = [
    "RULE",
    "GradCAM",
    "GradientFlow",
    "Snapshot",
    "Watcher",
    "flag_layers",
    "grad_cam",
    "gradient_flow",
    "watch",
]
