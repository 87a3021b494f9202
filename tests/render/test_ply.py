"""PLY in the INRIA 3DGS layout: bit-exact round trip, reference files, malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from render.gaussians import SH_C0, GaussianScene, concatenate_scenes, sh_to_rgb
from render.ply import load_ply, load_ply_with_extras, save_ply
from sim.errors import SceneFileError


def random_scene(n: int, degree: int, seed: int = 0) -> GaussianScene:
    rng = np.random.default_rng(seed)
    k = (degree + 1) ** 2
    return GaussianScene(
        means=rng.normal(0, 10, (n, 3)).astype(np.float32),
        quats_wxyz=rng.normal(size=(n, 4)).astype(np.float32),
        log_scales=rng.normal(-2, 1, (n, 3)).astype(np.float32),
        opacity_logits=rng.normal(0, 2, n).astype(np.float32),
        sh=rng.normal(0, 0.5, (n, k, 3)).astype(np.float32),
    )


def inria_header(n: int, num_rest: int, extra: str = "") -> bytes:
    names = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(num_rest)]
             + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"] + [f"property float {p}" for p in names]
    return ("\n".join(lines) + "\n" + extra + "end_header\n").encode()


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_bit_exact(tmp_path: Path, degree: int) -> None:
    scene = random_scene(257, degree, seed=degree)
    path = tmp_path / "scene.ply"
    save_ply(path, scene)
    back = load_ply(path)
    for name in ("means", "quats_wxyz", "log_scales", "opacity_logits", "sh"):
        a, b = getattr(scene, name), getattr(back, name)
        assert a.dtype == b.dtype == np.float32
        assert a.shape == b.shape and a.tobytes() == b.tobytes(), name
    save_ply(tmp_path / "again.ply", back)
    assert (tmp_path / "again.ply").read_bytes() == path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.ply", "scene.ply"]  # no temporary left behind


@pytest.mark.parametrize("degree", [1, 3])
def test_reference_layout_loads_with_inria_activations(tmp_path: Path, degree: int) -> None:
    """A file written by hand in the original code's property order and channel-major f_rest."""
    n, k = 5, (degree + 1) ** 2
    rng = np.random.default_rng(7)
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    f_dc = rng.normal(size=(n, 3)).astype(np.float32)
    # INRIA: features_rest is (N, 3, K-1) flattened, i.e. all R coefficients, then G, then B
    f_rest_by_channel = rng.normal(size=(n, 3, k - 1)).astype(np.float32)
    opacity_logit = np.array([-2.0, 0.0, 1.0, 3.0, -0.5], np.float32)
    log_scale = np.log(rng.uniform(0.01, 1.0, (n, 3))).astype(np.float32)
    rot = rng.normal(size=(n, 4)).astype(np.float32)
    names = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
             + [f"f_rest_{i}" for i in range(3 * (k - 1))] + ["opacity", "scale_0", "scale_1", "scale_2",
                                                           "rot_0", "rot_1", "rot_2", "rot_3"])
    data = np.zeros(n, dtype=[(name, "<f4") for name in names])
    for i, a in enumerate("xyz"):
        data[a] = xyz[:, i]
    for c in range(3):
        data[f"f_dc_{c}"] = f_dc[:, c]
    flat = f_rest_by_channel.reshape(n, -1)
    for i in range(flat.shape[1]):
        data[f"f_rest_{i}"] = flat[:, i]
    data["opacity"] = opacity_logit
    for i in range(3):
        data[f"scale_{i}"] = log_scale[:, i]
    for i in range(4):
        data[f"rot_{i}"] = rot[:, i]
    path = tmp_path / "inria.ply"
    path.write_bytes(inria_header(n, 3 * (k - 1)) + data.tobytes())

    scene = load_ply(path)
    assert scene.sh_degree == degree
    np.testing.assert_array_equal(scene.means, xyz)
    np.testing.assert_array_equal(scene.sh[:, 0], f_dc)
    np.testing.assert_array_equal(scene.sh[:, 1:], np.transpose(f_rest_by_channel, (0, 2, 1)))
    np.testing.assert_allclose(scene.opacities, 1 / (1 + np.exp(-opacity_logit)), rtol=1e-6)
    np.testing.assert_allclose(scene.scales, np.exp(log_scale), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(scene.unit_quats_wxyz, axis=1), 1.0, rtol=1e-6)
    # the colour of the DC term alone is C0 * f_dc + 0.5, clamped at 0
    dc_only = scene.with_sh_degree(0)
    rgb = sh_to_rgb(dc_only.sh, np.tile([0.0, 0.0, 1.0], (n, 1)))
    np.testing.assert_allclose(rgb, np.maximum(SH_C0 * f_dc + 0.5, 0.0), rtol=1e-6, atol=1e-7)


