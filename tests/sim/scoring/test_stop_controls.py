"""Stop lines inferred from where the logged ego waited at a junction entry, and red-light
crossings against them."""

import numpy as np
import pytest

from sim.scoring.stop_controls import StopControlConfig, infer_stop_controls, red_light_crossing

DT = 0.1
HALF_LENGTH, HALF_WIDTH = 2.3, 0.925


def waiting_log(stop_steps: int = 30, front_at_rest_m: float = 45.0, steps: int = 100):
    """An ego on the x axis that brakes to a stop with its front bumper at front_at_rest_m, waits
    stop_steps and drives off. Returns (speed, valid, front_s, centre xy, yaw, first stopped step,
    first moving step after the stop)."""
    t = np.arange(steps) * DT
    t_stop = 3.0
    speed = np.clip(10.0 - (10.0 / t_stop) * t, 0.0, None)
    go = int(round(t_stop / DT)) + stop_steps
    speed[go:] = np.minimum(1.5 * (t[go:] - t[go]) + 0.5, 10.0)
    front = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * DT)])
    front += front_at_rest_m - front[go - 1]
    xy = np.stack([front - HALF_LENGTH, np.zeros(steps)], -1)
    first_stopped = int(np.flatnonzero(speed < 0.3)[0])
    return speed, np.ones(steps, bool), front, xy, np.zeros(steps), first_stopped, go


def infer(log, actor_xy=None, connectors=((50.0, 70.0),), config=StopControlConfig()):
    speed, valid, front, xy, yaw, *_ = log
    n = len(speed)
    if actor_xy is None:
        actor_xy, actor_valid = np.zeros((n, 0, 2)), np.zeros((n, 0), bool)
    else:
        actor_xy, actor_valid = np.broadcast_to(actor_xy, (n, 1, 2)), np.ones((n, 1), bool)
    m = actor_xy.shape[1]
    return infer_stop_controls(speed, valid, front, xy, yaw, HALF_LENGTH, HALF_WIDTH, actor_xy, actor_valid,
                               np.full(m, 2.3), np.full(m, 0.95), np.array(connectors, float), DT, config)


def test_a_wait_at_a_junction_entry_with_nothing_ahead_is_a_red_line_until_the_ego_drives_off():
    log = waiting_log()
    stops = infer(log)
    assert len(stops) == 1
    assert stops.line_s_m[0] == pytest.approx(45.0 + StopControlConfig().line_margin_m, abs=0.05)
    go = log[-1]
    assert stops.red_until_step[0] == go
    assert len(stops.red_at(go - 1)) == 1 and len(stops.red_at(go)) == 0
    assert stops.red_steps_from(go - 10).tolist() == [10]


@pytest.mark.parametrize("case", ["queueing", "mid-block", "too short", "log ends waiting", "disabled"])
def test_waits_that_are_not_stop_controls(case):
    log = waiting_log(stop_steps=5 if case == "too short" else 30)
    kwargs = {}
    if case == "queueing":
        kwargs["actor_xy"] = np.array([[45.0 + 6.0 + 2.3, 0.0]])  # a car 6 m ahead of the front bumper
    if case == "mid-block":
        kwargs["connectors"] = ((80.0, 100.0),)  # the junction is 35 m further on
    if case == "log ends waiting":
        log = tuple(a[:log[-1]] if isinstance(a, np.ndarray) else a for a in log)
    if case == "disabled":
        kwargs["config"] = StopControlConfig(enabled=False)
    assert len(infer(log, **kwargs)) == 0


def test_a_car_beside_the_path_does_not_explain_the_wait():
    beside = np.array([[45.0 + 3.0, 4.0]])  # in the next lane
    assert len(infer(waiting_log(), actor_xy=beside)) == 1


def test_red_light_crossing_counts_only_while_red_and_from_before_the_line():
    stops = infer(waiting_log())
    line, go = stops.line_s_m[0], int(stops.red_until_step[0])
    running = line - 5.0 + 10.0 * np.arange(41) * DT  # 10 m/s through the line 0.5 s in
    assert red_light_crossing(running, stops, go - 20) == 6
    assert red_light_crossing(running, stops, go - 3) == -1  # green before the line is reached
    assert red_light_crossing(running + 10.0, stops, go - 20) == -1  # already past the line
    waiting = np.full(41, line - 1.0)
    assert red_light_crossing(waiting, stops, go - 20) == -1
