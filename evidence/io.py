"""Result files written atomically (a killed writer never leaves a half-written file), large binary
files (models, checkpoints) vouched for by a sha256 sidecar written after them, one writer per results
folder (:func:`folder_lock`), and values made plain JSON (one rule for every tier: numpy to Python, NaN
and infinities to None, tuples to lists)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Plain JSON data: numpy scalars/arrays to Python, NaN and infinities to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path`` (atomic on
    POSIX), on failure remove it. A killed writer never leaves a half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be read by others
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (NaN/inf are rejected)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def digest_path(path: str | os.PathLike[str]) -> Path:
    """The sha256 sidecar of ``path``: ``<name>.sha256`` beside it."""
    target = Path(path)
    return target.with_name(target.name + ".sha256")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of the bytes of ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_digest(path: str | os.PathLike[str]) -> Path:
    """Write the sha256 of the complete file ``path`` to its sidecar, atomically. Called after
    ``path`` is in place, so a sidecar that matches vouches for every byte of it."""
    return atomic_write_text(digest_path(path), sha256_file(path) + "\n")


def digest_problem(path: str | os.PathLike[str]) -> str | None:
    """None when ``path`` and its sha256 sidecar exist and agree; else what is wrong (missing file,
    missing sidecar, or a mismatch: a truncated or altered file)."""
    target, sidecar = Path(path), digest_path(path)
    if not target.is_file():
        return f"{target} is missing"
    if not sidecar.is_file():
        return f"{target} has no sha256 sidecar {sidecar.name} (its write was interrupted)"
    expected, actual = sidecar.read_text().strip(), sha256_file(target)
    if actual != expected:
        return f"{target} has sha256 {actual}, its sidecar says {expected} (truncated or corrupted)"
    return None


def remove_with_digest(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and its sha256 sidecar, whichever exist."""
    Path(path).unlink(missing_ok=True)
    digest_path(path).unlink(missing_ok=True)


LOCK_NAME = ".lock"
"""The lock file of a results folder (:func:`folder_lock`)."""
_HELD: dict[Path, int] = {}


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the one-writer lock of ``folder`` for the block (``folder/.lock``, fcntl.flock, holding
    the writer's pid); another process holding it is a ValueError naming the folder and its pid. The
    kernel drops a dead writer's flock, so a lock file left by a killed run is taken over. Re-entrant
    within one process."""
    key = Path(folder).resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield key / LOCK_NAME
        finally:
            _HELD[key] -= 1
        return
    if key.exists() and not key.is_dir():
        raise ValueError(f"results folder {folder} is a file; it must be a folder")
    key.mkdir(parents=True, exist_ok=True)
    path = key / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise ValueError(f"results folder {folder} is in use by another run (pid {holder}, lock file {path}); "
                             "wait for it to finish or choose another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]
            os.ftruncate(fd, 0)  # no holder left behind
    finally:
        os.close(fd)  # closing the descriptor releases the flock
