"""Evaluation and the human-readable report of a reconstruction.

Every number is measured on what splatsim will draw: the fitted scene is exported
(background PLY + actor assets in box frames + sky) and rendered by `render.backends.render_rig`
(the CPU rasterizer, or gsplat on CUDA) with the actors placed at each frame's boxes, exactly as
`GaussianRenderer` places them.

Outputs under the report folder: `metrics.json` (PSNR and SSIM per held-out frame and their
means, the same on a sample of training frames, the fit's settings and timings), `report.md`
and `report.html` (a summary table and the side-by-side images), `heldout/*.png` (ground truth
| render | 4 x absolute error) and `novel/*.png` (the held-out views rendered with the ego moved
0, 1 and 3 m to its left: for a person to judge; with `reference` given, as in the self-check,
their PSNR is measured too).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

import numpy as np

from render.reconstruct.data import FrameSet
from render.reconstruct.fit import FitResult
from render.reconstruct.metrics import psnr, ssim
from sim.atomic import write_bytes_atomic, write_json_atomic

NOVEL_OFFSETS_M = (1.0, 3.0)
LPIPS_NOTE = ("LPIPS not computed: the lpips package downloads its network weights at run time and no "
              "package available here ships them")


def render_fit(result: FitResult, frames: FrameSet, index: np.ndarray, backend: str = "cpu",
               viewmats: np.ndarray | None = None) -> np.ndarray:
    """(len(index), H, W, 3) renders of the exported fit for frames `index` (their own cameras,
    or `viewmats` (len(index), 4, 4)), actors at the frames' boxes, clipped to [0, 1]."""
    from render.assets import ActorPlacement, PackedAssets
    from render.backends import render_rig
    from render.gaussians import activate

    static = activate(result.background)
    packed = PackedAssets.pack(tuple(result.actors)) if result.actors else None
    out = np.zeros((len(index), frames.height, frames.width, 3), np.float32)
    for n, f in enumerate(np.asarray(index)):
        placement = None
        if result.actors:
            placement = ActorPlacement(tuple(result.actors), frames.actor_pose_box_to_world[f],
                                       frames.actor_present[f], packed)
        vm = frames.viewmats[f] if viewmats is None else viewmats[n]
        img = render_rig(static, placement, vm[None], frames.Ks[f][None], frames.width, frames.height,
                         backend=backend, background=result.sky)
        out[n] = np.clip(img.rgb[0], 0.0, 1.0)
    return out


def evaluate(result: FitResult, frames: FrameSet, index: np.ndarray, backend: str = "cpu") -> dict:
    """PSNR and SSIM of the fit against frames `index`: per frame and the means."""
    index = np.asarray(index)
    if len(index) == 0:
        return {"frames": [], "psnr_mean": None, "ssim_mean": None, "count": 0}
    renders = render_fit(result, frames, index, backend)
    rows = []
    for n, f in enumerate(index):
        rows.append({"frame": int(f), "camera": str(frames.camera_names[f]), "t_us": int(frames.t_us[f]),
                     "file": str(frames.filenames[f]), "psnr": psnr(renders[n], frames.images[f]),
                     "ssim": ssim(renders[n], frames.images[f])})
    return {"frames": rows, "psnr_mean": float(np.mean([r["psnr"] for r in rows])),
            "ssim_mean": float(np.mean([r["ssim"] for r in rows])), "count": len(rows), "_renders": renders}


def _png(image: np.ndarray, scale: int) -> bytes:
    import imageio.v3 as iio

    img = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if scale > 1:
        img = img.repeat(scale, axis=0).repeat(scale, axis=1)
    return iio.imwrite("<bytes>", img, extension=".png")


def _gap(height: int) -> np.ndarray:
    return np.ones((height, 2, 3), np.float32)