def test_extra_properties_are_ignored_or_returned_and_order_does_not_matter(tmp_path: Path) -> None:
    scene = random_scene(10, 1)
    path = tmp_path / "extra.ply"
    save_ply(path, scene, {"actor_index": np.arange(10, dtype=np.int32), "semantic": np.ones(10, np.uint8)})
    back, extras = load_ply_with_extras(path, ["actor_index"])
    assert back.means.tobytes() == scene.means.tobytes()
    np.testing.assert_array_equal(extras["actor_index"], np.arange(10))
    # same content with the properties in reverse order (another writer) and a comment line
    raw = path.read_bytes()
    header, _, _ = raw.partition(b"end_header\n")
    data = np.frombuffer(raw[len(header) + len(b"end_header\n"):], dtype=np.dtype(
        [(line.split()[2], {"float": "<f4", "int": "<i4", "uchar": "u1"}[line.split()[1]])
         for line in header.decode().splitlines() if line.startswith("property")]))
    reordered = np.zeros(len(data), dtype=[(name, data.dtype[name]) for name in reversed(data.dtype.names)])
    for name in data.dtype.names:
        reordered[name] = data[name]
    types = {np.dtype("<f4"): "float", np.dtype("<i4"): "int", np.dtype("u1"): "uchar"}
    lines = ["ply", "format binary_little_endian 1.0", "comment written by another tool", f"element vertex {len(data)}"]
    lines += [f"property {types[reordered.dtype[name]]} {name}" for name in reordered.dtype.names]
    (tmp_path / "reordered.ply").write_bytes(("\n".join(lines) + "\nend_header\n").encode() + reordered.tobytes())
    again = load_ply(tmp_path / "reordered.ply")
    assert again.sh.tobytes() == scene.sh.tobytes() and again.quats_wxyz.tobytes() == scene.quats_wxyz.tobytes()


def _write(tmp_path: Path, payload: bytes) -> Path:
    path = tmp_path / "bad.ply"
    path.write_bytes(payload)
    return path


def test_missing_property_is_named(tmp_path: Path) -> None:
    good = tmp_path / "good.ply"
    save_ply(good, random_scene(3, 0))
    raw = good.read_bytes().replace(b"property float opacity\n", b"property float opacityx\n")
    with pytest.raises(SceneFileError, match="'opacity' is missing"):
        load_ply(_write(tmp_path, raw))


