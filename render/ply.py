"""Gaussian scenes as PLY files in the INRIA 3DGS layout (also written by gsplat and nerfstudio).

One `vertex` element, binary little-endian, float32 properties in this order:
x y z nx ny nz f_dc_0..2 f_rest_0..f_rest_{3(K-1)-1} opacity scale_0..2 rot_0..3
where `f_rest_*` is channel-major (all R coefficients of bands >= 1, then all G, then all B),
opacity is the logit, scales are logs and rot is w, x, y, z (not necessarily unit).

Reading looks properties up by name, so files from any of those writers load whatever the
order; extra properties are ignored (or returned on request) and the SH degree is inferred
from the number of `f_rest_*` properties. Anything malformed raises `SceneFileError` naming
the file and the property, count or byte size that is wrong; so do values that cannot be
rendered (non-finite numbers, a zero rotation) and bytes beyond the data the header declares.

Writing is atomic (temporary file in the same folder, then `os.replace`) and bit-exact: a
scene read back is identical, array for array.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from render.gaussians import GaussianScene
from sim.atomic import write_bytes_atomic
from sim.errors import SceneFileError

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_FLOAT_KINDS = ("f4", "f8")
_MAX_HEADER_BYTES = 1 << 20


def _property_names(num_rest: int) -> list[str]:
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{i}" for i in range(num_rest)]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def save_ply(path: str | Path, scene: GaussianScene, extra_properties: dict[str, np.ndarray] | None = None) -> None:
    """Write `scene` in the INRIA layout; `extra_properties` (name -> (N,) array of a numeric
    dtype) are appended after rot_3 as further per-vertex properties."""
    path = Path(path)
    n, k = scene.num_gaussians, scene.sh.shape[1]
    names = _property_names(3 * (k - 1))
    fields = [(name, "<f4") for name in names]
    extras = dict(extra_properties or {})
    reverse_types = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int",
                     "u4": "uint", "f4": "float", "f8": "double"}
    for name, values in extras.items():
        values = np.asarray(values)
        code = values.dtype.str.lstrip("<>|=")
        if values.shape != (n,) or code not in reverse_types or name in names:
            raise ValueError(f"extra PLY property {name!r}: need a new name and an (N,) numeric array, "
                             f"got {values.dtype} {values.shape}")
        fields.append((name, "<" + code))
    data = np.empty(n, dtype=np.dtype(fields))
    for i, axis in enumerate("xyz"):
        data[axis] = scene.means[:, i]
        data["n" + axis] = 0.0
    for c in range(3):
        data[f"f_dc_{c}"] = scene.sh[:, 0, c]
    rest = np.transpose(scene.sh[:, 1:, :], (0, 2, 1)).reshape(n, 3 * (k - 1))  # channel-major
    for i in range(rest.shape[1]):
        data[f"f_rest_{i}"] = rest[:, i]
    data["opacity"] = scene.opacity_logits
    for i in range(3):
        data[f"scale_{i}"] = scene.log_scales[:, i]
    for i in range(4):
        data[f"rot_{i}"] = scene.quats_wxyz[:, i]
    for name, values in extras.items():
        data[name] = values
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property {reverse_types[np.dtype(t).str.lstrip('<>|=')]} {name}" for name, t in fields]
    header.append("end_header")
    payload = ("\n".join(header) + "\n").encode("ascii") + data.tobytes()
    write_bytes_atomic(path, payload)


def load_ply(path: str | Path) -> GaussianScene:
    """Read an INRIA-layout Gaussian PLY (see the module docstring)."""
    return load_ply_with_extras(path, ())[0]


def load_ply_with_extras(path: str | Path, extra_names: tuple[str, ...] | list[str],
                         ) -> tuple[GaussianScene, dict[str, np.ndarray]]:
    """Read a Gaussian PLY and the named extra per-vertex properties (each must be present)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SceneFileError(f"{path}: cannot read the Gaussian scene file ({exc.strerror})") from exc
    dtype, count, offset, end = _parse_header(path, raw)
    stride = dtype.itemsize
    available = len(raw) - offset
    if available < count * stride:
        raise SceneFileError(
            f"{path}: truncated: the header declares {count} vertices of {stride} bytes "
            f"({count * stride} bytes) but only {available} bytes follow the header; re-export the scene")
    if len(raw) > end:
        raise SceneFileError(
            f"{path}: {len(raw) - end} bytes follow the data the header declares ({count} vertices of {stride} "
            "bytes, and the elements after them): the vertex count or the property list in the header is "
            "wrong; re-export the scene")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    names = set(dtype.names)
    rest_ids = sorted(int(m.group(1)) for name in names if (m := re.fullmatch(r"f_rest_(\d+)", name)))
    num_rest = len(rest_ids)
    if rest_ids != list(range(num_rest)):
        missing = sorted(set(range(max(rest_ids) + 1)) - set(rest_ids))
        raise SceneFileError(f"{path}: property f_rest_{missing[0]} is missing "
                             f"(f_rest_* must be numbered 0..{max(rest_ids)})")
    if num_rest % 3 or (num_rest // 3 + 1) not in (1, 4, 9, 16):
        raise SceneFileError(
            f"{path}: {num_rest} f_rest_* properties is not 3 * ((degree + 1)^2 - 1) for an SH degree 0..3 "
            "(expected 0, 9, 24 or 45)")
    required = [n for n in _property_names(num_rest) if n not in ("nx", "ny", "nz")]
    for name in required:
        if name not in names:
            raise SceneFileError(f"{path}: required vertex property {name!r} is missing")
        if dtype[name].str.lstrip("<>|=") not in _FLOAT_KINDS:
            raise SceneFileError(f"{path}: vertex property {name!r} has type {dtype[name]}, expected float")
    for name in extra_names:
        if name not in names:
            raise SceneFileError(f"{path}: vertex property {name!r} is missing")

    def column(name: str) -> np.ndarray:
        return np.asarray(data[name], dtype=np.float32)

    _check_values(path, data, required)
    k = num_rest // 3 + 1
    sh = np.empty((count, k, 3), np.float32)
    for c in range(3):
        sh[:, 0, c] = column(f"f_dc_{c}")
        for j in range(k - 1):
            sh[:, 1 + j, c] = column(f"f_rest_{c * (k - 1) + j}")
    scene = GaussianScene(
        means=np.stack([column(a) for a in "xyz"], axis=1),
        quats_wxyz=np.stack([column(f"rot_{i}") for i in range(4)], axis=1),
        log_scales=np.stack([column(f"scale_{i}") for i in range(3)], axis=1),
        opacity_logits=column("opacity"),
        sh=sh,
    )
    extras = {name: np.array(data[name], dtype=dtype[name].newbyteorder("=")) for name in extra_names}
    return scene, extras


def _check_values(path: Path, data: np.ndarray, names: list[str]) -> None:
    """A SceneFileError naming the property and the first vertex whose value cannot be rendered:
    a non-finite number (a NaN mean, a scale of 0 or infinity, whose log is -inf or inf, a NaN
    opacity or colour), or a rotation of zero norm."""
    for name in names:
        finite = np.isfinite(data[name])
        if not finite.all():
            i = int(np.argmin(finite))
            what = " (scales are stored as logs: a scale must be finite and > 0)" if name.startswith("scale_") else ""
            raise SceneFileError(f"{path}: vertex property {name!r} of vertex {i} is {data[name][i]} "
                                 f"({np.count_nonzero(~finite)} vertices in all): values must be finite{what}; "
                                 "re-export the scene")
    norm_sq = sum(np.square(data[f"rot_{j}"].astype(np.float64)) for j in range(4))
    if not (norm_sq > 0).all():
        i = int(np.argmin(norm_sq > 0))
        raise SceneFileError(f"{path}: rot_0..rot_3 of vertex {i} are all 0 ({np.count_nonzero(norm_sq <= 0)} "
                             "vertices in all): a rotation quaternion must not be zero; re-export the scene")


def _parse_header(path: Path, raw: bytes) -> tuple[np.dtype, int, int, int]:
    """(vertex record dtype, vertex count, byte offset of the vertex data, byte size the header declares
    for the whole file) of a binary PLY."""
    end = raw.find(b"end_header", 0, _MAX_HEADER_BYTES)
    if not raw.startswith(b"ply"):
        raise SceneFileError(f"{path}: bad header: the file does not start with 'ply'")
    if end < 0:
        raise SceneFileError(f"{path}: bad header: no 'end_header' line")
    newline = raw.find(b"\n", end)
    if newline < 0:
        raise SceneFileError(f"{path}: bad header: 'end_header' is not followed by a newline")
    try:
        lines = raw[:end].decode("ascii").replace("\r", "").split("\n")
    except UnicodeDecodeError as exc:
        raise SceneFileError(f"{path}: bad header: not ASCII text") from exc
    byte_order = None
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for number, line in enumerate(lines[1:], start=2):
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) != 3 or words[1] not in ("binary_little_endian", "binary_big_endian"):
                raise SceneFileError(f"{path}: bad header line {number} {line!r}: only binary PLY is supported")
            byte_order = "<" if words[1] == "binary_little_endian" else ">"
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise SceneFileError(f"{path}: bad header line {number} {line!r}: expected 'element NAME COUNT'")
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            if not elements:
                raise SceneFileError(f"{path}: bad header line {number} {line!r}: property before any element")
            if len(words) != 3:
                raise SceneFileError(f"{path}: bad header line {number} {line!r}: list properties are not supported")
            if words[1] not in _PLY_TYPES:
                raise SceneFileError(f"{path}: bad header line {number} {line!r}: unknown type {words[1]!r}")
            elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
        else:
            raise SceneFileError(f"{path}: bad header line {number} {line!r}")
    if byte_order is None:
        raise SceneFileError(f"{path}: bad header: no 'format' line")
    end = newline + 1
    vertex = None
    for name, count, props in elements:
        if not props:
            raise SceneFileError(f"{path}: bad header: element {name!r} has no properties")
        names = [p[0] for p in props]
        if len(set(names)) != len(names):
            raise SceneFileError(f"{path}: bad header: element {name!r} repeats a property name")
        dtype = np.dtype([(p, byte_order + t) for p, t in props])
        if name == "vertex" and vertex is None:
            vertex = (dtype, count, end)
        end += count * dtype.itemsize  # other elements are skipped
    if vertex is None:
        raise SceneFileError(f"{path}: bad header: no 'vertex' element")
    return (*vertex, end)
