"""Two gloo ranks shard the grid and reproduce the single-process landscape."""

import socket

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from viz3d.landscape import Landscape, loss_landscape


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    g = torch.Generator().manual_seed(1)
    data = (torch.randn(24, 4, generator=g), torch.randint(0, 2, (24,), generator=g))
    return model, data


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        model, data = _setup()
        ls = loss_landscape(
            model,
            nn.CrossEntropyLoss(),
            data,
            steps=(7, 5),
            batch_points=4,
            progress=False,
            store=f"{out_dir}/store.npz",
        )
        ls.save(f"{out_dir}/rank{rank}.npz")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_reproduce_the_single_process_grid(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    model, data = _setup()
    single = loss_landscape(model, nn.CrossEntropyLoss(), data, steps=(7, 5), progress=False)
    for name in ("rank0.npz", "rank1.npz", "store.npz"):
        shared = Landscape.load(tmp_path / name)
        assert shared.done.all(), name
        np.testing.assert_allclose(shared.losses, single.losses, rtol=1e-6)
    rank0 = Landscape.load(tmp_path / "rank0.npz")
    assert rank0.metadata["world_size"] == 2
    assert rank0.metadata["evaluated_points"] == 35
