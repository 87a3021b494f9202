"""Atomic file output: write to a temporary name in the same directory, then rename.

A reader (or a resumed batch job) therefore sees either the old file or the complete new
one, never a half-written file.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it is renamed to `path`, on error removed."""
    path = Path(path)
    tmp = temporary_beside(path, suffix if suffix is not None else path.suffix + ".tmp")
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def temporary_beside(path: Path, suffix: str) -> Path:
    """A new empty hidden file `.<name>.<random><suffix>` in path's folder (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def stale_temporaries(path: Path, suffix: str) -> list[Path]:
    """Temporaries of `path` (see temporary_beside) that a killed process left behind."""
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*{glob.escape(suffix)}"))


def publish(tmp: Path, path: Path) -> None:
    """Rename a finished temporary to `path` with an ordinary file's mode: 0666 less the umask (mkstemp
    makes 0600, and outputs are read by others like every other file the user writes)."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """`data` at `path`, flushed to disk before the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_json_atomic(path: str | Path, obj, indent: int = 2) -> Path:
    """JSON with sorted keys; NaN/inf are not valid JSON, so callers convert them first."""
    return write_bytes_atomic(path, (json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n").encode())
