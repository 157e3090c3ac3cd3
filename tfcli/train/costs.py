"""The resource side of a trial's evaluation metrics (:data:`tfcli.spec.tasks.COST_METRICS`)."""

from __future__ import annotations

import resource
import sys


def peak_memory_mb(device: str) -> float:
    """Peak memory of this process so far: allocated CUDA memory on a GPU, else the peak
    resident set (which counts the Python process as a whole, data and libraries included)."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
