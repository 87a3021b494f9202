"""Shared fixtures: the real logs in ../shared/data and the generated demo dataroot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPLATSIM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
REAL_LOGS_ROOT = SHARED_DATA / "nuscenes-real"
REAL_DATAROOTS = sorted(p for p in REAL_LOGS_ROOT.glob("av2-*") if (p / "v1.0-mini").is_dir())
GARDEN_NPZ = SHARED_DATA / "gsplat-garden" / "test_garden.npz"


def real_dataroot_params():
    """pytest params over the real logs; one skipped param with the reason when absent."""
    if not REAL_DATAROOTS:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"real logs not found under {REAL_LOGS_ROOT}"))]
    return [pytest.param(p, id=p.name) for p in REAL_DATAROOTS]


@pytest.fixture(scope="session")
def demo_dataroot(tmp_path_factory) -> Path:
    """The embedded demo town, generated once per test session (seconds)."""
    from scenarios.demo_town import build_demo_dataroot

    return build_demo_dataroot(tmp_path_factory.mktemp("demo") / "dataroot", seed=0)
