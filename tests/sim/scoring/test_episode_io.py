"""Episode files: a round trip keeps every field and the scores; bad files are named."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.synthetic import straight_road_scenario
from sim.engine import prepare, run_episode
from sim.policies.builtin import ExpertPolicy
from sim.scoring.epdms import ScoringData
from sim.scoring.episode_io import EpisodeFileError, load_episode, save_episode
from sim.scoring.episode_scores import episode_scores


@pytest.fixture(scope="module")
def clean():
    ctx = prepare(straight_road_scenario(num_steps=80, ego_speed_mps=10.0))
    return run_episode(ctx, ExpertPolicy()), ctx


def test_episode_files_round_trip(clean, tmp_path):
    episode, ctx = clean
    path = save_episode(episode, tmp_path / "run" / "episode.npz")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    back = load_episode(path)
    for name in episode.__dataclass_fields__:
        a, b = getattr(episode, name), getattr(back, name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        else:
            assert a == b and type(a) is type(b), name
    data = ScoringData.build(ctx)
    assert episode_scores(back, data) == episode_scores(episode, data)


def test_bad_episode_files_are_named_in_the_error(clean, tmp_path):
    episode, _ = clean
    with pytest.raises(EpisodeFileError, match="does not exist"):
        load_episode(tmp_path / "missing.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(EpisodeFileError, match="broken.npz"):
        load_episode(broken)
    good = save_episode(episode, tmp_path / "good.npz")
    with np.load(good) as npz:
        fields = {k: npz[k] for k in npz.files if k != "ego_xy"}
    np.savez(tmp_path / "partial.npz", **fields)
    with pytest.raises(EpisodeFileError, match="ego_xy"):
        load_episode(tmp_path / "partial.npz")
