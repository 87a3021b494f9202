"""3D Gaussian scenes: the stored parameters, their activations, and the rasterizer-ready form.

Parameters and activations follow the INRIA 3DGS code (and gsplat, nerfstudio): scales are
stored as logs (`scale = exp(log_scale)`), opacities as logits (`opacity = sigmoid(logit)`),
rotations as quaternions w, x, y, z normalised at use, and colour as real spherical-harmonic
coefficients evaluated for the viewing direction, `rgb = max(SH(dir) + 0.5, 0)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.geometry import quaternion_from_rotation_matrix, quaternion_multiply, rotation_matrix_from_quaternion

SH_C0 = 0.28209479177387814  # Y_0^0, the DC basis value used by INRIA 3DGS and gsplat
MAX_SH_DEGREE = 3


def sh_degree_from_num_bases(num_bases: int) -> int:
    """The SH degree whose (degree + 1)^2 bases equal num_bases (1, 4, 9 or 16)."""
    degree = int(round(np.sqrt(num_bases))) - 1
    if degree < 0 or degree > MAX_SH_DEGREE or (degree + 1) ** 2 != num_bases:
        raise ValueError(f"{num_bases} SH coefficients per channel is not (degree + 1)^2 for a degree in 0..3")
    return degree


@dataclass(frozen=True, eq=False)
class GaussianScene:
    """Stored (pre-activation) parameters of N 3D Gaussians, in the INRIA 3DGS convention.

    - means: (N, 3) float32 centres, metres, in the scene's frame (global for a background,
      the actor's box frame for an actor asset).
    - quats_wxyz: (N, 4) float32 rotations, not necessarily unit (normalised at use).
    - log_scales: (N, 3) float32 natural logs of the standard deviations along the rotated axes.
    - opacity_logits: (N,) float32 logits of the peak opacity.
    - sh: (N, K, 3) float32 SH coefficients per colour channel, K = (degree + 1)^2 with degree
      in 0..3; sh[:, 0] is the DC term ("f_dc" in the PLY layout).
    """

    means: np.ndarray
    quats_wxyz: np.ndarray
    log_scales: np.ndarray
    opacity_logits: np.ndarray
    sh: np.ndarray

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expected = {"means": (n, 3), "quats_wxyz": (n, 4), "log_scales": (n, 3), "opacity_logits": (n,)}
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"GaussianScene.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(f"GaussianScene.sh has shape {self.sh.shape}, expected ({n}, K, 3)")
        sh_degree_from_num_bases(self.sh.shape[1])

    @property
    def num_gaussians(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_num_bases(self.sh.shape[1])

    @property
    def scales(self) -> np.ndarray:
        """(N, 3) standard deviations, metres."""
        return np.exp(self.log_scales)

    @property
    def opacities(self) -> np.ndarray:
        """(N,) peak opacities in (0, 1)."""
        return 1.0 / (1.0 + np.exp(-self.opacity_logits))

    @property
    def unit_quats_wxyz(self) -> np.ndarray:
        """(N, 4) normalised rotations."""
        return self.quats_wxyz / np.linalg.norm(self.quats_wxyz, axis=1, keepdims=True)

    @staticmethod
    def empty(sh_degree: int = 0) -> "GaussianScene":
        k = (sh_degree + 1) ** 2
        z = np.zeros
        return GaussianScene(z((0, 3), np.float32), z((0, 4), np.float32), z((0, 3), np.float32),
                             z(0, np.float32), z((0, k, 3), np.float32))

    @staticmethod
    def from_activated(means: np.ndarray, quats_wxyz: np.ndarray, scales: np.ndarray,
                       opacities: np.ndarray, rgb: np.ndarray) -> "GaussianScene":
        """A degree-0 scene from activated values: scales in metres, opacities in (0, 1), rgb in [0, 1]."""
        op = np.clip(np.asarray(opacities, np.float64), 1e-6, 1.0 - 1e-6)
        sh0 = rgb_to_sh0(np.asarray(rgb, np.float64))
        return GaussianScene(
            means=np.ascontiguousarray(means, np.float32),
            quats_wxyz=np.ascontiguousarray(quats_wxyz, np.float32),
            log_scales=np.log(np.maximum(np.asarray(scales, np.float64), 1e-9)).astype(np.float32),
            opacity_logits=np.log(op / (1.0 - op)).astype(np.float32),
            sh=sh0[:, None, :].astype(np.float32),
        )

    def subset(self, index: np.ndarray) -> "GaussianScene":
        """The Gaussians selected by a boolean mask or an index array."""
        return GaussianScene(self.means[index], self.quats_wxyz[index], self.log_scales[index],
                             self.opacity_logits[index], self.sh[index])

    def with_sh_degree(self, sh_degree: int) -> "GaussianScene":
        """The same scene with SH truncated or zero-padded to sh_degree."""
        k = (sh_degree + 1) ** 2
        sh = np.zeros((self.num_gaussians, k, 3), np.float32)
        keep = min(k, self.sh.shape[1])
        sh[:, :keep] = self.sh[:, :keep]
        return GaussianScene(self.means, self.quats_wxyz, self.log_scales, self.opacity_logits, sh)

    def transformed(self, pose_from_to: np.ndarray) -> "GaussianScene":
        """The scene moved by a rigid 4x4 pose: means mapped, rotations composed, SH rotated."""
        rotation = np.asarray(pose_from_to, np.float64)[:3, :3]
        means = self.means.astype(np.float64) @ rotation.T + np.asarray(pose_from_to, np.float64)[:3, 3]
        q_pose = quaternion_from_rotation_matrix(rotation[None])[0]
        quats = quaternion_multiply(q_pose[None], self.unit_quats_wxyz.astype(np.float64))
        return GaussianScene(means.astype(np.float32), quats.astype(np.float32), self.log_scales,
                             self.opacity_logits, rotate_sh(self.sh, rotation))


def concatenate_scenes(scenes: list[GaussianScene] | tuple[GaussianScene, ...]) -> GaussianScene:
    """One scene holding all Gaussians of `scenes`, in order; SH zero-padded to the highest degree."""
    if not scenes:
        return GaussianScene.empty()
    degree = max(s.sh_degree for s in scenes)
    padded = [s if s.sh_degree == degree else s.with_sh_degree(degree) for s in scenes]
    return GaussianScene(
        means=np.concatenate([s.means for s in padded]).astype(np.float32, copy=False),
        quats_wxyz=np.concatenate([s.quats_wxyz for s in padded]).astype(np.float32, copy=False),
        log_scales=np.concatenate([s.log_scales for s in padded]).astype(np.float32, copy=False),
        opacity_logits=np.concatenate([s.opacity_logits for s in padded]).astype(np.float32, copy=False),
        sh=np.concatenate([s.sh for s in padded]).astype(np.float32, copy=False),
    )


def rgb_to_sh0(rgb: np.ndarray) -> np.ndarray:
    """DC coefficients (..., 3) that evaluate to rgb (..., 3) in every direction."""
    return (np.asarray(rgb, np.float64) - 0.5) / SH_C0


def sh_basis(num_bases: int, dirs: np.ndarray) -> np.ndarray:
    """Real SH basis values (..., num_bases) at unit directions (..., 3).

    The constants and the ordering are gsplat's (`_eval_sh_bases_fast`, Sloan 2013), which are
    those of the INRIA 3DGS code, so coefficients from either evaluate to the same colour.
    """
    out = np.empty(dirs.shape[:-1] + (num_bases,), dtype=np.float64)
    out[..., 0] = SH_C0
    if num_bases <= 1:
        return out
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    a = -0.48860251190292
    out[..., 1], out[..., 2], out[..., 3] = a * y, -a * z, a * x
    if num_bases <= 4:
        return out
    z2 = z * z
    b = -1.092548430592079 * z
    a = 0.5462742152960395
    c1, s1 = x * x - y * y, 2 * x * y
    out[..., 6] = 0.9461746957575601 * z2 - 0.3153915652525201
    out[..., 7], out[..., 5] = b * x, b * y
    out[..., 8], out[..., 4] = a * c1, a * s1
    if num_bases <= 9:
        return out
    c = -2.285228997322329 * z2 + 0.4570457994644658
    b = 1.445305721320277 * z
    a = -0.5900435899266435
    c2, s2 = x * c1 - y * s1, x * s1 + y * c1
    out[..., 12] = z * (1.865881662950577 * z2 - 1.119528997770346)
    out[..., 13], out[..., 11] = c * x, c * y
    out[..., 14], out[..., 10] = b * c1, b * s1
    out[..., 15], out[..., 9] = a * c2, a * s2
    return out


def sh_to_rgb(sh: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Colours (N, 3) of SH coefficients (N, K, 3) seen along directions (N, 3) (any length).

    As gsplat's rasterization: directions normalised, SH summed, + 0.5, clamped at 0 (not at 1).
    """
    d = np.asarray(dirs, np.float64)
    d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    basis = sh_basis(sh.shape[1], d)
    return np.maximum(np.einsum("nk,nkc->nc", basis, sh.astype(np.float64)) + 0.5, 0.0)


