"""The LQR tracker follows curves within stated errors and rejects unusable trajectories."""

import numpy as np
import pytest

from sim.dynamics.bicycle import STEER, X, Y
from sim.dynamics.tracker import TrackerParams, reference_from_global_poses, reference_from_trajectory, rollout
from sim.errors import ActionError
from sim.types.scenario import EgoParams
from sim.types.state import EgoState, TrajectoryAction


def circle(radius_m: float, speed_mps: float, seconds: float):
    t = np.arange(0.0, seconds + 1e-9, 0.1)
    angle = speed_mps * t / radius_m
    return np.stack([radius_m * np.sin(angle), radius_m * (1 - np.cos(angle))], -1), angle


@pytest.mark.parametrize("radius_m,speed_mps", [(30.0, 10.0), (15.0, 6.0), (200.0, 20.0)])
def test_tracks_a_circle_within_15_cm_after_settling(radius_m, speed_mps):
    xy, yaw = circle(radius_m, speed_mps, 8.0)
    ref = reference_from_global_poses(xy, yaw)
    states = rollout(ref, np.array([0.0, 0.5, 0.0, speed_mps, 0.0, 0.0]), 80, EgoParams(), TrackerParams())
    radial = np.hypot(states[:, X], states[:, Y] - radius_m) - radius_m
    assert abs(radial[0]) == pytest.approx(0.5)  # starts 0.5 m off the curve
    assert np.max(np.abs(radial[20:])) < 0.15  # settled within 2 s
    along = np.hypot(states[20:, X] - xy[20:, 0], states[20:, Y] - xy[20:, 1])
    assert np.max(along) < 0.5


def test_tracks_an_accelerating_straight_within_20_cm():
    t = np.arange(0.0, 4.0 + 1e-9, 0.1)
    s = 5.0 * t + 0.5 * 1.0 * t ** 2
    ref = reference_from_global_poses(np.stack([s, np.zeros_like(s)], -1), np.zeros_like(s))
    states = rollout(ref, np.array([0.0, 0.0, 0.0, 5.0, 0.0, 0.0]), 35, EgoParams(), TrackerParams())
    assert np.max(np.abs(states[:, X] - s[:36])) < 0.2
    assert np.max(np.abs(states[:, Y])) < 1e-9


def test_reference_from_ego_frame_trajectory_is_in_global():
    ego = EgoState(100.0, 50.0, np.pi / 2, 5.0, 0.0, 0.0, 0.0)
    t = np.arange(1, 11) * 0.1
    action = TrajectoryAction(np.stack([5.0 * t, np.zeros(10)], -1), np.zeros(10), t)
    ref = reference_from_trajectory(action, ego)
    now = int(np.argmin(np.abs(ref.t_s)))
    assert ref.t_s[0] < 0.0 and ref.t_s[now] == pytest.approx(0.0)
    assert ref.xy[now] == pytest.approx([100.0, 50.0])  # the plan extended back through the ego
    assert ref.xy[-1] == pytest.approx([100.0, 55.0])
    assert ref.speed_mps[now + 3] == pytest.approx(5.0)


def test_an_ego_ahead_of_its_plan_brakes_instead_of_turning_back():
    """The plan stands 1 m behind the ego: the tracker must brake, not accelerate or steer."""
    from sim.dynamics.tracker import tracking_controls

    ego = EgoState(0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0)
    t = np.arange(1, 41) * 0.1
    action = TrajectoryAction(np.tile([-1.0, 0.0], (40, 1)), np.zeros(40), t)
    accel, steer = tracking_controls(reference_from_trajectory(action, ego), np.array([0, 0, 0, 4.0, 0, 0]), 0.0,
                                     EgoParams(), TrackerParams())
    assert accel < -3.0 and abs(steer) < 1e-9


