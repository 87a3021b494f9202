"""Gaussian assets of the actors, each in its own box frame, and their placement at render time.

Box frame: x forward, y left, z up, origin at the box centre (nuScenes' box convention), so
an asset built for a box of length L, width W, height H spans [-L/2, L/2] x [-W/2, W/2] x
[-H/2, H/2]. Shapes are built from flat Gaussians (see `render.primitives`): cars have a
body, a glass cabin with pillars, wheels with hubs, head and tail lights, bumpers and plates;
trucks a cab and a cargo box; buses a window band; pedestrians legs, torso, arms, head and
hair; cyclists a bicycle and a rider; static objects (barriers, cones) their own shapes.

On disk (`save_actor_assets`) all assets of a scene share one PLY in the INRIA layout with an
extra int32 vertex property `actor_index`, plus a JSON sidecar (same stem, `.json`) listing,
per actor index, the instance token, category, kind and box size the asset was built for.
Tools that ignore extra properties still load the PLY (they see every asset at the origin).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numba import njit, prange

from render import primitives as prim
from render.cpu_rasterizer import PARALLEL_LOCK
from render.gaussians import (
    ActivatedGaussians,
    GaussianScene,
    activate,
    concatenate_activated,
    concatenate_scenes,
    rotate_sh,
)
from render.ply import load_ply_with_extras, save_ply
from sim.atomic import write_bytes_atomic
from sim.errors import SceneFileError
from sim.geometry import pose_from_xy_yaw, quaternion_from_rotation_matrix
from sim.types.scenario import ActorKind, ActorTracks

ASSET_FORMAT = "splatsim-actor-assets"
ASSET_FORMAT_VERSION = 1

_PAINTS = np.array([
    [0.75, 0.75, 0.76], [0.08, 0.08, 0.09], [0.93, 0.93, 0.92], [0.55, 0.06, 0.06], [0.10, 0.20, 0.45],
    [0.30, 0.32, 0.35], [0.45, 0.47, 0.50], [0.15, 0.30, 0.20], [0.80, 0.65, 0.20], [0.35, 0.20, 0.12],
])
_CLOTHES = np.array([
    [0.10, 0.12, 0.25], [0.50, 0.10, 0.10], [0.15, 0.15, 0.15], [0.85, 0.85, 0.80], [0.20, 0.40, 0.25],
    [0.60, 0.45, 0.25], [0.25, 0.35, 0.60], [0.70, 0.55, 0.10],
])
_SKIN = np.array([[0.93, 0.76, 0.62], [0.80, 0.60, 0.45], [0.55, 0.38, 0.26], [0.36, 0.24, 0.16]])
GLASS = np.array([0.08, 0.11, 0.14])
TYRE = np.array([0.05, 0.05, 0.05])
HUB = np.array([0.60, 0.60, 0.62])
TRIM = np.array([0.10, 0.10, 0.10])


def _window_band(paint: np.ndarray, pillars_u_m: np.ndarray, pillar_width_m: float, v_glass_m: tuple[float, float]):
    """Colour of a cabin side: glass between v_glass, paint on pillars and outside the band."""
    def color(u, v):
        out = np.broadcast_to(GLASS, (len(u), 3)).copy()
        near_pillar = np.min(np.abs(u[:, None] - pillars_u_m[None]), axis=1) < 0.5 * pillar_width_m
        out[near_pillar | (v < v_glass_m[0]) | (v > v_glass_m[1])] = paint
        return out
    return color


def car_asset(length_m: float, width_m: float, height_m: float, rng: np.random.Generator,
              spacing_m: float = 0.11) -> GaussianScene:
    """A passenger car filling the box: body, raked glass cabin with pillars, wheels, lights,
    bumpers, plates; paint drawn from `rng`."""
    b = prim.GaussianBuilder()
    paint = _PAINTS[rng.integers(len(_PAINTS))] * rng.uniform(0.9, 1.05)
    L, W, H = length_m, width_m, height_m
    wheel_r = float(np.clip(0.2 * H, 0.25, 0.4))
    z0 = -H / 2
    belt = z0 + 0.58 * H
    body_bottom = z0 + 0.45 * wheel_r

    def body_side(u, v):
        return np.where((v < 0.12)[:, None], TRIM, paint)  # a dark bumper band along the bottom

    prim.box(b, (0, 0, 0.5 * (body_bottom + belt)), (L, W, belt - body_bottom), spacing_m,
             {"*": body_side, "+z": paint}, faces="+x-x+y-y+z")
    # cabin: a trapezoid in side view, windscreen raked more than the rear window
    cab_h = H / 2 - belt
    cab_w = W - 0.14
    rear_b, front_b = -0.5 * L + 0.12 * L, 0.5 * L - 0.3 * L
    rear_r, front_r = rear_b + 0.45 * cab_h, front_b - 0.9 * cab_h
    sill = 0.04

    def side_keep(u, v):
        return (u >= (rear_r - rear_b) * v / cab_h) & (u <= (front_b - rear_b) - (front_b - front_r) * v / cab_h)

    def side_color(u, v):
        out = np.broadcast_to(GLASS, (len(u), 3)).copy()
        x = rear_b + u
        pillar = ((x < rear_b + (rear_r - rear_b) * v / cab_h + 0.16)
                  | (x > front_b - (front_b - front_r) * v / cab_h - 0.1))
        pillar |= np.abs(x - 0.5 * (rear_r + front_r)) < 0.06
        out[pillar | (v < sill) | (v > cab_h - 0.06)] = paint
        return out

    for sign in (1.0, -1.0):
        u_axis = np.array([1.0, 0.0, 0.0]) * (1 if sign < 0 else -1)
        origin = np.array([rear_b if sign < 0 else front_b, sign * cab_w / 2, belt])
        if sign < 0:
            prim.rectangle(b, origin, u_axis, (0, 0, 1), front_b - rear_b, cab_h, spacing_m, side_color, keep=side_keep)
        else:  # mirrored: u runs backwards on the left side
            prim.rectangle(b, origin, u_axis, (0, 0, 1), front_b - rear_b, cab_h, spacing_m,
                           lambda u, v: side_color((front_b - rear_b) - u, v),
                           keep=lambda u, v: side_keep((front_b - rear_b) - u, v))
    for (x_b, x_r), face_sign in (((front_b, front_r), 1.0), ((rear_b, rear_r), -1.0)):
        slope = np.array([x_r - x_b, 0.0, cab_h])
        glass_len = float(np.linalg.norm(slope))
        y_axis = np.array([0.0, face_sign, 0.0])
        screen = _window_band(paint, np.array([0.0, cab_w]), 0.14, (0.05, glass_len - 0.06))
        prim.rectangle(b, (x_b, -face_sign * cab_w / 2, belt), y_axis, slope / glass_len, cab_w, glass_len,
                       spacing_m, screen)
    prim.rectangle(b, (rear_r, -cab_w / 2, H / 2), (1, 0, 0), (0, 1, 0), front_r - rear_r, cab_w, spacing_m, paint)
    # wheels with hubs, slightly proud of the body
    for x in (0.5 * L - 0.2 * L, -0.5 * L + 0.2 * L):
        for sign in (1.0, -1.0):
            y = sign * (W / 2 - 0.12)
            prim.cylinder(b, (x, y - 0.11, z0 + wheel_r), (0, 1, 0), wheel_r, 0.24, spacing_m, TYRE)
            prim.disc(b, (x, y + sign * 0.135, z0 + wheel_r), (0, sign, 0), 0.55 * wheel_r, spacing_m, HUB)
    # lights and plates
    lamp_z = belt - 0.12
    for sign in (1.0, -1.0):
        prim.disc(b, (L / 2 + 0.01, sign * (W / 2 - 0.25), lamp_z), (1, 0, 0), 0.1, 0.05, (1.0, 0.97, 0.85))
        prim.disc(b, (-L / 2 - 0.01, sign * (W / 2 - 0.2), lamp_z), (-1, 0, 0), 0.09, 0.05, (0.85, 0.05, 0.04))
    for sign in (1.0, -1.0):
        prim.rectangle(b, (sign * (L / 2 + 0.015), sign * 0.25, body_bottom + 0.14), (0, -sign, 0), (0, 0, 1),
                       0.5, 0.12, 0.04, (0.92, 0.92, 0.88))
    return b.build()


def truck_asset(length_m: float, width_m: float, height_m: float, rng: np.random.Generator,
                spacing_m: float = 0.16, bus: bool = False) -> GaussianScene:
    """A truck (cab + cargo box) or, with bus=True, a bus with a window band."""
    b = prim.GaussianBuilder()
    paint = _PAINTS[rng.integers(len(_PAINTS))]
    L, W, H = length_m, width_m, height_m
    wheel_r = float(np.clip(0.16 * H, 0.4, 0.55))
    z0 = -H / 2
    bottom = z0 + 0.6 * wheel_r
    axles = [L / 2 - 0.18 * L, -L / 2 + 0.22 * L] + ([-L / 2 + 0.22 * L + 2.4 * wheel_r] if L > 8 and not bus else [])
    if bus:
        pillars = np.arange(0.0, L, 1.6)
        side = _window_band(paint, pillars, 0.18, (0.45 * (H - 0.6 * wheel_r), 0.85 * (H - 0.6 * wheel_r)))
        front = _window_band(paint, np.array([0.0, W / 2, W]), 0.14, (0.35 * H, 0.9 * H))
        prim.box(b, (0, 0, 0.5 * (bottom + H / 2)), (L, W, H / 2 - bottom), spacing_m,
                 {"+y": side, "-y": side, "+x": front, "*": paint}, faces="+x-x+y-y+z")
    else:
        cab_len = min(2.2, 0.3 * L)
        cab_h = 0.75 * H
        cargo = np.array([0.9, 0.9, 0.88]) if rng.random() < 0.6 else paint
        screen = _window_band(paint, np.array([0.0, W - 0.1]), 0.14, (0.55 * (cab_h - 0.6 * wheel_r), cab_h - 0.2))
        door = _window_band(paint, np.array([0.0, cab_len]), 0.12, (0.55 * (cab_h - 0.6 * wheel_r), cab_h - 0.2))
        prim.box(b, (L / 2 - cab_len / 2, 0, 0.5 * (bottom + z0 + cab_h)), (cab_len, W - 0.1, z0 + cab_h - bottom),
                 spacing_m, {"+x": screen, "+y": door, "-y": door, "*": paint}, faces="+x+y-y+z")
        cargo_len = L - cab_len - 0.3
        prim.box(b, (-L / 2 + cargo_len / 2, 0, 0.5 * (bottom + H / 2)), (cargo_len, W, H / 2 - bottom),
                 spacing_m, cargo)
        prim.box(b, (0, 0, bottom + 0.15), (L - 0.4, W - 0.5, 0.3), spacing_m, TRIM, faces="+y-y")
    for x in axles:
        for sign in (1.0, -1.0):
            y = sign * (W / 2 - 0.2)
            prim.cylinder(b, (x, y - 0.17, z0 + wheel_r), (0, 1, 0), wheel_r, 0.34, spacing_m, TYRE)
            prim.disc(b, (x, y + sign * 0.18, z0 + wheel_r), (0, sign, 0), 0.5 * wheel_r, spacing_m, HUB)
    for sign in (1.0, -1.0):
        prim.disc(b, (L / 2 + 0.01, sign * (W / 2 - 0.3), bottom + 0.35), (1, 0, 0), 0.13, 0.06, (1.0, 0.97, 0.85))
        prim.disc(b, (-L / 2 - 0.01, sign * (W / 2 - 0.25), bottom + 0.35), (-1, 0, 0), 0.12, 0.06, (0.85, 0.05, 0.04))
    return b.build()


def pedestrian_asset(length_m: float, width_m: float, height_m: float, rng: np.random.Generator,
                     spacing_m: float = 0.045) -> GaussianScene:
    """A standing person facing +x: legs, hips, torso, arms, neck, head, hair."""
    b = prim.GaussianBuilder()
    H = float(np.clip(height_m, 1.0, 2.2))
    s = H / 1.75
    z0 = -height_m / 2
    shirt = _CLOTHES[rng.integers(len(_CLOTHES))]
    trousers = _CLOTHES[rng.integers(len(_CLOTHES))] * 0.8
    skin = _SKIN[rng.integers(len(_SKIN))]
    hair = np.array([0.12, 0.08, 0.05]) * rng.uniform(0.6, 2.5)
    hip_w = min(0.17 * s, 0.45 * width_m)
    stride = rng.uniform(-0.12, 0.12) * s
    for sign, swing in ((1.0, stride), (-1.0, -stride)):
        prim.ellipsoid(b, (swing, sign * hip_w / 2, z0 + 0.43 * s), (0.075 * s, 0.075 * s, 0.42 * s), spacing_m,
                       trousers)
        prim.ellipsoid(b, (swing + 0.05 * s, sign * hip_w / 2, z0 + 0.035 * s), (0.13 * s, 0.055 * s, 0.04 * s),
                       spacing_m, (0.08, 0.07, 0.07))
    prim.ellipsoid(b, (0, 0, z0 + 0.88 * s), (0.12 * s, 0.17 * s, 0.1 * s), spacing_m, trousers)
    prim.ellipsoid(b, (0, 0, z0 + 1.2 * s), (0.13 * s, 0.2 * s, 0.3 * s), spacing_m, shirt)
    for sign, swing in ((1.0, -stride), (-1.0, stride)):
        prim.ellipsoid(b, (0.6 * swing, sign * 0.25 * s, z0 + 1.12 * s), (0.055 * s, 0.055 * s, 0.3 * s), spacing_m,
                       shirt)
        prim.ellipsoid(b, (1.1 * swing, sign * 0.26 * s, z0 + 0.8 * s), (0.04 * s, 0.04 * s, 0.05 * s), spacing_m, skin)
    prim.ellipsoid(b, (0, 0, z0 + 1.52 * s), (0.05 * s, 0.05 * s, 0.06 * s), spacing_m, skin)
    prim.ellipsoid(b, (0.01 * s, 0, z0 + 1.64 * s), (0.1 * s, 0.085 * s, 0.115 * s), spacing_m,
                   lambda up, _a: np.where((up > 0.35)[:, None], hair, skin))
    return b.build()


def cyclist_asset(length_m: float, width_m: float, height_m: float, rng: np.random.Generator,
                  spacing_m: float = 0.04) -> GaussianScene:
    """A bicycle (two wheels, frame, handlebar) with a rider; a bicycle alone when the box is low."""
    b = prim.GaussianBuilder()
    L = float(np.clip(length_m, 1.4, 2.2))
    z0 = -height_m / 2
    wheel_r = 0.33
    frame = _PAINTS[rng.integers(len(_PAINTS))]
    for x in (L / 2 - wheel_r - 0.05, -L / 2 + wheel_r + 0.05):
        prim.cylinder(b, (x, -0.025, z0 + wheel_r), (0, 1, 0), wheel_r, 0.05, spacing_m, TYRE)
    front, rear = L / 2 - wheel_r - 0.05, -L / 2 + wheel_r + 0.05
    seat = np.array([rear + 0.3, 0.0, z0 + 0.95])
    bar = np.array([front - 0.1, 0.0, z0 + 1.0])
    crank = np.array([0.5 * (front + rear) - 0.05, 0.0, z0 + wheel_r])
    for a, c in ((seat, crank), (crank, bar), (seat, bar), (crank, np.array([rear, 0, z0 + wheel_r])),
                 (seat, np.array([rear, 0, z0 + wheel_r])), (bar, np.array([front, 0, z0 + wheel_r]))):
        prim.cylinder(b, a, c - a, 0.025, float(np.linalg.norm(c - a)), 0.03, frame)
    prim.cylinder(b, bar + (0, -0.28, 0.05), (0, 1, 0), 0.02, 0.56, 0.03, TRIM)
    if height_m > 1.3:
        shirt = _CLOTHES[rng.integers(len(_CLOTHES))]
        skin = _SKIN[rng.integers(len(_SKIN))]
        hip = seat + (0, 0, 0.1)
        shoulder = np.array([bar[0] - 0.3, 0.0, z0 + min(height_m, 1.8) - 0.35])
        torso_c = 0.5 * (hip + shoulder)
        tilt = np.arctan2(shoulder[0] - hip[0], shoulder[2] - hip[2])
        rot = np.array([[np.cos(tilt), 0, np.sin(tilt)], [0, 1, 0], [-np.sin(tilt), 0, np.cos(tilt)]])
        prim.ellipsoid(b, torso_c, (0.12, 0.19, 0.5 * np.linalg.norm(shoulder - hip) + 0.05), spacing_m, shirt,
                       rotation=rot)
        prim.ellipsoid(b, shoulder + (0.08, 0, 0.22), (0.1, 0.085, 0.115), spacing_m,
                       lambda up, _a: np.where((up > 0.2)[:, None], np.array([0.9, 0.9, 0.2]), skin))
        for sign in (1.0, -1.0):
            knee = crank + (0.12, sign * 0.12, 0.35)
            for a, c in ((hip + (0, sign * 0.1, 0), knee), (knee, crank + (0, sign * 0.12, 0.05))):
                prim.cylinder(b, a, c - a, 0.06, float(np.linalg.norm(c - a)), spacing_m, (0.12, 0.12, 0.18))
            hand = bar + (0, sign * 0.25, 0.05)
            prim.cylinder(b, shoulder + (0, sign * 0.18, 0), hand - shoulder - (0, sign * 0.18, 0), 0.045,
                          float(np.linalg.norm(hand - shoulder - (0, sign * 0.18, 0))), spacing_m, shirt)
    return b.build()


def static_asset(length_m: float, width_m: float, height_m: float, rng: np.random.Generator,
                 spacing_m: float = 0.05) -> GaussianScene:
    """A traffic cone for small footprints, otherwise a red-and-white striped barrier."""
    b = prim.GaussianBuilder()
    z0 = -height_m / 2
    if max(length_m, width_m) < 0.8:
        r = 0.5 * min(length_m, width_m)
        n = 8
        for i in range(n):
            radius = max(r * (1 - (i + 0.5) / n), 0.02)
            stripe = (0.95, 0.95, 0.95) if i in (4, 5) else (0.95, 0.35, 0.05)
            prim.cylinder(b, (0, 0, z0 + i * height_m / n), (0, 0, 1), radius, height_m / n, spacing_m, stripe)
        prim.box(b, (0, 0, z0 + 0.02), (2 * r + 0.1, 2 * r + 0.1, 0.04), spacing_m, (0.1, 0.1, 0.1), faces="+z")
    else:
        def stripes(u, v):
            return np.where(((u // 0.4) % 2 == 0)[:, None], np.array([0.85, 0.1, 0.08]), np.array([0.95, 0.95, 0.95]))
        prim.box(b, (0, 0, 0), (length_m, width_m, height_m), spacing_m, {"*": stripes, "+z": (0.9, 0.9, 0.9)},
                 faces="+x-x+y-y+z")
    return b.build()


def asset_for_actor(kind: int, category: str, size_wlh_m: np.ndarray, rng: np.random.Generator) -> GaussianScene:
    """The asset that fits an actor of this kind, dataset category and box (width, length, height)."""
    width_m, length_m, height_m = (float(v) for v in size_wlh_m)
    if kind == ActorKind.PEDESTRIAN:
        return pedestrian_asset(length_m, width_m, height_m, rng)
    if kind == ActorKind.CYCLIST:
        return cyclist_asset(length_m, width_m, height_m, rng)
    if kind == ActorKind.STATIC:
        return static_asset(length_m, width_m, height_m, rng)
    if "bus" in category:
        return truck_asset(length_m, width_m, height_m, rng, bus=True)
    if "truck" in category or "trailer" in category or "construction" in category or length_m > 7.0:
        return truck_asset(length_m, width_m, height_m, rng)
    return car_asset(length_m, width_m, height_m, rng)


@dataclass(frozen=True, eq=False)
class ActorAssets:
    """One Gaussian asset per actor, in the actor's box frame. M actors.

    - instance_tokens: (M,) str, matching `ActorTracks.instance_tokens`.
    - category: (M,) str; kind: (M,) int8 ActorKind; size_wlh_m: (M, 3) box the asset fits.
    - assets: tuple of M GaussianScene.
    """

    instance_tokens: np.ndarray
    category: np.ndarray
    kind: np.ndarray
    size_wlh_m: np.ndarray
    assets: tuple[GaussianScene, ...]

    @property
    def num_actors(self) -> int:
        return len(self.instance_tokens)

    @cached_property
    def packed(self) -> "PackedAssets":
        """The assets activated and packed once, for per-frame placement."""
        return PackedAssets.pack(self.assets)


def build_actor_assets(actors: ActorTracks, seed: int = 0) -> ActorAssets:
    """Assets for every actor of a scenario; deterministic for a seed (one stream per actor)."""
    assets = tuple(
        asset_for_actor(int(actors.kind[i]), str(actors.category[i]), actors.size_wlh_m[i],
                        np.random.default_rng([seed, i]))
        for i in range(actors.num_actors))
    return ActorAssets(np.asarray(actors.instance_tokens).copy(), np.asarray(actors.category).copy(),
                       np.asarray(actors.kind, np.int8).copy(), np.asarray(actors.size_wlh_m, np.float64).copy(),
                       assets)


def save_actor_assets(path: str | Path, assets: ActorAssets) -> None:
    """Write all assets to one PLY (extra vertex property `actor_index`) and a JSON sidecar."""
    path = Path(path)
    scene = concatenate_scenes(list(assets.assets)) if assets.assets else GaussianScene.empty()
    index = np.concatenate([np.full(a.num_gaussians, i, np.int32) for i, a in enumerate(assets.assets)] or
                           [np.zeros(0, np.int32)])
    sidecar = {
        "format": ASSET_FORMAT, "version": ASSET_FORMAT_VERSION, "ply": path.name,
        "frame": "box frame: x forward, y left, z up, origin at the box centre, metres",
        "actors": [{"actor_index": i, "instance_token": str(assets.instance_tokens[i]),
                    "category": str(assets.category[i]), "kind": ActorKind(int(assets.kind[i])).name,
                    "size_wlh_m": [float(v) for v in assets.size_wlh_m[i]]} for i in range(assets.num_actors)],
    }
    save_ply(path, scene, {"actor_index": index})
    write_bytes_atomic(path.with_suffix(".json"), json.dumps(sidecar, indent=1).encode())


def load_actor_assets(path: str | Path) -> ActorAssets:
    """Read assets written by `save_actor_assets`."""
    path = Path(path)
    sidecar_path = path.with_suffix(".json")
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SceneFileError(f"{sidecar_path}: cannot read the actor-asset sidecar ({exc})") from exc
    if sidecar.get("format") != ASSET_FORMAT or sidecar.get("version") != ASSET_FORMAT_VERSION:
        raise SceneFileError(f"{sidecar_path}: not a {ASSET_FORMAT} v{ASSET_FORMAT_VERSION} sidecar")
    scene, extras = load_ply_with_extras(path, ("actor_index",))
    index = extras["actor_index"].astype(np.int64)
    records = sidecar["actors"]
    if len(index) and (index.min() < 0 or index.max() >= len(records)):
        raise SceneFileError(f"{path}: vertex property 'actor_index' has values outside 0..{len(records) - 1}")
    try:
        order = np.argsort(index, kind="stable")
        bounds = np.searchsorted(index[order], np.arange(len(records) + 1))
        assets = tuple(scene.subset(order[bounds[i]:bounds[i + 1]]) for i in range(len(records)))
        return ActorAssets(
            instance_tokens=np.array([r["instance_token"] for r in records], dtype=object),
            category=np.array([r["category"] for r in records], dtype=object),
            kind=np.array([ActorKind[r["kind"]] for r in records], np.int8),
            size_wlh_m=np.array([r["size_wlh_m"] for r in records], np.float64).reshape(-1, 3),
            assets=assets,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SceneFileError(f"{sidecar_path}: malformed actor record ({exc!r})") from exc


@dataclass(frozen=True, eq=False)
class PackedAssets:
    """M activated assets laid end to end (box frames): asset i owns rows offsets[i]:offsets[i+1].

    - gaussians: ActivatedGaussians of all assets; offsets: (M + 1,) int64.
    """

    gaussians: ActivatedGaussians
    offsets: np.ndarray

    @staticmethod
    def pack(assets: tuple[GaussianScene, ...]) -> "PackedAssets":
        parts = [activate(a) for a in assets] or [activate(GaussianScene.empty())]
        counts = [a.num_gaussians for a in assets]
        return PackedAssets(concatenate_activated(parts), np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


@dataclass(frozen=True, eq=False)
class ActorPlacement:
    """Actors to splat into a scene at one instant. M actors.

    - assets: tuple of M GaussianScene, each in its actor's box frame.
    - pose_box_to_world: (M, 4, 4) float64 box-frame-to-world poses.
    - visible: (M,) bool; hidden actors are not drawn.
    - packed: the assets already activated and packed (a renderer reuses it every frame);
      None to pack them on use.
    """

    assets: tuple[GaussianScene, ...]
    pose_box_to_world: np.ndarray
    visible: np.ndarray
    packed: PackedAssets | None = None

    @staticmethod
    def none() -> "ActorPlacement":
        return ActorPlacement((), np.zeros((0, 4, 4)), np.zeros(0, bool))


def placement_from_state(assets: ActorAssets, actors: ActorTracks, xy_m: np.ndarray, yaw_rad: np.ndarray,
                         valid: np.ndarray, step_index: int) -> ActorPlacement:
    """Place each actor's asset at a world-state pose (box centre xy, yaw); z from the track's
    z at the nearest valid step (the engine moves actors in the plane only)."""
    num_steps = actors.valid.shape[1]
    k = int(np.clip(step_index, 0, num_steps - 1))
    distance = np.where(actors.valid, np.abs(np.arange(num_steps) - k)[None, :], num_steps + 1)
    nearest = np.argmin(distance, axis=1)
    z = actors.z[np.arange(actors.num_actors), nearest]
    poses = pose_from_xy_yaw(np.asarray(xy_m)[:, 0], np.asarray(xy_m)[:, 1], yaw_rad, z)
    return ActorPlacement(assets.assets, poses, np.asarray(valid, bool) & actors.valid.any(axis=1), assets.packed)


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _transform_ranges(src_means, src_quats, src_cov, src_scales, src_opacities, src_sh, starts, counts, dst_offsets,
                      poses, pose_quats, out_means, out_quats, out_cov, out_scales, out_opacities, out_sh):
    """Rigidly move each chosen asset's Gaussians (rows starts[j]:starts[j]+counts[j]) by poses[j]."""
    for j in prange(len(starts)):
        r00, r01, r02 = poses[j, 0, 0], poses[j, 0, 1], poses[j, 0, 2]
        r10, r11, r12 = poses[j, 1, 0], poses[j, 1, 1], poses[j, 1, 2]
        r20, r21, r22 = poses[j, 2, 0], poses[j, 2, 1], poses[j, 2, 2]
        t0, t1, t2 = poses[j, 0, 3], poses[j, 1, 3], poses[j, 2, 3]
        qw, qx, qy, qz = pose_quats[j, 0], pose_quats[j, 1], pose_quats[j, 2], pose_quats[j, 3]
        for k in range(counts[j]):
            s = starts[j] + k
            d = dst_offsets[j] + k
            out_scales[d, 0], out_scales[d, 1], out_scales[d, 2] = src_scales[s, 0], src_scales[s, 1], src_scales[s, 2]
            out_opacities[d] = src_opacities[s]
            out_sh[d] = src_sh[s]
            mx, my, mz = src_means[s, 0], src_means[s, 1], src_means[s, 2]
            out_means[d, 0] = r00 * mx + r01 * my + r02 * mz + t0
            out_means[d, 1] = r10 * mx + r11 * my + r12 * mz + t1
            out_means[d, 2] = r20 * mx + r21 * my + r22 * mz + t2
            bw, bx, by, bz = src_quats[s, 0], src_quats[s, 1], src_quats[s, 2], src_quats[s, 3]
            out_quats[d, 0] = qw * bw - qx * bx - qy * by - qz * bz
            out_quats[d, 1] = qw * bx + qx * bw + qy * bz - qz * by
            out_quats[d, 2] = qw * by - qx * bz + qy * bw + qz * bx
            out_quats[d, 3] = qw * bz + qx * by - qy * bx + qz * bw
            # R Sigma R^T with Sigma = [[a, b, c], [b, e, f], [c, f, i]]
            a, b, c = src_cov[s, 0], src_cov[s, 1], src_cov[s, 2]
            e, f, i = src_cov[s, 3], src_cov[s, 4], src_cov[s, 5]
            m00, m01, m02 = r00 * a + r01 * b + r02 * c, r00 * b + r01 * e + r02 * f, r00 * c + r01 * f + r02 * i
            m10, m11, m12 = r10 * a + r11 * b + r12 * c, r10 * b + r11 * e + r12 * f, r10 * c + r11 * f + r12 * i
            m20, m21, m22 = r20 * a + r21 * b + r22 * c, r20 * b + r21 * e + r22 * f, r20 * c + r21 * f + r22 * i
            out_cov[d, 0] = m00 * r00 + m01 * r01 + m02 * r02
            out_cov[d, 1] = m00 * r10 + m01 * r11 + m02 * r12
            out_cov[d, 2] = m00 * r20 + m01 * r21 + m02 * r22
            out_cov[d, 3] = m10 * r10 + m11 * r11 + m12 * r12
            out_cov[d, 4] = m10 * r20 + m11 * r21 + m12 * r22
            out_cov[d, 5] = m20 * r20 + m21 * r21 + m22 * r22


