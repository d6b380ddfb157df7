"""Peak resident memory of this process, and its reset between pipeline stages (Linux)."""

from __future__ import annotations

import resource
from pathlib import Path

__all__ = ["peak_rss_mb", "reset_peak_rss"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_rss_mb() -> float:
    """Peak resident memory of this program in MB since it started or since :func:`reset_peak_rss`.

    ``VmHWM`` belongs to the program's own address space; ``ru_maxrss`` (the fallback off
    Linux) would also carry the resident size of a parent at the moment it started this
    program (Linux keeps it across ``exec``) and cannot be reset.
    """
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def reset_peak_rss() -> bool:
    """Start a new peak (``VmHWM`` back to the current size); False where the system cannot."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:  # pragma: no cover - not Linux, or not allowed
        return False
    return True
