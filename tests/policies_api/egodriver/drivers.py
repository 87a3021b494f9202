"""Driving policies served by carla-driver-interface (unmodified) in the driver process of these tests:
`carla-driver-interface serve --policy tests.policies_api.egodriver.drivers:<Class> --mode alpasim`. Imported
only there (carla-driver-interface's vendored descriptors and splatsim's never share a process)."""

from __future__ import annotations

import json
import os

from carla_driver_interface.driver import BaseDriver, DriveResult
from carla_driver_interface.geometry import Pose, Trajectory


class NeedsFrontCamera(BaseDriver):
    """Refuses a session without camera_front_wide_120fov (the peer answers FAILED_PRECONDITION)."""

    name = "needs_front_camera"

    def on_session_start(self, session) -> None:
        if "camera_front_wide_120fov" not in session.cameras:
            raise ValueError(f"needs camera_front_wide_120fov, got {sorted(session.cameras)}")

    def drive(self, ctx) -> DriveResult:
        return DriveResult(trajectory_in_rig=Trajectory.empty())


class HoldsThenStops(BaseDriver):
    """An empty plan (hold) at every drive, terminate_session at the fifth."""

    name = "holds_then_stops"

    def drive(self, ctx) -> DriveResult:
        return DriveResult(trajectory_in_rig=Trajectory.empty(), terminate_session=ctx.session.drive_count >= 4)


class Recorder(BaseDriver):
    """Writes what its first drive saw to $EGODRIVER_RECORD (JSON), then plans 1 m/s straight ahead."""

    name = "recorder"

    def drive(self, ctx) -> DriveResult:
        s = ctx.session
        if s.drive_count == 0:
            cams = {}
            for cid, cam in s.cameras.items():
                p, q = cam.rig_to_camera.vec, cam.rig_to_camera.quat
                k = cam.intrinsics.opencv_pinhole_param
                frame = s.latest_frame(cid)
                cams[cid] = {"xyz": [p.x, p.y, p.z], "wxyz": [q.w, q.x, q.y, q.z], "fx": k.focal_length_x,
                             "cx": k.principal_point_x, "w": cam.intrinsics.resolution_w,
                             "h": cam.intrinsics.resolution_h, "shutter": int(cam.intrinsics.shutter_type),
                             "image_shape": list(frame.as_array().shape), "frame_end_us": frame.frame_end_us}
            pose = s.latest_pose()
            state = s.latest_dynamic_state()
            record = {"scene": s.scene_id, "seed": s.seed, "cameras": cams, "time_now_us": ctx.time_now_us,
                      "time_query_us": ctx.time_query_us, "route": s.route_waypoints_in_rig.tolist(),
                      "pose_xyz": pose.position.tolist(), "pose_yaw": pose.yaw,
                      "speed_mps": state.linear_velocity.x,
                      "ground_truth": [[t, *p.position.tolist()] for t, p in zip(s.ground_truth_in_rig.timestamps_us,
                                                                                s.ground_truth_in_rig.poses)]
                      if s.ground_truth_in_rig is not None else None}
            with open(os.environ["EGODRIVER_RECORD"], "w") as f:
                json.dump(record, f)
        plan = Trajectory.empty()
        for i in range(1, 41):
            plan.append(ctx.time_now_us + i * 100_000, Pose.from_xyz_yaw(0.1 * i, 0.0, 0.0, 0.0))
        return DriveResult(trajectory_in_rig=plan)
