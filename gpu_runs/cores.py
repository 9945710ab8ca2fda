"""How many CPU cores this process may use, and whether other work is on them. Free of torch:
``gpu_runs/__init__.py`` needs it before torch loads its OpenMP runtime."""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def cores_busy() -> bool:
    """Whether the 1-minute load average reaches half the cores this process may use."""
    try:
        return os.getloadavg()[0] >= available_cores() / 2
    except (AttributeError, OSError):  # no load average (Windows)
        return False
