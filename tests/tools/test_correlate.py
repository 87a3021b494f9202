"""`splatsim correlate`'s option parsing."""

from tools.correlate import split_policy_names


def test_policy_lists_split_on_commas_outside_a_family_members_brackets():
    assert split_policy_names(["idm,idm[speed=1.3,headway=0.8]", " noisy[sigma=1] ,", "laggy"]) == [
        "idm", "idm[speed=1.3,headway=0.8]", "noisy[sigma=1]", "laggy"]
