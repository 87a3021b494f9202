"""`splatsim/ClosedLoop-v0`: registered on import, passes Gymnasium's env checker, runs episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import policies_api
from policies_api.gym_env import ClosedLoopEnv


def test_the_env_is_registered_on_import():
    assert policies_api.ENV_ID == "splatsim/ClosedLoop-v0" and policies_api.ENV_ID in gym.registry


def test_env_checker_passes_with_images(server):
    env = ClosedLoopEnv(server.unix_target, scenarios=["road-open", "road-oncoming"], cameras=["CAM_FRONT"],
                        width=32, height=18, max_steps=30)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_an_episode_through_gym_make(server):
    env = gym.make(policies_api.ENV_ID, target=server.tcp_target, scenarios=["road-slow-leader"], reactive=True)
    try:
        obs, info = env.reset(seed=3)
        assert obs["ego"].shape == (7,) and obs["route"].shape == (20, 2) and "images" not in obs
        assert info["step_index"] == 0
        total, steps = 0.0, 0
        while True:
            route = obs["route"]
            # Follow the route at ~5 m/s: poses every 0.5 s along the waypoints (2 m apart).
            idx = np.minimum(np.round(np.arange(1, 9) * 2.5 / 2.0).astype(int), len(route) - 1)
            heading = np.arctan2(np.gradient(route[:, 1]), np.gradient(route[:, 0]))[idx]
            action = np.concatenate([route[idx], heading[:, None]], axis=1).astype(np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            steps += 1
            assert steps < 200
            if terminated or truncated:
                break
        metrics = info["episode_metrics"]
        assert metrics["steps"] == steps and metrics["policy"] == "gymnasium"
        assert total == pytest.approx(metrics["progress_m"], abs=1e-6)  # reward = progress (no penalties here)
        with pytest.raises(gym.error.ResetNeeded):
            env.step(action)
    finally:
        env.close()
