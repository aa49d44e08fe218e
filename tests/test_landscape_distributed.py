"""Two gloo ranks on localhost: shard the grid, gather only computed points, stop together.

Each test starts two processes; a failing or killed rank must stop the other within seconds,
the finished points stay in the store, and a rerun computes only the missing points.
"""

import json
import os
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from viz3d.landscape import Landscape, loss_landscape

STEPS, BATCH_POINTS = (9, 7), 2
POINTS = STEPS[0] * STEPS[1]
# a rank must notice a failed or killed peer within this many seconds
STOP_WITHIN_S = 5.0


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    g = torch.Generator().manual_seed(1)
    data = (torch.randn(24, 4, generator=g), torch.randint(0, 2, (24,), generator=g))
    return model, data


class RankLoss(nn.Module):
    """Cross-entropy called once per grid point (``.item()`` keeps it out of vmap).

    It counts its calls and, after ``fail_after`` of them, raises or kills its own process.
    The counters are private, so they are not part of the loss's fingerprint.
    """

    def __init__(self, fail_after=None, how="raise", out_dir=None):
        super().__init__()
        self._calls, self._fail_after, self._how, self._out_dir = 0, fail_after, how, out_dir

    def forward(self, outputs, targets):
        loss = nn.functional.cross_entropy(outputs, targets)
        loss.item()
        self._calls += 1
        if self._fail_after is not None and self._calls > self._fail_after:
            Path(self._out_dir, "failed_at").write_text(repr(time.time()))
            if self._how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError("boom on purpose")
        return loss


def _run(loss_fn, store=None):
    model, data = _setup()
    return loss_landscape(
        model, loss_fn, data, steps=STEPS, batch_points=BATCH_POINTS, progress=False, store=store
    )


def _worker(rank, port, out_dir, fail_rank, how):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=timedelta(seconds=60),
    )
    sizes = []
    for name in ("all_gather", "all_reduce"):  # record what travels every round
        original = getattr(dist, name)

        def recorded(tensor_or_list, tensor=None, *args, _original=original, **kwargs):
            sent = tensor if isinstance(tensor, torch.Tensor) else tensor_or_list
            sizes.append(sent.numel())
            return _original(tensor_or_list, tensor, *args, **kwargs)

        setattr(dist, name, recorded)
    loss = RankLoss(6 if rank == fail_rank else None, how, out_dir)
    report = {"rank": rank}
    try:
        ls = _run(loss, store=f"{out_dir}/store.npz")
        ls.save(f"{out_dir}/rank{rank}.npz")
    except BaseException as exc:
        report["error"] = [type(exc).__name__, str(exc), getattr(exc, "__notes__", [])]
    report.update(ended=time.time(), calls=loss._calls, max_sent=max(sizes, default=0))
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out_dir, fail_rank=None, how="raise"):
    """Run both ranks to their end (without mp.spawn, which kills the others on a failure)."""
    context = mp.get_context("fork")
    port = _free_port()
    ranks = [
        context.Process(target=_worker, args=(r, port, str(out_dir), fail_rank, how))
        for r in range(2)
    ]
    for process in ranks:
        process.start()
    try:
        for process in ranks:
            process.join(timeout=60)
            assert not process.is_alive(), "a rank hangs"
    finally:
        for process in ranks:
            if process.is_alive():
                process.kill()
    reports = {}
    for r in range(2):
        path = out_dir / f"rank{r}.json"
        reports[r] = json.loads(path.read_text()) if path.exists() else None
    return reports, [process.exitcode for process in ranks]


def test_two_gloo_ranks_reproduce_the_single_process_grid(tmp_path):
    reports, exitcodes = _launch(tmp_path)
    assert exitcodes == [0, 0] and "error" not in reports[0] and "error" not in reports[1]
    single = _run(RankLoss())
    for name in ("rank0.npz", "rank1.npz", "store.npz"):
        shared = Landscape.load(tmp_path / name)
        assert shared.done.all(), name
        np.testing.assert_allclose(shared.losses, single.losses, rtol=1e-6)
    rank0 = Landscape.load(tmp_path / "rank0.npz")
    assert rank0.metadata["world_size"] == 2
    assert rank0.metadata["evaluated_points"] == POINTS
    # only each round's (index, loss) pairs travel, never a grid-sized tensor
    for r in range(2):
        assert 0 < reports[r]["max_sent"] <= 2 * BATCH_POINTS


def test_a_failing_rank_stops_the_other_and_a_rerun_resumes(tmp_path):
    reports, _ = _launch(tmp_path, fail_rank=1, how="raise")
    failed_at = float((tmp_path / "failed_at").read_text())
    kind, message, _ = reports[0]["error"]
    assert kind == "LandscapeError"
    assert "rank 0: stopped because rank 1 failed: ValueError: boom on purpose" in message
    assert "finished points are kept in" in message
    assert reports[0]["ended"] - failed_at < STOP_WITHIN_S
    kind, message, notes = reports[1]["error"]
    assert (kind, message) == ("ValueError", "boom on purpose")
    assert "rank 1 failed and stopped all ranks" in notes[0]

    stored = Landscape.load(tmp_path / "store.npz")
    kept = int(stored.done.sum())
    assert 0 < kept < POINTS
    assert "rank 1 failed: ValueError: boom on purpose" in stored.metadata["error"]

    (tmp_path / "rank0.json").unlink()
    reports, exitcodes = _launch(tmp_path)
    assert exitcodes == [0, 0]
    finished = Landscape.load(tmp_path / "store.npz")
    assert finished.done.all() and finished.metadata["evaluated_points"] == POINTS - kept
    np.testing.assert_array_equal(finished.losses[stored.done], stored.losses[stored.done])
    np.testing.assert_allclose(finished.losses, _run(RankLoss()).losses, rtol=1e-6)


def test_a_killed_rank_stops_the_other_and_a_rerun_recomputes_nothing_stored(tmp_path):
    reports, exitcodes = _launch(tmp_path, fail_rank=1, how="kill")
    assert exitcodes[1] == -signal.SIGKILL and reports[1] is None
    failed_at = float((tmp_path / "failed_at").read_text())
    kind, message, _ = reports[0]["error"]
    assert kind == "LandscapeError" and "rank 0: lost contact with the other ranks" in message
    assert "relaunch all ranks" in message
    assert reports[0]["ended"] - failed_at < STOP_WITHIN_S

    stored = Landscape.load(tmp_path / "store.npz")
    kept = int(stored.done.sum())
    assert 0 < kept < POINTS and "lost contact" in stored.metadata["error"]

    fresh_loss, rerun_loss = RankLoss(), RankLoss()
    fresh = _run(fresh_loss)
    rerun = _run(rerun_loss, store=str(tmp_path / "store.npz"))
    # one real loss call per missing point: the fresh run makes `kept` calls more
    assert rerun_loss._calls == fresh_loss._calls - kept
    assert rerun.done.all() and rerun.metadata["evaluated_points"] == POINTS - kept
    np.testing.assert_array_equal(rerun.losses[stored.done], stored.losses[stored.done])
    np.testing.assert_allclose(rerun.losses, fresh.losses, rtol=1e-6)


def test_single_process_failure_raises_its_own_error(tmp_path):
    with pytest.raises(ValueError, match="boom on purpose") as raised:
        _run(RankLoss(fail_after=3, out_dir=tmp_path))
    assert not getattr(raised.value, "__notes__", None)  # no rank talk without torchrun
