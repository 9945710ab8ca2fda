"""Where the models run: CUDA with bf16 autocast when present, fp32 on CPU with as many threads
as this process may use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from gpu_runs.cores import available_cores


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cpu`` or ``cuda`` forces one."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device={name!r} is not allowed; choose one of auto, cpu, cuda")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch.cuda.is_available() is False")
    return torch.device(name)


def set_threads(threads: int = 0) -> int:
    """torch.set_num_threads(threads), or the available cores when ``threads`` is 0; returns it."""
    if threads < 0:
        raise ValueError(f"threads={threads!r} must be >= 0 (0: every available core)")
    n = threads or available_cores()
    torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA (matmuls in bf16, reductions in fp32); nothing on CPU (fp32)."""
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