@pytest.mark.parametrize("xy,yaw,t,message", [
    (np.array([[1.0, np.nan]]), np.zeros(1), np.array([0.5]), "NaN"),
    (np.array([[1.0, 0.0], [2.0, 0.0]]), np.zeros(2), np.array([0.5, 0.5]), "strictly increasing"),
    (np.array([[1.0, 0.0]]), np.zeros(1), np.array([-0.1]), "positive"),
    (np.array([[1e6, 0.0]]), np.zeros(1), np.array([0.5]), "10 km"),
    (np.zeros((3, 3)), np.zeros(3), np.array([0.1, 0.2, 0.3]), "shape"),
    (np.zeros((3, 2)), np.zeros(2), np.array([0.1, 0.2, 0.3]), "shape"),
])
def test_unusable_trajectories_raise_action_error(xy, yaw, t, message):
    ego = EgoState(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    with pytest.raises(ActionError, match=message):
        reference_from_trajectory(TrajectoryAction(xy, yaw, t), ego)


def test_the_speed_profile_is_fitted_through_pose_noise():
    """Centimetre pose noise would be m/s^2 of acceleration noise in differenced speeds; the
    regularised fit keeps the real profile (constant acceleration here)."""
    t = np.arange(0.0, 4.0 + 1e-9, 0.1)
    s = 5.0 * t + 0.5 * 1.0 * t ** 2
    noisy = s + np.random.default_rng(0).normal(0.0, 0.01, len(s))
    ref = reference_from_global_poses(np.stack([noisy, np.zeros_like(s)], -1), np.zeros_like(s))
    now = int(np.argmin(np.abs(ref.t_s)))
    accel = np.diff(ref.speed_mps[now:]) / 0.1
    inner = slice(now, len(ref.speed_mps) - 3)  # the fit is least constrained at the plan's end
    assert np.max(np.abs(ref.speed_mps[inner] - (5.0 + ref.t_s[inner]))) < 0.15
    raw_speed = (noisy[2:] - noisy[:-2]) / 0.2  # central differences, as before the fit
    raw_accel = np.diff(raw_speed) / 0.1
    fitted_rms, raw_rms = (float(np.sqrt(np.mean((a - 1.0) ** 2))) for a in (accel[:-3], raw_accel))
    assert fitted_rms < 0.3 and raw_rms > 3.0 * fitted_rms


def test_rate_fit_is_exact_for_constant_acceleration():
    from sim.dynamics.tracker import rate_fit_matrix

    t = np.arange(30) * 0.1
    q = 2.0 * t + 0.5 * 3.0 * t ** 2
    assert rate_fit_matrix(30, 0.1, 1e-4) @ np.diff(q) == pytest.approx(2.0 + 3.0 * t, abs=1e-9)


def test_a_plan_that_waits_on_jittery_poses_then_drives_straight_does_not_steer():
    """Millimetre jitter of a waiting plan gives segment directions that are pure noise; the
    heading error is taken against the plan's headings, so the wheels stay straight."""
    t = np.arange(41) * 0.1
    x = 0.5 * 1.5 * np.clip(t - 1.0, 0.0, None) ** 2
    xy = np.stack([x, np.zeros(41)], -1) + np.random.default_rng(3).normal(0.0, 0.001, (41, 2))
    ref = reference_from_global_poses(xy, np.zeros(41))
    states = rollout(ref, np.array([xy[0, 0], xy[0, 1], 0.0, 0.0, 0.0, 0.0]), 40, EgoParams(), TrackerParams())
    assert np.max(np.abs(states[:, STEER])) < 0.01 and np.max(np.abs(states[:, Y])) < 0.02
    assert states[-1, X] == pytest.approx(x[-1], abs=0.3)


def test_curvature_is_measured_over_metres_of_path():
    from sim.geometry import path_curvature_kernel

    xy, yaw = circle(20.0, 0.5, 8.0)  # 0.05 m per pose
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    noisy = yaw + np.random.default_rng(2).normal(0.0, 0.002, len(yaw))
    curv = path_curvature_kernel(arc, noisy, 2.0)
    assert np.max(np.abs(curv[10:-10] - 1 / 20.0)) < 0.005
    assert np.all(path_curvature_kernel(np.zeros(5), np.arange(5.0), 2.0) == 0.0)  # standing: none


def test_the_reference_near_now_has_the_plans_curvature():
    """The engine replans every step, so it tracks every reference at its start: the extension
    back from the first pose continues the plan's arc (radius 20 m), with tangent headings."""
    ego = EgoState(0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0)
    xy, yaw = circle(20.0, 5.0, 4.0)
    ref = reference_from_trajectory(TrajectoryAction(xy[1:], yaw[1:], np.arange(1, 41) * 0.1), ego)
    assert ref.t_s[0] == pytest.approx(-0.5)
    assert ref.curvature_per_m[:12] == pytest.approx(np.full(12, 1 / 20.0), rel=0.02)  # -0.5 s .. +0.6 s
    back = ref.t_s <= 0.0
    assert np.hypot(ref.xy[back, 0], ref.xy[back, 1] - 20.0) == pytest.approx(np.full(back.sum(), 20.0), abs=1e-3)
    assert ref.yaw_rad[back] == pytest.approx(5.0 * ref.t_s[back] / 20.0, abs=1e-3)


def _standing_start_into_a_left_turn(ego_params: EgoParams):
    """A logged rear axle (kinematic bicycle) standing for 1 s, then pulling away at 1.5 m/s^2,
    straight for 2 m, then into a left turn of radius 10 m (the curvature ramped in over 2 m):
    (T,) times, (T, 2) xy, (T,) yaw, (T,) speed, (T,) steer, every 0.1 s for 9 s."""
    t = np.arange(91) * 0.1
    s = 0.75 * np.clip(t - 1.0, 0.0, None) ** 2
    fine = np.linspace(0.0, s[-1], 20001)
    kappa = 0.1 * np.clip((fine - 2.0) / 2.0, 0.0, 1.0)
    heading = np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * np.diff(fine))])
    x = np.concatenate([[0.0], np.cumsum(np.cos(0.5 * (heading[1:] + heading[:-1])) * np.diff(fine))])
    y = np.concatenate([[0.0], np.cumsum(np.sin(0.5 * (heading[1:] + heading[:-1])) * np.diff(fine))])
    xy = np.stack([np.interp(s, fine, x), np.interp(s, fine, y)], -1)
    steer = np.arctan(ego_params.wheelbase_m * np.interp(s, fine, kappa))
    return t, xy, np.interp(s, fine, heading), 1.5 * np.clip(t - 1.0, 0.0, None), steer


