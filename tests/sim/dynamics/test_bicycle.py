"""The kinematic bicycle against closed-form motion."""

import math

import numpy as np
import pytest

from sim.dynamics.bicycle import bicycle_step
from sim.types.scenario import EgoParams
from sim.types.state import EgoState

NO_LAG = EgoParams(accel_time_constant_s=0.0, steer_time_constant_s=0.0, max_steer_rate_radps=100.0)


def start(speed_mps: float = 0.0, steer_rad: float = 0.0) -> EgoState:
    return EgoState(0.0, 0.0, 0.0, speed_mps, 0.0, steer_rad, 0.0)


def test_constant_steer_drives_the_circle_of_radius_wheelbase_over_tan_steer():
    steer, speed = 0.1, 8.0
    ego = start(speed, steer)
    for _ in range(50):  # 5 s
        ego = bicycle_step(ego, 0.0, steer, NO_LAG, 0.1)
    radius = NO_LAG.wheelbase_m / math.tan(steer)
    angle = speed * 5.0 / radius
    assert ego.x_m == pytest.approx(radius * math.sin(angle), abs=1e-9)
    assert ego.y_m == pytest.approx(radius * (1 - math.cos(angle)), abs=1e-9)
    assert ego.yaw_rad == pytest.approx((angle + math.pi) % (2 * math.pi) - math.pi, abs=1e-12)
    assert ego.yaw_rate_radps == pytest.approx(speed / radius, rel=1e-12)


def test_constant_acceleration_from_rest_follows_half_a_t_squared():
    ego = start()
    for _ in range(30):
        ego = bicycle_step(ego, 2.0, 0.0, NO_LAG, 0.1)
    assert ego.speed_mps == pytest.approx(6.0)
    assert ego.x_m == pytest.approx(0.5 * 2.0 * 3.0 ** 2)
    assert ego.y_m == 0.0


def test_braking_stops_without_reversing():
    ego = start(speed_mps=1.0)
    for _ in range(20):
        ego = bicycle_step(ego, -8.0, 0.0, NO_LAG, 0.1)
    assert ego.speed_mps == 0.0
    assert ego.x_m == pytest.approx(1.0 * 1.0 / (2 * 8.0), abs=0.07)


def test_actuator_lag_is_first_order_and_limits_hold():
    params = EgoParams(accel_time_constant_s=0.2)
    ego = bicycle_step(start(10.0), 10.0, 1.5, params, 0.1)
    assert ego.accel_mps2 == pytest.approx(params.max_accel_mps2 * (1 - math.exp(-0.5)))
    assert abs(ego.steer_rad) <= params.max_steer_rate_radps * 0.1 + 1e-12
    for _ in range(100):
        ego = bicycle_step(ego, 10.0, 1.5, params, 0.1)
    assert ego.steer_rad == pytest.approx(params.max_steer_rad)
    assert ego.accel_mps2 == pytest.approx(params.max_accel_mps2, rel=1e-6)


def test_known_control_sequence_reaches_known_pose():
    """Straight 2 s at 2 m/s^2 from 5 m/s, then 2 s of constant turn: the closed form."""
    ego = start(5.0)
    for _ in range(20):
        ego = bicycle_step(ego, 2.0, 0.0, NO_LAG, 0.1)
    x_straight = 5.0 * 2 + 0.5 * 2.0 * 4
    assert (ego.x_m, ego.speed_mps) == pytest.approx((x_straight, 9.0))
    for _ in range(20):
        ego = bicycle_step(ego, 0.0, -0.05, NO_LAG, 0.1)
    radius = NO_LAG.wheelbase_m / math.tan(0.05)
    angle = 9.0 * 2.0 / radius
    assert ego.x_m == pytest.approx(x_straight + radius * math.sin(angle), abs=1e-9)
    assert ego.y_m == pytest.approx(-radius * (1 - math.cos(angle)), abs=1e-9)
    assert ego.yaw_rad == pytest.approx(-angle, abs=1e-12)
    assert np.isfinite([ego.x_m, ego.y_m]).all()
