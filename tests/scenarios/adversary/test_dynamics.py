"""The unicycle rollout of the adversary: exact circles, braking to a stop, clipped and differentiable."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scenarios.adversary.dynamics import ControlLimits, unicycle_rollout, unicycle_rollout_np


def test_unicycle_constant_yaw_rate_traces_an_exact_circle():
    v, radius = 10.0, 20.0
    w = v / radius
    steps = 40
    controls = np.zeros((steps, 2))
    controls[:, 1] = w
    out = unicycle_rollout_np(np.array([0.0, 0.0, 0.0, v]), controls, limits=None)
    t = 0.1 * np.arange(1, steps + 1)
    # Starting at the origin heading +x, turning left about (0, radius).
    np.testing.assert_allclose(out[:, 0], radius * np.sin(w * t), atol=1e-9)
    np.testing.assert_allclose(out[:, 1], radius * (1 - np.cos(w * t)), atol=1e-9)
    np.testing.assert_allclose(out[:, 2], w * t, atol=1e-12)
    np.testing.assert_allclose(out[:, 3], v)


def test_unicycle_constant_acceleration_and_braking_to_a_stop():
    controls = np.zeros((30, 2))
    controls[:, 0] = 2.0
    out = unicycle_rollout_np(np.array([5.0, -3.0, math.pi / 2, 4.0]), controls)
    t = 3.0
    assert out[-1, 3] == pytest.approx(4.0 + 2.0 * t)
    assert out[-1, 1] == pytest.approx(-3.0 + 4.0 * t + 0.5 * 2.0 * t * t)  # heading +y
    assert out[-1, 0] == pytest.approx(5.0, abs=1e-9)
    # Braking at 5 m/s^2 from 2 m/s stops after 0.4 s and never reverses.
    brake = np.zeros((10, 2))
    brake[:, 0] = -5.0
    out = unicycle_rollout_np(np.array([0.0, 0.0, 0.0, 2.0]), brake)
    np.testing.assert_allclose(out[:4, 3], [1.5, 1.0, 0.5, 0.0], atol=1e-12)
    assert np.all(np.abs(out[4:, 3]) < 1e-12) and np.all(np.diff(out[:, 0]) >= 0.0)
    assert out[-1, 0] == pytest.approx(0.4, abs=1e-9)  # 2^2 / (2 * 5)


def test_unicycle_clips_controls_and_is_differentiable():
    limits = ControlLimits()
    u = torch.tensor([[[20.0, 5.0]] * 10], dtype=torch.float64, requires_grad=True)
    out = unicycle_rollout(torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64), u, limits=limits)
    assert out.shape == (1, 10, 4)
    assert out[0, 0, 3].item() == pytest.approx(1.0 + 0.1 * limits.max_accel_mps2)
    assert out[0, -1, 2].item() == pytest.approx(1.0 * limits.max_yaw_rate_radps)
    u2 = torch.zeros((3, 10, 2), dtype=torch.float64, requires_grad=True)
    unicycle_rollout(torch.tensor([0.0, 0.0, 0.0, 5.0], dtype=torch.float64), u2)[..., :2].sum().backward()
    assert torch.isfinite(u2.grad).all() and u2.grad.abs().sum() > 0
