"""`sim.fanout.fan_out`: every task's result reaches the callback with its index, in this process
or on Ray; arguments shared by several tasks are shipped once."""

from __future__ import annotations

import pytest

from sim.fanout import fan_out, runs_in_process


def _scaled(x: int, table: dict) -> int:
    return x * table["factor"]


def test_in_process_results_arrive_in_task_order():
    table = {"factor": 3}
    seen = []
    fan_out(_scaled, [(i, table) for i in range(5)], lambda i, r: seen.append((i, r)), workers=0)
    assert seen == [(i, 3 * i) for i in range(5)]
    assert runs_in_process(None, None) and runs_in_process(0, None)
    assert not runs_in_process(2, None) and not runs_in_process(0, "auto")


def test_ray_gives_every_result_once_with_its_index():
    ray = pytest.importorskip("ray")
    table = {"factor": 2}
    got = {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        fan_out(_scaled, [(i, table) for i in range(7)], got.__setitem__, workers=2)
        assert ray.is_initialized()  # a Ray started by the caller is left running
    finally:
        ray.shutdown()
    assert got == {i: 2 * i for i in range(7)}