def place_actors(placement: ActorPlacement) -> ActivatedGaussians | None:
    """The visible actors' Gaussians in world coordinates, activated; None when none is visible.

    Means are rotated and translated, rotations composed with the actor's, covariances
    rotated, and view-dependent SH bands (degree >= 1) rotated with the actor.
    """
    packed = placement.packed if placement.packed is not None else PackedAssets.pack(placement.assets)
    counts_all = np.diff(packed.offsets)
    chosen = np.flatnonzero(np.asarray(placement.visible, bool) & (counts_all > 0))
    if len(chosen) == 0:
        return None
    src = packed.gaussians
    starts = packed.offsets[chosen]
    counts = counts_all[chosen]
    dst = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(dst[-1])
    poses = np.ascontiguousarray(placement.pose_box_to_world[chosen], np.float64)
    pose_quats = quaternion_from_rotation_matrix(poses[:, :3, :3])
    means = np.empty((n, 3), np.float32)
    quats = np.empty((n, 4), np.float32)
    cov = np.empty((n, 6), np.float32)
    scales = np.empty((n, 3), np.float32)
    opacities = np.empty(n, np.float32)
    sh = np.empty((n,) + src.sh.shape[1:], np.float32)
    with PARALLEL_LOCK:
        _transform_ranges(src.means, src.quats_wxyz, src.covariances, src.scales, src.opacities, src.sh, starts, counts,
                          dst, poses, pose_quats, means, quats, cov, scales, opacities, sh)
    if sh.shape[1] > 1:
        for j in range(len(chosen)):
            sh[dst[j]:dst[j + 1]] = rotate_sh(sh[dst[j]:dst[j + 1]], poses[j, :3, :3])
    return ActivatedGaussians(means=means, quats_wxyz=quats, scales=scales, covariances=cov, opacities=opacities, sh=sh)
