import pytest

from policies_api.client import RemoteError
from policies_api.resolve import check_policy_names, resolve_policy
from sim.errors import ConfigError
from sim.policies.builtin import ConstantVelocityPolicy, ExpertPolicy, IDMPolicy
from sim.policies.degraded import LaggyPolicy, NoisyPolicy
from sim.policies.registry import is_degraded_policy_name, make_policy, policy_names


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
