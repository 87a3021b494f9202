"""`evaluation.reconstruction`: the device, the resolution and the defaults of a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.reconstruction import (
    CPU_DEFAULT_RESOLUTION,
    CPU_DEFAULT_STEPS,
    CPU_INIT_POINTS,
    CPU_MAX_GAUSSIANS,
    ReconstructConfig,
    parse_resolution,
    parse_resolution_or_scale,
    resolve_device,
)
from sim.errors import ConfigError


def test_cuda_device_is_refused_with_the_reason_where_cuda_is_absent() -> None:
    from render.reconstruct.gsplat_fit import cuda_unavailable_reason

    reason = cuda_unavailable_reason()
    if reason is None:
        assert resolve_device("cuda") == "cuda" and resolve_device("auto") == "cuda"
    else:
        with pytest.raises(ConfigError, match="CUDA"):
            resolve_device("cuda")
        assert resolve_device("auto") == "cpu"


def test_resolution_text_is_checked() -> None:
    assert parse_resolution("160x90") == (160, 90) and parse_resolution("64X48") == (64, 48)
    for bad in ("160", "ax9", "4x4", "9000x10"):
        with pytest.raises(ConfigError, match="--resolution"):
            parse_resolution(bad)


def test_resolution_may_be_a_scale_of_the_images_own_size() -> None:
    assert parse_resolution_or_scale("0.5") == 0.5 and parse_resolution_or_scale("613x185") == (613, 185)
    for bad in ("0", "1.5", "-0.5", "half"):
        with pytest.raises(ConfigError, match="--resolution"):
            parse_resolution_or_scale(bad)


def test_a_cpu_config_takes_the_cpu_defaults_and_refuses_bad_values() -> None:
    config = ReconstructConfig(Path("data"), "scene-demo-0000", Path("out/s.ply"), device="cpu").resolved()
    assert (config.device, config.steps, config.resolution) == ("cpu", CPU_DEFAULT_STEPS, CPU_DEFAULT_RESOLUTION)
    assert (config.init_points, config.max_gaussians) == (CPU_INIT_POINTS, CPU_MAX_GAUSSIANS)
    assert config.report == Path("out/s.report")
    for bad in (dict(init="points"), dict(steps=0), dict(sh_degree=4)):
        with pytest.raises(ConfigError):
            ReconstructConfig(Path("data"), "s", Path("s.ply"), device="cpu", **bad).resolved()
