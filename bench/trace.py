"""Tracing speed: viz3d.trace beside a plain forward, torchlens and torchview, in one run.

    pip install -e ".[bench]"
    python bench/trace.py            # GPT-2 small (1x64 tokens) and LLaMA-7B shape on meta

GPT-2 small: the same model and the same inputs for every tool; the figure is the median of
several runs after a warm-up. LLaMA-7B shape on ``meta``: each tool runs in its own fresh process
so its peak resident memory (RSS) is its own; the time is the trace alone (model built first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

_META_SCRIPT = r"""
import json, resource, sys, time, torch
from viz3d.zoo import build_sample
tool = sys.argv[1]
model = build_sample("llama7b")
ids = torch.empty((1, 64), dtype=torch.long, device="meta")
start = time.perf_counter()
try:
    if tool == "viz3d":
        import viz3d
        graph = viz3d.trace(model, ids)
        detail = f"{len(graph)} nodes"
    elif tool == "torchview":
        import torchview
        graph = torchview.draw_graph(model, input_data=ids, device="meta", depth=99)
        detail = "ok"
    else:
        import torchlens
        torchlens.trace(model, ids)
        detail = "ok"
    ok = True
except Exception as exc:
    ok, detail = False, f"{type(exc).__name__}: {str(exc)[:120]}"
seconds = time.perf_counter() - start
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"tool": tool, "ok": ok, "seconds": seconds, "rss_mb": rss_mb, "detail": detail}))
"""


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first calls pay for lazy imports and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_gpt2(repeats: int) -> dict[str, float | str]:
    import viz3d
    from viz3d.zoo import build_sample

    model = build_sample("gpt2-small")
    ids = torch.randint(0, 50257, (1, 64), generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.no_grad():
            model(ids)

    results: dict[str, float | str] = {"forward": _median_seconds(forward, repeats)}
    results["viz3d"] = _median_seconds(lambda: viz3d.trace(model, ids), repeats)
    try:
        import torchlens

        results["torchlens"] = _median_seconds(
            lambda: torchlens.trace(model, ids), max(1, repeats // 2)
        )
    except Exception as exc:  # a competitor failing is a result, not a crash of the bench
        results["torchlens"] = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
    try:
        import torchview

        results["torchview"] = _median_seconds(
            lambda: torchview.draw_graph(model, input_data=ids, depth=99), max(1, repeats // 2)
        )
    except Exception as exc:
        results["torchview"] = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
    return results


def bench_meta(tools: list[str]) -> list[dict]:
    rows = []
    for tool in tools:
        try:
            done = subprocess.run(
                [sys.executable, "-c", _META_SCRIPT, tool],
                capture_output=True,
                text=True,
                timeout=600,
            )
            line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
            rows.append(
                json.loads(line)
                if line.startswith("{")
                else {"tool": tool, "ok": False, "detail": done.stderr.strip()[-200:]}
            )
        except subprocess.TimeoutExpired:
            rows.append({"tool": tool, "ok": False, "detail": "timed out after 600 s"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-meta", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    print(
        f"GPT-2 small, random weights, 1x64 tokens, CPU ({torch.get_num_threads()} threads), "
        f"median of {args.repeats}"
    )
    gpt2 = bench_gpt2(args.repeats)
    base = gpt2["forward"]
    for tool, value in gpt2.items():
        if isinstance(value, float):
            print(f"  {tool:<10} {value * 1000:8.1f} ms  {value / base:5.2f}x forward")
        else:
            print(f"  {tool:<10} {value}")
    for other in ("torchlens", "torchview"):
        if isinstance(gpt2[other], float):
            print(f"  viz3d is {gpt2[other] / gpt2['viz3d']:.1f}x faster than {other}")

    if args.skip_meta:
        return
    print("LLaMA-7B shape (6.7B params) on meta, 1x64 tokens, fresh process per tool")
    for row in bench_meta(["viz3d", "torchview", "torchlens"]):
        if row["ok"]:
            print(
                f"  {row['tool']:<10} {row['seconds']:6.2f} s  peak RSS {row['rss_mb']:7.0f} MB  "
                f"{row['detail']}"
            )
        else:
            print(f"  {row['tool']:<10} failed: {row['detail']}")


if __name__ == "__main__":
    main()
