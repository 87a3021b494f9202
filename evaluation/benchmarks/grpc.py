"""The round trip of one closed-loop step over gRPC, TCP vs Unix socket.

What is measured (medians and p99 over `steps` Step calls after `warmup`):
- the client's `RemoteSimulator.step(action)`: building the request, the call, the server's
  engine step + checks + observation, encoding the reply, and decoding it back to numpy on
  the client (images included). The server runs in its own process, as a driving stack's
  simulator would.
- two cases: no images, and `cameras` raw RGB images of width x height (default 6 x 480x270).
  Rendering is excluded from the round trip: one frame is rendered by the real Gaussian
  renderer (its time is reported separately under "render"), and the server's session
  renderer replays that frame at every step, so the numbers are transport + engine + encoding.
- baselines in the same run, without gRPC: the engine alone (step + checks + observation),
  the server's session step (engine + reply message), and the session step plus serialising,
  parsing and decoding the reply (everything but the transport).

The scenario is a straight road with `actors` vehicles (non-reactive replay) and the six
nuScenes cameras; the action is an 8-pose constant-velocity trajectory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evaluation.benchmarks.common import latency_stats_ms, stop_process

TARGET_NO_IMAGES_P50_MS = 1.0
TARGET_IMAGES_P50_MS = 5.0


def bench_scenario(num_steps: int, actors: int = 20):
    """A straight road long enough for num_steps at 5 m/s, `actors` vehicles on the other
    lanes, and the six nuScenes cameras."""
    from render.rig import nuscenes_default_rig
    from scenarios.synthetic import ActorSpec, straight_road_scenario

    rng = np.random.default_rng(0)
    length = 60.0 + 5.0 * num_steps * 0.1 + 40.0
    specs = tuple(ActorSpec(x_m=float(x), lane=int(lane), speed_mps=float(v))
                  for x, lane, v in zip(rng.uniform(0, length, actors), rng.choice([1, -1, -2], actors),
                                        rng.uniform(0, 8, actors)))
    sc = straight_road_scenario(num_steps=num_steps, ego_speed_mps=5.0, actors=specs, road_length_m=length,
                                name="bench-straight")
    rig = nuscenes_default_rig()
    return dataclasses.replace(sc, cameras=dataclasses.replace(rig, names=rig.names.astype(str)))


class FrameCacheRenderer:
    """Replays one pre-rendered CameraImages at every step (rendering excluded from timings)."""

    def __init__(self, images):
        self.images = images

    def render(self, scenario, state, before_camera=None):
        for i in range(len(self.images.names) if before_camera is not None else 0):
            before_camera(i)
        return self.images


def _frames_path(directory: Path) -> Path:
    return directory / "frame.npz"


def _save_frame(path: Path, images) -> None:
    np.savez(path, names=np.asarray(images.names, dtype=str), rgb=images.rgb, depth_m=images.depth_m,
             alpha=images.alpha, intrinsics=images.intrinsics, pose_camera_to_ego=images.pose_camera_to_ego)


def _load_frame(path: Path):
    from sim.types.observation import CameraImages

    with np.load(path) as z:
        return CameraImages(z["names"].astype(object), z["rgb"], z["depth_m"], z["alpha"], z["intrinsics"],
                            z["pose_camera_to_ego"])


def render_frame(scenario, cameras: int, width: int, height: int, backend: str) -> tuple[object, dict]:
    """One frame of the first `cameras` cameras from the real renderer (or a noise frame when
    there is none), and how long it took."""
    from sim.engine import initial_state, prepare
    from sim.types.observation import CameraImages

    names = [str(n) for n in scenario.cameras.names[:cameras]]
    state = initial_state(prepare(scenario))
    try:
        from policies_api.renderer_factory import gaussian_renderer_factory

        factory = gaussian_renderer_factory(backend)
    except Exception:  # noqa: BLE001 - the bench still measures transport without a renderer
        factory = None
    if factory is None:
        rig = scenario.cameras.scaled(width, height).select(names)
        rgb = np.random.default_rng(0).integers(0, 256, (len(names), height, width, 3), dtype=np.uint8)
        z = np.zeros((len(names), height, width), np.float32)
        return CameraImages(rig.names, rgb, z, z, rig.intrinsics, rig.pose_camera_to_ego), {"renderer": "none (noise)"}
    t0 = time.perf_counter()
    renderer = factory(scenario, names, width, height)
    t1 = time.perf_counter()
    renderer.render(scenario, state)  # first frame (JIT warm-up)
    t2 = time.perf_counter()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        images = renderer.render(scenario, state)
        times.append(time.perf_counter() - t)
    return images, {"renderer": f"GaussianRenderer ({getattr(renderer, 'backend', backend)})",
                    "build_s": t1 - t0, "first_frame_ms": (t2 - t1) * 1e3,
                    "frame_ms": float(np.median(times)) * 1e3, "cameras": len(names), "width": width, "height": height}


# ---- the server process -------------------------------------------------------------------------


def _serve_main(scenario_file: str, frame_file: str, port: int, unix: str) -> None:
    from policies_api.catalog import ScenarioCatalog
    from policies_api.server import ServerConfig, SimulatorServer, serve_until_signal
    from scenarios.scenario_file import load_scenario_file

    frame = _load_frame(Path(frame_file))
    catalog = ScenarioCatalog(scenarios=[load_scenario_file(scenario_file)])
    config = ServerConfig(port=port, unix_socket=unix, max_sessions=4, idle_timeout_s=600.0, max_workers=4)
    server = SimulatorServer(catalog, config, lambda *args: FrameCacheRenderer(frame)).start()
    print(json.dumps({"tcp": server.tcp_target, "unix": server.unix_target}), flush=True)
    serve_until_signal(server, 1.0)


# ---- the measurements ---------------------------------------------------------------------------


def straight_plan():
    """The plan every remote-step benchmark sends: 8 poses 0.5 s apart, 5 m/s straight ahead."""
    from sim.policies.builtin import PLAN_TIMES_S
    from sim.types.state import TrajectoryAction

    t = PLAN_TIMES_S[4::5]  # 8 poses at 0.5 s .. 4.0 s
    return TrajectoryAction(np.stack([5.0 * t, np.zeros_like(t)], -1), np.zeros_like(t), t.copy())


def _time_remote(target: str, scenario_name: str, cameras: list[str], width: int, height: int, steps: int,
                 warmup: int) -> dict:
    from policies_api.client import RemoteSimulator

    action = straight_plan()
    samples, engine_us, encode_us = [], [], []
    with RemoteSimulator(target, timeout_s=60.0) as sim:
        sim.reset(scenario_name, cameras=cameras, width=width, height=height, max_steps=None,
                  continue_after_route_end=True)
        for i in range(warmup + steps):
            t0 = time.perf_counter_ns()
            result = sim.step(action)
            dt = time.perf_counter_ns() - t0
            if i >= warmup:
                samples.append(dt)
                engine_us.append(result.timing_us["engine"])
                encode_us.append(result.timing_us["encode"])
            if result.done:
                sim.reset()
    out = latency_stats_ms(samples)
    out["server_engine_p50_ms"] = float(np.median(engine_us)) / 1e3
    out["server_encode_p50_ms"] = float(np.median(encode_us)) / 1e3
    return out


def _time_in_process(scenario, frame, cameras: list[str], width: int, height: int, steps: int, warmup: int) -> dict:
    """The same step without gRPC: engine only, session step, session step + (de)serialisation."""
    from policies_api.client import step_result_from_bytes
    from policies_api.session import Session
    from policies_api.session_options import SessionOptions
    from sim.engine import EngineConfig, evaluate, initial_state, observe, prepare, step

    action = straight_plan()
    config = EngineConfig(stop_at_route_end=False)
    ctx = prepare(scenario, config)
    results = {}

    engine = []
    state, route_s, hit = initial_state(ctx), ctx.route_start_s_m, np.zeros(scenario.actors.num_actors, bool)
    for i in range(warmup + steps):
        if state.step_index >= ctx.last_step:
            state, route_s = initial_state(ctx), ctx.route_start_s_m
        t0 = time.perf_counter_ns()
        state = step(ctx, state, action)
        checks = evaluate(ctx, state, route_s, hit)
        route_s = checks.route_s_m
        hit |= checks.contacts
        observe(ctx, state, route_s)
        if i >= warmup:
            engine.append(time.perf_counter_ns() - t0)
    results["engine"] = latency_stats_ms(engine)

    options = SessionOptions(scenario=scenario.name, camera_names=tuple(cameras), width=width, height=height,
                             engine=config)
    for name, roundtrip in (("session", False), ("session_serialize_decode", True)):
        session = Session("bench", options, ctx, FrameCacheRenderer(frame) if cameras else None)
        session.reset()
        samples = []
        for i in range(warmup + steps):
            t0 = time.perf_counter_ns()
            msg = session.step(action)
            if roundtrip:
                step_result_from_bytes(msg.serialize())
            dt = time.perf_counter_ns() - t0
            if i >= warmup:
                samples.append(dt)
            if msg.done:
                session.reset()
        results[name] = latency_stats_ms(samples)
    return results


def bench_grpc(steps: int = 300, warmup: int = 30, cameras: int = 6, width: int = 480, height: int = 270,
               transports: tuple[str, ...] = ("tcp", "unix"), actors: int = 20, backend: str = "auto") -> dict:
    """Run the benchmark; the JSON-ready report (see the module docstring)."""
    from evaluation.machine import machine_info
    from scenarios.scenario_file import save_scenario

    scenario = bench_scenario(num_steps=warmup + steps + 10, actors=actors)
    frame, render_info = render_frame(scenario, cameras, width, height, backend)
    camera_names = [str(n) for n in frame.names]
    report = {"benchmark": "grpc_step_round_trip", "machine": machine_info(),
              "config": {"steps": steps, "warmup": warmup, "cameras": len(camera_names), "width": width,
                         "height": height, "encoding": "raw", "actors": actors, "scenario_steps": scenario.num_steps,
                         "transports": list(transports)},
              "render": render_info, "results": {}}
    cases = {"no_images": [], f"images_{len(camera_names)}x{width}x{height}": camera_names}
    report["results"]["in_process"] = {
        case: _time_in_process(scenario, frame, names, width, height, steps, warmup) for case, names in cases.items()}
    with tempfile.TemporaryDirectory(prefix="ssim-bench-") as tmp:
        tmp = Path(tmp)
        save_scenario(scenario, tmp / "bench.scenario.npz")
        _save_frame(_frames_path(tmp), frame)
        repo = Path(__file__).resolve().parents[2]
        env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen([sys.executable, "-m", "evaluation.benchmarks.grpc", str(tmp / "bench.scenario.npz"),
                                 str(_frames_path(tmp)), str(tmp / "s.sock")],
                                cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the bench server did not start: {proc.stderr.read()[-2000:]}")
            targets = json.loads(line)
            for transport in transports:
                report["results"][transport] = {
                    case: _time_remote(targets[transport], scenario.name, names, width, height, steps, warmup)
                    for case, names in cases.items()}
        finally:
            stop_process(proc)
    images_case = list(cases)[1]
    report["targets"] = {"no_images_p50_ms": TARGET_NO_IMAGES_P50_MS, "images_p50_ms": TARGET_IMAGES_P50_MS}
    report["meets_targets"] = {
        t: {"no_images": report["results"][t]["no_images"]["p50_ms"] <= TARGET_NO_IMAGES_P50_MS,
            "images": report["results"][t][images_case]["p50_ms"] <= TARGET_IMAGES_P50_MS} for t in transports}
    return report


if __name__ == "__main__":  # the server process of `bench_grpc`
    _serve_main(sys.argv[1], sys.argv[2], 0, sys.argv[3])
