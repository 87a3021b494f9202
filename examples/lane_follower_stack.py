"""An example driving stack: follows the route in its own process, over gRPC.

It connects to a splatsim server (`splatsim serve ...`), reads the ego status, the route
waypoints and the front camera image at every step, and drives the scenario to completion with
a pure-pursuit-like plan: aim points along the route at a speed that rises to a cruise speed
and falls so as to stop at the route's end. It logs the mean brightness of the front camera to
show that the images arrive.

    # terminal 1
    splatsim serve --port 50051 --dataroot out/demo/data --version v1.0-mini
    # terminal 2
    python examples/lane_follower_stack.py --target 127.0.0.1:50051 --scenario scene-demo-0000

The same planner can also be *served* as a DrivingPolicy, so that splatsim calls it:

    python examples/lane_follower_stack.py --serve-policy --port 50052
    splatsim run --policy grpc://127.0.0.1:50052 --dataroot ... --scene ... --out out/run

Everything it needs from splatsim is the client SDK (`policies_api`); it reads only what
travels over the wire (no privileged ground truth).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies_api.convert import trajectory_from_poses  # noqa: E402

log = logging.getLogger("lane_follower_stack")

PLAN_DT_S = 0.5  # 8 poses at 0.5 s .. 4.0 s
PLAN_POSES = 8
SIM_DT_S = 0.1


class LaneFollower:
    """Route following from what travels over the wire: ego speed, route waypoints, images.

    - cruise_speed_mps: speed on open road; max_accel_mps2 / stop_decel_mps2: how it speeds up
      and how it plans to stop at the route's end.
    Deterministic: the same observations give the same plans in any process.
    """

    name = "lane-follower"

    def __init__(self, cruise_speed_mps: float = 10.0, max_accel_mps2: float = 1.5, stop_decel_mps2: float = 2.0,
                 camera: str = "CAM_FRONT", log_every: int = 10):
        self.cruise_speed_mps = cruise_speed_mps
        self.max_accel_mps2 = max_accel_mps2
        self.stop_decel_mps2 = stop_decel_mps2
        self.camera = camera
        self.log_every = log_every
        self.brightness: list[float] = []
        self.steps = 0

    def reset(self, scenario=None) -> None:
        self.brightness.clear()
        self.steps = 0

    def start_episode(self, info: dict) -> None:  # as a served policy
        self.reset()
        log.info("episode %s on %s", info.get("episode_id"), info.get("scenario_name"))

    def end_episode(self, metrics: dict | None) -> None:  # as a served policy
        log.info("episode ended: %s", json.dumps(metrics, sort_keys=True) if metrics else "no metrics")

    def _look(self, observation) -> None:
        images = observation.images
        if images is None:
            return
        names = [str(n) for n in images.names]
        c = names.index(self.camera) if self.camera in names else 0
        value = float(images.rgb[c].mean())  # the image path works: pixels arrive and are read
        self.brightness.append(value)
        if self.steps % self.log_every == 0:
            log.info("t=%.1f s %s mean brightness %.1f", observation.t_us * 1e-6, names[c], value)

    def plan(self, observation):
        self._look(observation)
        self.steps += 1
        route = np.asarray(observation.route_xy_in_ego, dtype=np.float64)
        v = max(float(observation.ego.speed_mps), 0.0)
        if len(route) < 2:
            return trajectory_from_poses(np.zeros((PLAN_POSES, 3)), PLAN_DT_S)  # no route: stand still
        seg = np.diff(route, axis=0)
        s_route = np.concatenate([[0.0], np.cumsum(np.linalg.norm(seg, axis=1))])
        remaining = s_route[-1]
        # Integrate a speed profile: accelerate to cruise, brake to stop at the route's end.
        s, out_s = 0.0, []
        for k in range(int(round(PLAN_POSES * PLAN_DT_S / SIM_DT_S))):
            v_stop = np.sqrt(max(2.0 * self.stop_decel_mps2 * (remaining - s - 1.0), 0.0))
            v_target = min(self.cruise_speed_mps, v_stop)
            a = np.clip((v_target - v) / SIM_DT_S, -2.0 * self.stop_decel_mps2, self.max_accel_mps2)
            v_next = max(v + a * SIM_DT_S, 0.0)
            s += 0.5 * (v + v_next) * SIM_DT_S
            v = v_next
            if (k + 1) % int(round(PLAN_DT_S / SIM_DT_S)) == 0:
                out_s.append(min(s, remaining))
        out_s = np.array(out_s)
        x = np.interp(out_s, s_route, route[:, 0])
        y = np.interp(out_s, s_route, route[:, 1])
        i = np.clip(np.searchsorted(s_route, out_s, side="right") - 1, 0, len(seg) - 1)
        yaw = np.arctan2(seg[i, 1], seg[i, 0])
        return trajectory_from_poses(np.stack([x, y, yaw], -1), PLAN_DT_S)


def drive(target: str, scenario: str, cameras: list[str], width: int, height: int, encoding: str = "raw",
          reactive: bool = False, max_steps: int | None = None, timeout_s: float = 60.0) -> dict:
    """Drive one episode on a splatsim server; the episode's metrics (plus the stack's own log)."""
    from policies_api.client import RemoteSimulator

    stack = LaneFollower(camera=cameras[0] if cameras else "CAM_FRONT")
    with RemoteSimulator(target, timeout_s=timeout_s) as sim:
        obs = sim.reset(scenario, cameras=cameras, width=width, height=height, encoding=encoding, reactive=reactive,
                        max_steps=max_steps, policy_name=stack.name)
        stack.reset()
        while True:
            result = sim.step(stack.plan(obs))
            for kind, actor, message in result.events:
                log.info("event %s %s %s", kind, actor, message)
            obs = result.observation
            if result.done:
                metrics = dict(result.episode_metrics)
                break
    brightness = stack.brightness
    metrics["stack"] = {"frames_seen": len(brightness),
                        "mean_front_brightness": float(np.mean(brightness)) if brightness else None}
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:50051", help="splatsim server: HOST:PORT or unix:PATH")
    parser.add_argument("--scenario", default="scene-demo-0000", help="scenario name (see ListScenarios)")
    parser.add_argument("--camera", action="append", default=None,
                        help="camera to receive (repeatable; default CAM_FRONT; 'none' for no images)")
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=270)
    parser.add_argument("--encoding", default="raw", choices=["raw", "jpeg", "png"])
    parser.add_argument("--replay", action="store_true", help="actors replay the log instead of reacting (IDM)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    parser.add_argument("--serve-policy", action="store_true", help="serve the planner as a DrivingPolicy instead")
    parser.add_argument("--port", type=int, default=50052, help="with --serve-policy: TCP port (0: any)")
    parser.add_argument("--unix", default=None, help="with --serve-policy: Unix socket path")
    parser.add_argument("--auth-token-file", default=None, help="with --serve-policy: require this file's token "
                        "(splatsim sends SPLATSIM_POLICY_TOKEN); as a client: SPLATSIM_TOKEN is sent")
    parser.add_argument("--tls-cert", default=None, help="with --serve-policy: TLS certificate (PEM)")
    parser.add_argument("--tls-key", default=None, help="with --serve-policy: TLS private key (PEM)")
    parser.add_argument("--tls-client-ca", default=None, help="with --serve-policy: mutual TLS client CA (PEM)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    if args.serve_policy:
        from policies_api.policy_server import serve_policy
        from policies_api.security import read_token_file, server_tls
        from policies_api.server import serve_until_signal

        token = read_token_file(args.auth_token_file) if args.auth_token_file else None
        server = serve_policy(LaneFollower(), port=args.port if not args.unix else None, unix_socket=args.unix,
                              token=token, tls=server_tls(args.tls_cert, args.tls_key, args.tls_client_ca))
        print(server.target, flush=True)  # the address, for whoever started us
        serve_until_signal(server)
        return 0

    cameras = [] if args.camera == ["none"] else (args.camera or ["CAM_FRONT"])
    metrics = drive(args.target, args.scenario, cameras, args.width, args.height, args.encoding, not args.replay,
                    args.max_steps)
    text = json.dumps(metrics, indent=2, sort_keys=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
