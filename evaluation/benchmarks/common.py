"""What several benchmarks share: latency statistics and stopping the server processes they start."""

from __future__ import annotations

import subprocess

import numpy as np


def latency_stats_ms(samples_ns: list[int]) -> dict:
    """p50, p99, mean, min (ms) and n of latencies given in nanoseconds."""
    a = np.asarray(samples_ns, np.float64) / 1e6
    return {"p50_ms": float(np.median(a)), "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()),
            "min_ms": float(a.min()), "n": int(len(a))}


def stop_process(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within grace_s; always reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
