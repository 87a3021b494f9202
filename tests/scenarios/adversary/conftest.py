"""Fixtures of the adversary tests."""

from __future__ import annotations

import pytest

from scenarios.adversary.model import load_checkpoint


@pytest.fixture(scope="module")
def model():
    return load_checkpoint()

