import pytest

from policies_api.client import RemoteError
from policies_api.resolve import check_policy_names, resolve_policy
from sim.errors import ConfigError
from sim.policies.builtin import ConstantVelocityPolicy, ExpertPolicy, IDMPolicy
from sim.policies.degraded import LaggyPolicy, NoisyPolicy
from sim.policies.registry import is_degraded_policy_name, make_policy, policy_families, policy_names


def test_every_in_process_name_resolves_to_its_class():
    expected = {"expert": ExpertPolicy, "constant-velocity": ConstantVelocityPolicy, "idm": IDMPolicy,
                "noisy": NoisyPolicy, "laggy": LaggyPolicy}
    assert set(expected) <= set(policy_names())
    for name, cls in expected.items():
        assert isinstance(make_policy(name), cls)
    assert is_degraded_policy_name("laggy") and not is_degraded_policy_name("idm")


def test_the_seed_reaches_degraded_policies():
    assert make_policy("noisy", seed=7).params.seed == 7


def test_unknown_names_are_refused_with_the_choices_and_the_remote_forms():
    with pytest.raises(ConfigError, match="'teleport'.*expert.*noisy.*grpc://"):
        make_policy("teleport")
    with pytest.raises(ConfigError, match="'a', 'b'"):
        check_policy_names(["idm", "a", "grpc://localhost:1", "b"])


def test_remote_forms_are_accepted_and_resolve_through_the_grpc_client():
    check_policy_names(["grpc://localhost:1", "unix:///tmp/x.sock"])
    with pytest.raises(RemoteError, match="127.0.0.1:1"):  # nothing listens there: the client tried it
        resolve_policy("grpc://127.0.0.1:1")
    assert isinstance(resolve_policy("idm"), IDMPolicy)


def test_family_members_resolve_with_their_parameters_and_keep_their_names():
    p = make_policy("idm[speed=0.8, headway=2.5,accel=1,bias=-0.5]")
    assert isinstance(p, IDMPolicy) and p.name == "idm[speed=0.8, headway=2.5,accel=1,bias=-0.5]"
    assert (p.params.desired_speed_factor, p.params.idm.time_headway_s, p.params.idm.max_accel_mps2,
            p.params.lateral_bias_m) == (0.8, 2.5, 1.0, -0.5)
    assert p.params.idm.min_gap_m == IDMPolicy().params.idm.min_gap_m  # unnamed keys keep idm's defaults
    noisy = make_policy("noisy[sigma=2]", seed=3)
    assert isinstance(noisy, NoisyPolicy) and (noisy.params.sigma_m, noisy.params.seed) == (2.0, 3)
    laggy = make_policy("laggy[lag=0.3]")
    assert isinstance(laggy, LaggyPolicy) and laggy.params.lag_s == (0.3, 0.3)
    assert is_degraded_policy_name("idm[speed=0.8]") and not is_degraded_policy_name("expert")
    check_policy_names(["idm[bias=1]", "laggy[lag=1.5]", "noisy"])


@pytest.mark.parametrize("name, message", [
    ("idm[speed=fast]", "speed must be a number"),
    ("idm[sigma=1]", "KEY one of speed, headway, accel, bias"),
    ("idm[speed=0.01]", r"speed \(desired speed factor\) must lie in \[0.1, 3\]"),
    ("laggy[lag=1,lag=2]", "lag given twice"),
    ("teleport[speed=1]", "unknown policy"),
])
def test_malformed_family_members_say_what_is_wrong(name, message):
    with pytest.raises(ConfigError, match=message):
        make_policy(name)
    with pytest.raises(ConfigError, match=r"idm\[speed=\.\.\.,headway=\.\.\.,accel=\.\.\.,bias=\.\.\.\]"):
        check_policy_names([name])


def test_policy_names_stay_the_plain_names_and_errors_list_the_families():
    assert policy_names() == ("expert", "constant-velocity", "idm", "noisy", "laggy", "over-cautious", "aggressive")
    assert set(policy_families()) == {"idm[speed=...,headway=...,accel=...,bias=...]", "noisy[sigma=...]",
                                      "laggy[lag=...]"}


def _episode(name: str):
    """4 s on a straight road; the episode may end early when the ego completes the logged route."""
    from scenarios.synthetic import straight_road_scenario
    from sim.engine import EngineConfig, prepare, run_episode

    context = prepare(straight_road_scenario(num_steps=200, ego_speed_mps=10.0), EngineConfig(max_steps=40))
    return run_episode(context, make_policy(name))


def test_a_higher_target_speed_makes_more_progress_on_a_straight_road():
    # The log drives 10 m/s, so idm's desired speed is 10 m/s and it covers 10 m/s x 3 s = 30 m in
    # 3 s; x 1.3 (13 m/s) accelerates (IDM: 1.5 (1 - (10/13)^4) = 0.97 m/s^2 at first: about
    # +0.5 x 0.97 x 3^2 = 4 m less the tracker's lag), x 0.5 (5 m/s) brakes.
    progress = {n: float(e.ego_xy[30, 0] - e.ego_xy[0, 0]) for n, e in
                ((n, _episode(n)) for n in ("idm[speed=0.5]", "idm", "idm[speed=1.3]"))}
    assert progress["idm"] == pytest.approx(30.0, abs=0.5)
    assert progress["idm[speed=1.3]"] > progress["idm"] + 1.0
    assert progress["idm[speed=0.5]"] < progress["idm"] - 5.0


def test_a_lateral_bias_moves_the_ego_off_the_centerline_to_that_side():
    # Plans converge to the bias with a 2 s time constant: after 3.9 s at most 1 - exp(-3.9 / 2) = 86 %
    # of the way, less the tracker's lag; idm stays on the centerline.
    base = _episode("idm").ego_xy[:, 1]
    assert abs(base[-1] - base[0]) < 1e-6
    for bias in (0.6, -1.2):
        y = _episode(f"idm[bias={bias:g}]").ego_xy[:, 1]
        assert 0.6 < (y[-1] - y[0]) / bias < 0.86