@pytest.mark.parametrize("frame", [5, 10, 15, 20, 25])
def test_consecutive_plans_of_a_logged_standing_start_into_a_turn_agree_within_extended_comfort(frame):
    """NAVSIM's extended comfort compares the rollouts of consecutive plans 0.5 s apart. The log
    replayed as the plan (the expert: an ego waiting, then pulling away into a turn) is tracked in
    the closed loop, replanned every step, for 0.5 s; the plan made there, rolled out, must agree
    with the rollout of the plan made 0.5 s earlier."""
    from sim.dynamics.bicycle import bicycle_step_kernel, ego_state_from_vector, params_vector
    from sim.dynamics.tracker import tracking_controls
    from sim.geometry import global_to_local_xy
    from sim.scoring.comfort import extended_comfort, kinematics_from_states

    params = EgoParams()
    t, xy, yaw, speed, steer = _standing_start_into_a_left_turn(params)

    def reference_from(state_vec: np.ndarray, k: int):
        # 4.5 s of the log, at most 4 s tracked: the plan does not end (and brake) within the
        # horizon, as EPDMS extends its proposals for the tracker (`proposal_states`).
        ego = ego_state_from_vector(state_vec, params.wheelbase_m)
        future = slice(k + 1, k + 46)
        return reference_from_trajectory(TrajectoryAction(global_to_local_xy(xy[future], ego.xy, ego.yaw_rad),
                                                          yaw[future] - ego.yaw_rad, np.arange(1, 46) * 0.1), ego)

    state = np.array([*xy[frame], yaw[frame], speed[frame], 1.5 if t[frame] > 1.0 else 0.0, steer[frame]])
    previous = rollout(reference_from(state, frame), state, 40, params, TrackerParams())
    for k in range(frame, frame + 5):
        controls = tracking_controls(reference_from(state, k), state, 0.0, params, TrackerParams())
        state = bicycle_step_kernel(state, *controls, params_vector(params), 0.1)
    current = rollout(reference_from(state, frame + 5), state, 40, params, TrackerParams())
    result = extended_comfort(kinematics_from_states(current, params.wheelbase_m, 0.1),
                              kinematics_from_states(previous, params.wheelbase_m, 0.1), 5, 0.1)
    assert result.ok, result