def test_bad_header_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SceneFileError, match="does not start with 'ply'"):
        load_ply(_write(tmp_path, b"plx\nformat binary_little_endian 1.0\nend_header\n"))
    with pytest.raises(SceneFileError, match="no 'end_header'"):
        load_ply(_write(tmp_path, b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n"))
    with pytest.raises(SceneFileError, match="only binary PLY"):
        load_ply(_write(tmp_path, inria_header(1, 0).replace(b"binary_little_endian", b"ascii")))
    with pytest.raises(SceneFileError, match="expected 'element NAME COUNT'"):
        load_ply(_write(tmp_path, inria_header(1, 0).replace(b"element vertex 1", b"element vertex many")))
    with pytest.raises(SceneFileError, match="no 'vertex' element"):
        load_ply(_write(tmp_path, inria_header(1, 0).replace(b"element vertex", b"element face")))


def test_truncated_data_names_the_count(tmp_path: Path) -> None:
    good = tmp_path / "good.ply"
    save_ply(good, random_scene(4, 1))
    raw = good.read_bytes()
    with pytest.raises(SceneFileError,
                       match=r"truncated: the header declares 4 vertices of 104 bytes \(416 bytes\) but only 406"):
        load_ply(_write(tmp_path, raw[:-10]))


def test_non_float_type_is_rejected(tmp_path: Path) -> None:
    n = 2
    raw = inria_header(n, 0).replace(b"property float scale_1", b"property int scale_1")
    with pytest.raises(SceneFileError, match="'scale_1' has type int32, expected float"):
        load_ply(_write(tmp_path, raw + bytes(n * 17 * 4)))


def test_bad_f_rest_count_is_named(tmp_path: Path) -> None:
    raw = inria_header(1, 7)
    with pytest.raises(SceneFileError, match="7 f_rest_\\* properties"):
        load_ply(_write(tmp_path, raw + bytes(24 * 4)))
    gap = inria_header(1, 9).replace(b"property float f_rest_4\n", b"")
    with pytest.raises(SceneFileError, match="f_rest_4 is missing"):
        load_ply(_write(tmp_path, gap + bytes(25 * 4)))


def _corrupted(tmp_path: Path, name: str, vertex: int, value: float) -> Path:
    """A saved degree-1 scene of 5 vertices with one property of one vertex overwritten."""
    good = tmp_path / "good.ply"
    save_ply(good, random_scene(5, 1))
    raw = good.read_bytes()
    header_end = raw.index(b"end_header\n") + len(b"end_header\n")
    names = [line.split()[2] for line in raw[:header_end].decode().splitlines() if line.startswith("property")]
    data = np.frombuffer(raw, np.dtype([(n, "<f4") for n in names]), offset=header_end).copy()
    data[name][vertex] = value
    return _write(tmp_path, raw[:header_end] + data.tobytes())


@pytest.mark.parametrize("name, value", [("y", np.nan), ("scale_1", -np.inf), ("scale_2", np.nan),
                                         ("scale_0", np.inf), ("opacity", np.nan), ("f_rest_4", np.inf),
                                         ("f_dc_0", np.nan)])
def test_non_finite_value_names_the_property_and_vertex(tmp_path: Path, name: str, value: float) -> None:
    path = _corrupted(tmp_path, name, 3, value)
    with pytest.raises(SceneFileError, match=f"'{name}' of vertex 3 is {value}") as err:
        load_ply(path)
    assert str(err.value).startswith(f"{path}: ")
    assert ("stored as logs" in str(err.value)) == name.startswith("scale_")


def test_zero_rotation_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "zero.ply"
    scene = random_scene(4, 0)
    scene.quats_wxyz[2] = 0.0
    save_ply(path, scene)
    with pytest.raises(SceneFileError, match="rot_0..rot_3 of vertex 2 are all 0"):
        load_ply(path)


def test_header_with_a_property_too_few_is_refused(tmp_path: Path) -> None:
    """Data of 17 properties under a header that lists 16: read as is, every value would shift."""
    good = tmp_path / "good.ply"
    save_ply(good, random_scene(6, 0))
    raw = good.read_bytes().replace(b"property float nz\n", b"")
    with pytest.raises(SceneFileError, match=r"24 bytes follow the data the header declares \(6 vertices of 64"):
        load_ply(_write(tmp_path, raw))


def test_missing_file_is_a_scene_file_error(tmp_path: Path) -> None:
    with pytest.raises(SceneFileError, match="cannot read"):
        load_ply(tmp_path / "absent.ply")


def test_concatenation_pads_sh_to_the_highest_degree() -> None:
    a, b = random_scene(3, 0), random_scene(4, 2, seed=1)
    both = concatenate_scenes([a, b])
    assert both.num_gaussians == 7 and both.sh_degree == 2
    np.testing.assert_array_equal(both.sh[:3, 0], a.sh[:, 0])
    assert not both.sh[:3, 1:].any()
    np.testing.assert_array_equal(both.sh[3:], b.sh)
