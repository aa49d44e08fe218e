"""Benchmark of ``viz3d.compare`` on two GPT-2-small-shaped models (124M parameters each).

    python bench/compare.py [--threads N] [--skip-safetensors]

Model A: ``GPT2LMHeadModel(GPT2Config())``, random weights (no download). Model B: a copy with
every weight perturbed (1% Gaussian noise: every matrix changes at full rank, the slowest case
for the rank sketch) and a rank-8 update merged into every attention projection. Measured:

* the structural + weight diff of the two models in memory (``viz3d.compare(a, b)``, tracing
  both included): wall time, and peak resident memory over the process before the models were
  built, as a multiple of one model's weight bytes (target: <= 10 s and <= 2.5x);
* the same diff read from two safetensors folders one tensor at a time, after both models were
  freed: wall time and peak memory over that baseline.

Peak memory is sampled every 5 ms with psutil (RSS), which sees torch's allocations.
"""

from __future__ import annotations

import argparse
import copy
import gc
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch


class PeakRSS:
    """The highest resident set size seen while the ``with`` block runs (sampled)."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.peak = 0
        self._stop = threading.Event()

    def _watch(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self.peak = psutil.Process().memory_info().rss
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, psutil.Process().memory_info().rss)


def rss() -> int:
    return psutil.Process().memory_info().rss


def build_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    base = GPT2LMHeadModel(GPT2Config()).eval()
    changed = copy.deepcopy(base)
    with torch.no_grad():
        for p in changed.parameters():
            p.add_(0.01 * p.std() * torch.randn_like(p))
        for block in changed.transformer.h:
            for proj in (block.attn.c_attn, block.attn.c_proj):
                w = proj.weight
                w.add_(0.001 * torch.randn(w.shape[0], 8) @ torch.randn(8, w.shape[1]))
    return base, changed


def weight_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-safetensors", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import viz3d

    viz3d.compare(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), progress=False)  # warm imports
    gc.collect()
    baseline = rss()
    base, changed = build_pair()
    one = weight_bytes(base)
    params = sum(p.numel() for p in base.parameters())
    print(f"models: {params / 1e6:.1f}M parameters each, {one / 2**20:.0f} MiB of weights each")
    print(f"torch threads: {torch.get_num_threads()}")

    gc.collect()
    before = rss()
    print(f"with both models built: {(before - baseline) / one:.2f}x one model over the baseline")
    with PeakRSS() as peak:
        start = time.perf_counter()
        diff = viz3d.compare(base, changed)
        seconds = time.perf_counter() - start
    ratio = (peak.peak - baseline) / one
    print(
        f"in memory : {seconds:6.2f} s, peak {(peak.peak - baseline) / 2**20:6.0f} MiB over the "
        f"baseline = {ratio:.2f}x one model (both models themselves are 2.00x)"
    )
    print(f"            {diff.headline()}")
    attn = diff["transformer.h.0.attn.c_proj"].weights["weight"]
    print(
        f"            h.0.attn.c_proj: relative change {attn.relative_change:.4f}, "
        f"rank {attn.rank_text}"
    )
    if args.skip_safetensors:
        return

    from safetensors.torch import save_model

    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / "a", Path(tmp) / "b"]
        for folder, model in zip(folders, (base, changed)):
            folder.mkdir()
            save_model(model, str(folder / "model.safetensors"))
        del base, changed, diff
        gc.collect()
        disk_baseline = rss()
        with PeakRSS() as peak:
            start = time.perf_counter()
            streamed = viz3d.compare(*folders)
            seconds = time.perf_counter() - start
        print(
            f"safetensors: {seconds:5.2f} s, peak {(peak.peak - disk_baseline) / 2**20:6.0f} MiB "
            f"over its baseline = {(peak.peak - disk_baseline) / one:.2f}x one model"
        )
        print(f"            {streamed.headline()}")


if __name__ == "__main__":
    main()
