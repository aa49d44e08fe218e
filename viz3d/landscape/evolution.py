"""The landscape around each checkpoint of a training run, on one shared PCA plane."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from viz3d.errors import LandscapeError
from viz3d.landscape.api import loss_landscape
from viz3d.landscape.directions import parameters_of
from viz3d.landscape.landscape import Landscape, Trajectory
from viz3d.landscape.trajectory import _state, pca_directions


def landscape_evolution(
    model: nn.Module,
    checkpoints: Sequence[Any],
    loss_fn: Callable,
    data: Any,
    *,
    steps: int = 25,
    span: float | None = None,
    margin: float = 0.25,
    progress: bool = True,
) -> list[Landscape]:
    """One 2D landscape per checkpoint, each centred on that checkpoint's weights.

    All of them use the same two directions, the principal directions of the training path
    (``theta_i - theta_final``, as in :func:`viz3d.landscape.landscape_from_trajectory`), and the
    same span, so consecutive surfaces can be morphed into each other. Each landscape's
    ``trajectory`` is the whole path seen from its checkpoint (the checkpoint itself at the
    origin); its losses are each checkpoint's own loss.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> x, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> path = [{k: v + 0.1 * i * torch.randn_like(v) for k, v in model.state_dict().items()}
    ...         for i in range(1, 4)]
    >>> frames = landscape_evolution(model, path, torch.nn.MSELoss(), (x, y), steps=5,
    ...                              progress=False)
    >>> len(frames), frames[0].losses.shape, frames[0].trajectory.coords[0].tolist()
    (3, (5, 5), [0.0, 0.0])
    """
    if len(checkpoints) < 2:
        raise LandscapeError(f"an evolution needs at least 2 checkpoints, got {len(checkpoints)}")
    theta_final = parameters_of(model)
    reference = {**dict(model.named_buffers()), **theta_final}
    states = [_state(ck, reference, theta_final, k) for k, ck in enumerate(checkpoints)]
    directions, coords, ratio = pca_directions(
        theta_final, [{n: s[n] for n in theta_final} for s in states], 2
    )
    if span is None:
        span = float(np.abs(coords).max() * (1.0 + margin)) or 1.0
    replica = copy.deepcopy(model)
    landscapes = []
    for _k, state in enumerate(tqdm(states, desc="checkpoints", disable=not progress)):
        replica.load_state_dict(state, strict=False)
        landscapes.append(
            loss_landscape(
                replica,
                loss_fn,
                data,
                dims=2,
                steps=steps,
                span=span,
                directions=directions,
                progress=False,
            )
        )
    losses = np.array([ls.center_loss for ls in landscapes])
    return [
        dataclasses.replace(
            ls,
            trajectory=Trajectory(coords - coords[k], losses, ratio),
            directions={**ls.directions, "kind": "pca", "checkpoint": k},
        )
        for k, ls in enumerate(landscapes)
    ]
