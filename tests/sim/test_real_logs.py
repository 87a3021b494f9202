"""The built-in policies on the real logs in ../shared/data/nuscenes-real (skipped when absent)."""

import pytest

from scenarios.nuscenes import list_scenes, load_scenario
from sim.engine import EngineConfig, prepare, run_episode
from sim.metrics import episode_metrics
from sim.policies.registry import make_policy
from tests.conftest import REAL_DATAROOTS, real_dataroot_params


def _metrics(dataroot, policy, reactive=False):
    scenario = load_scenario(dataroot, list_scenes(dataroot)[0].name)
    return episode_metrics(run_episode(prepare(scenario, EngineConfig(reactive=reactive)), make_policy(policy)))


@pytest.mark.parametrize("dataroot", real_dataroot_params())
@pytest.mark.parametrize("reactive", [False, True])
def test_expert_completes_its_route_without_fault_or_leaving_the_road(dataroot, reactive):
    m = _metrics(dataroot, "expert", reactive)
    assert not m.at_fault_collision
    assert not m.off_road
    assert m.route_completion > 0.95


@pytest.mark.skipif(not REAL_DATAROOTS, reason="real logs not found under ../shared/data/nuscenes-real")
def test_constant_velocity_scores_worse_than_expert_on_some_log():
    worse = []
    for dataroot in REAL_DATAROOTS:
        expert, cv = _metrics(dataroot, "expert"), _metrics(dataroot, "constant-velocity")
        worse.append(cv.at_fault_collision > expert.at_fault_collision or cv.off_road > expert.off_road
                     or cv.route_completion < expert.route_completion - 0.05)
    assert any(worse)
