"""The camera rig from the CAM_* calibrations."""

from __future__ import annotations

import numpy as np

from scenarios.nuscenes.cameras import CAMERA_ORDER
from tests.scenarios.nuscenes.conftest import real_logs, scenario_of


@real_logs
def test_camera_rig_has_the_seven_ring_cameras(dataroot):
    rig = scenario_of(dataroot).cameras
    # Both logs carry 7fab2350's calibration: five nuScenes-named channels in nuScenes order,
    # then AV2's side cameras by name (there is no CAM_BACK).
    assert list(rig.names) == ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK_LEFT", "CAM_FRONT_LEFT",
                               "CAM_SIDE_LEFT", "CAM_SIDE_RIGHT"]
    assert rig.intrinsics.shape == (7, 3, 3) and np.all(rig.intrinsics[:, 2, 2] == 1.0)
    front = list(rig.names).index("CAM_FRONT")
    assert (rig.width_px[front], rig.height_px[front]) == (1550, 2048)  # AV2's portrait front camera
    rotation = rig.pose_camera_to_ego[:, :3, :3]
    assert np.allclose(rotation @ np.swapaxes(rotation, 1, 2), np.eye(3), atol=1e-6)
    # The front camera looks along ego +x (its optical axis is camera +z), from about 1.7 m up.
    assert np.allclose(rotation[front, :, 2], [1, 0, 0], atol=0.05)
    assert 1.0 < rig.pose_camera_to_ego[front, 2, 3] < 2.5


def test_camera_order_starts_with_nuscenes_channels():
    assert CAMERA_ORDER == ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT",
                            "CAM_FRONT_LEFT")