def write_report(out_dir: str | Path, frames: FrameSet, result: FitResult, backend: str = "cpu",
                 summary: dict | None = None, max_images: int = 12,
                 reference: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 novel_offsets_m: tuple[float, ...] = NOVEL_OFFSETS_M) -> dict:
    """Evaluate the fit on its held-out frames (and a sample of training frames), write the
    report folder (see the module docstring) and return the metrics written to metrics.json.

    summary: extra fields for metrics.json and the summary table (scene, device, timings).
    reference(frame_index, viewmats) -> images: ground-truth renders of frames at other view
    matrices, when known (self-check), to score the novel views.
    """
    out = Path(out_dir)
    test = np.asarray(result.test_index)
    train = np.asarray(result.train_index)
    train_sample = train[np.linspace(0, len(train) - 1, min(len(train), max(len(test), 8))).round().astype(int)] \
        if len(train) else train
    test_eval = evaluate(result, frames, test, backend)
    train_eval = evaluate(result, frames, train_sample, backend)
    scale = max(1, int(np.ceil(320 / max(frames.width, 1))))
    shown = test if len(test) else train_sample
    if len(shown):
        shown = shown[np.linspace(0, len(shown) - 1, min(len(shown), max_images)).round().astype(int)]
    renders = render_fit(result, frames, shown, backend) if len(shown) else np.zeros((0,))
    side_by_side = []
    for n, f in enumerate(shown):
        err = np.clip(4.0 * np.abs(renders[n] - frames.images[f]), 0.0, 1.0)
        h = frames.height
        tile = np.concatenate([frames.images[f], _gap(h), renders[n], _gap(h), err], axis=1)
        name = f"heldout/frame{int(f):05d}_{frames.camera_names[f]}.png"
        write_bytes_atomic(out / name, _png(tile, scale))
        side_by_side.append({"frame": int(f), "camera": str(frames.camera_names[f]), "image": name,
                             "psnr": psnr(renders[n], frames.images[f]), "ssim": ssim(renders[n], frames.images[f])})
    novel = []
    for n, f in enumerate(shown):
        tiles = [renders[n]]
        row = {"frame": int(f), "camera": str(frames.camera_names[f]), "offsets_m": [0.0, *novel_offsets_m]}
        scores = []
        for off in novel_offsets_m:
            vm = frames.subset(np.array([f])).shifted_viewmats(off)
            img = render_fit(result, frames, np.array([f]), backend, viewmats=vm)[0]
            tiles += [_gap(frames.height), img]
            if reference is not None:
                ref = np.clip(reference(np.array([f]), vm)[0], 0.0, 1.0)
                scores.append({"offset_m": off, "psnr": psnr(img, ref), "ssim": ssim(img, ref)})
        name = f"novel/frame{int(f):05d}_{frames.camera_names[f]}.png"
        write_bytes_atomic(out / name, _png(np.concatenate(tiles, axis=1), scale))
        row["image"] = name
        if scores:
            row["scores"] = scores
        novel.append(row)
    strip = lambda e: {k: v for k, v in e.items() if not k.startswith("_")}  # noqa: E731
    metrics = {
        "heldout": strip(test_eval), "train_sample": strip(train_eval), "lpips": None, "lpips_note": LPIPS_NOTE,
        "novel_views": novel, "side_by_side": side_by_side,
        "fit": {"steps": int(len(result.losses)), "seconds": result.seconds, "num_gaussians": result.num_gaussians,
                "background_gaussians": result.background.num_gaussians,
                "actor_gaussians": [a.num_gaussians for a in result.actors], "final_loss":
                    float(result.losses[-1]) if len(result.losses) else None, "resumed_from_step": result.resumed_from,
                "train_frames": int(len(train)), "heldout_frames": int(len(test)), "config": result.config},
        "render_backend": backend, "resolution": [frames.width, frames.height],
    }
    if reference is not None and novel:
        for off in novel_offsets_m:
            vals = [s for r in novel for s in r.get("scores", []) if s["offset_m"] == off]
            metrics.setdefault("novel_view_means", {})[f"{off:g}m"] = {
                "psnr": float(np.mean([v["psnr"] for v in vals])), "ssim": float(np.mean([v["ssim"] for v in vals]))}
    metrics.update(summary or {})
    if metrics.get("threshold_psnr_db") is not None and test_eval["psnr_mean"] is not None:
        metrics["passed"] = bool(test_eval["psnr_mean"] >= metrics["threshold_psnr_db"])
    write_json_atomic(out / "metrics.json", metrics)
    write_bytes_atomic(out / "report.md", _markdown(metrics).encode())
    write_bytes_atomic(out / "report.html", _html(metrics).encode())
    return metrics


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _summary_rows(m: dict) -> list[tuple[str, str]]:
    fit = m["fit"]
    rows = [("held-out PSNR (dB)", _fmt(m["heldout"]["psnr_mean"])), ("held-out SSIM", _fmt(m["heldout"]["ssim_mean"])),
            ("held-out frames", str(m["heldout"]["count"])),
            ("train-sample PSNR (dB)", _fmt(m["train_sample"]["psnr_mean"])),
            ("train-sample SSIM", _fmt(m["train_sample"]["ssim_mean"])), ("LPIPS", "not computed (" + LPIPS_NOTE + ")")]
    for key, val in m.get("novel_view_means", {}).items():
        rows.append((f"novel view {key} PSNR / SSIM vs ground truth", f"{val['psnr']:.3f} / {val['ssim']:.3f}"))
    rows += [("steps", str(fit["steps"])), ("fit time (s)", _fmt(fit["seconds"])),
             ("Gaussians (background + actors)", str(fit["num_gaussians"])),
             ("resolution", "x".join(str(v) for v in m["resolution"])), ("render backend", m["render_backend"])]
    for key in ("scene", "dataroot", "device", "init", "out", "passed", "threshold_psnr_db"):
        if key in m:
            rows.append((key, str(m[key])))
    return rows


def _markdown(m: dict) -> str:
    lines = ["# Reconstruction report", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in _summary_rows(m)]
    lines += ["", "## Held-out frames (ground truth | render | 4 x error)", ""]
    for row in m["side_by_side"]:
        lines += [f"Frame {row['frame']} ({row['camera']}): PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f}", "",
                  f"![frame {row['frame']}]({row['image']})", ""]
    lines += ["## Novel views (ego moved 0, 1, 3 m to its left)", ""]
    for row in m["novel_views"]:
        extra = ""
        if "scores" in row:
            extra = ": " + ", ".join(f"{s['offset_m']:g} m PSNR {s['psnr']:.2f} dB" for s in row["scores"])
        lines += [f"Frame {row['frame']} ({row['camera']}){extra}", "", f"![novel {row['frame']}]({row['image']})", ""]
    return "\n".join(lines) + "\n"


def _html(m: dict) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in _summary_rows(m))
    held = "".join(f"<figure><img src='{e(r['image'])}'><figcaption>frame {r['frame']} ({e(r['camera'])}): "
                   f"PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.3f}</figcaption></figure>" for r in m["side_by_side"])
    novel = "".join(f"<figure><img src='{e(r['image'])}'><figcaption>frame {r['frame']} ({e(r['camera'])}) at "
                    f"0 / 1 / 3 m left</figcaption></figure>" for r in m["novel_views"])
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Reconstruction report</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td{border:1px solid #ccc;"
            "padding:4px 8px}img{image-rendering:pixelated;max-width:100%}</style></head><body>"
            f"<h1>Reconstruction report</h1><table>{rows}</table>"
            f"<h2>Held-out frames (ground truth | render | 4 x error)</h2>{held}"
            f"<h2>Novel views (ego moved 0, 1, 3 m to its left)</h2>{novel}</body></html>\n")
