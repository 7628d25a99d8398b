"""Shared helpers for the benchmark scripts: time a call many times, print percentiles and ratios.

Every bench prints its figures next to a baseline measured in the same run, so the ratio means
something on whatever machine runs it.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable


def measure(fn: Callable[[], object], repeat: int = 200, warmup: int = 10) -> dict:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "n": repeat,
        "p50_ms": statistics.median(samples),
        "p95_ms": samples[int(0.95 * (len(samples) - 1))],
        "max_ms": samples[-1],
    }


def report(name: str, stats: dict, baseline: dict | None = None, goal: str = "") -> None:
    line = f"{name:<40} p50 {stats['p50_ms']:8.2f} ms   p95 {stats['p95_ms']:8.2f} ms"
    if baseline:
        line += f"   ratio(p95) {stats['p95_ms'] / baseline['p95_ms']:6.2f}"
    if goal:
        line += f"   goal: {goal}"
    print(line, flush=True)
