"""The shipped checkpoint and errors on a bad one."""

from __future__ import annotations

import pytest

from scenarios.adversary.features import FUTURE_STEPS
from scenarios.adversary.model import DEFAULT_CHECKPOINT, load_checkpoint
from sim.errors import ConfigError


def test_shipped_checkpoint_is_small_and_describes_its_training(model):
    assert DEFAULT_CHECKPOINT.stat().st_size < 5_000_000
    meta = model.metadata
    assert meta["heldout_scenes"] and meta["train_scenes"]
    assert not set(meta["heldout_scenes"]) & set(meta["train_scenes"])
    assert model.denoiser.config.future_steps == FUTURE_STEPS


def test_bad_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