def rotate_sh(sh: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """SH coefficients (N, K, 3) of functions rotated by a 3x3 rotation: f'(d) = f(R^T d).

    Each band l is rotated by its (2l+1)-square matrix, found by least squares on sampled
    directions (exact: the band's bases span a space closed under rotation).
    """
    k = sh.shape[1]
    if k == 1:
        return sh.copy()
    rotation = np.asarray(rotation, np.float64)
    dirs = np.random.default_rng(0).normal(size=(64, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    basis = sh_basis(k, dirs)  # (64, K)
    basis_rotated = sh_basis(k, dirs @ rotation)  # rows are (R^T d)^T
    out = sh.astype(np.float64).copy()
    for band in range(1, sh_degree_from_num_bases(k) + 1):
        lo, hi = band * band, (band + 1) * (band + 1)
        # basis_rotated[:, band] = basis[:, band] @ m  =>  c' = m @ c
        m, *_ = np.linalg.lstsq(basis[:, lo:hi], basis_rotated[:, lo:hi], rcond=None)
        out[:, lo:hi] = np.einsum("ij,njc->nic", m, sh[:, lo:hi].astype(np.float64))
    return out.astype(np.float32)


@dataclass(frozen=True, eq=False)
class ActivatedGaussians:
    """N Gaussians activated and laid out for the rasterizers: float32, C-contiguous.

    - means: (N, 3) centres, world metres.
    - quats_wxyz: (N, 4) unit rotations; scales: (N, 3) standard deviations, metres.
    - covariances: (N, 6) upper triangle xx, xy, xz, yy, yz, zz of R S S^T R^T, metres^2.
    - opacities: (N,) in (0, 1).
    - sh: (N, K, 3) SH coefficients, K = (sh_degree + 1)^2.
    """

    means: np.ndarray
    quats_wxyz: np.ndarray
    scales: np.ndarray
    covariances: np.ndarray
    opacities: np.ndarray
    sh: np.ndarray

    @property
    def num_gaussians(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_num_bases(self.sh.shape[1])


def covariance_upper(quats_wxyz: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(N, 6) upper triangles of R S S^T R^T from unit quaternions (N, 4) and scales (N, 3)."""
    m = rotation_matrix_from_quaternion(quats_wxyz) * np.asarray(scales, np.float64)[:, None, :]
    cov = np.einsum("nij,nkj->nik", m, m)
    return np.stack([cov[:, 0, 0], cov[:, 0, 1], cov[:, 0, 2], cov[:, 1, 1], cov[:, 1, 2], cov[:, 2, 2]], axis=1)


def activate(scene: GaussianScene) -> ActivatedGaussians:
    """The rasterizer-ready form of a scene (done once per static scene, not per frame)."""
    quats = scene.unit_quats_wxyz.astype(np.float64)
    scales = scene.scales.astype(np.float64)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return ActivatedGaussians(
        means=f32(scene.means),
        quats_wxyz=f32(quats),
        scales=f32(scales),
        covariances=f32(covariance_upper(quats, scales)),
        opacities=f32(scene.opacities),
        sh=f32(scene.sh),
    )


def concatenate_activated(parts: list[ActivatedGaussians]) -> ActivatedGaussians:
    """One ActivatedGaussians of all parts in order; SH zero-padded to the highest degree."""
    k = max(p.sh.shape[1] for p in parts)
    sh = []
    for p in parts:
        if p.sh.shape[1] == k:
            sh.append(p.sh)
        else:
            padded = np.zeros((p.num_gaussians, k, 3), np.float32)
            padded[:, :p.sh.shape[1]] = p.sh
            sh.append(padded)
    return ActivatedGaussians(
        means=np.concatenate([p.means for p in parts]),
        quats_wxyz=np.concatenate([p.quats_wxyz for p in parts]),
        scales=np.concatenate([p.scales for p in parts]),
        covariances=np.concatenate([p.covariances for p in parts]),
        opacities=np.concatenate([p.opacities for p in parts]),
        sh=np.concatenate(sh),
    )
