"""The CPU reconstruction step benchmark behind `splatsim bench reconstruct`."""

from __future__ import annotations

import pytest

from evaluation.benchmarks.reconstruct import bench_reconstruct


def test_bench_reconstruct_times_both_rasterizers_on_the_same_scene():
    out = bench_reconstruct(gaussians=3000, width=96, height=64, steps=2, baseline_steps=1, frames=3)
    assert out["width"] == 96 and out["height"] == 64 and out["steps"] == 2
    assert out["gaussians"] > 1000  # the street crop, tuned towards 3,000
    assert 0 < out["tile_step_s_min"] <= out["tile_step_s_median"]
    assert out["speedup_vs_torch"] == pytest.approx(out["torch_step_s_median"] / out["tile_step_s_median"], rel=0.05,
                                                    abs=0.1)
    assert "wall" not in out and out["machine"]["cores"] >= 1
