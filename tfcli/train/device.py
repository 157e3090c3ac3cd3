"""Where and in what precision a run trains.

The choice is a pure function of the request and of what the machine offers, so the CUDA path
(device selection, bf16 autocast, fp16 with loss scaling) is testable on a CPU-only machine.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from tfcli.errors import ConfigError


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    bf16: bool  # the CUDA device supports bfloat16 (Ampere or newer)

    @classmethod
    def detect(cls) -> "Hardware":
        import torch

        cuda = torch.cuda.is_available()
        return cls(cuda=cuda, bf16=bool(cuda and torch.cuda.is_bf16_supported()))


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda"
    precision: str  # "fp32", "bf16" or "fp16"

    @property
    def autocast_dtype(self):
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @property
    def needs_grad_scaler(self) -> bool:
        return self.precision == "fp16"

    def autocast(self):
        """The autocast context for forward passes (a no-op in fp32)."""
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.autocast_dtype)


def choose_placement(device: str, precision: str, hardware: Hardware) -> Placement:
    """Resolve ``train.device`` and ``train.precision`` against the hardware.

    ``auto`` picks CUDA when present; ``precision: auto`` is bf16 on a CUDA device that supports
    it, else fp16 with loss scaling on older CUDA devices, and fp32 on the CPU (CPU autocast in
    bf16 is slower than fp32 for models of this size on most CPUs).
    """
    if device == "cuda" and not hardware.cuda:
        raise ConfigError("train.device is cuda, but no CUDA device is available; use device: auto or cpu")
    chosen = "cuda" if device == "cuda" or (device == "auto" and hardware.cuda) else "cpu"
    if precision == "auto":
        if chosen == "cuda":
            return Placement(chosen, "bf16" if hardware.bf16 else "fp16")
        return Placement(chosen, "fp32")
    if precision == "fp16" and chosen == "cpu":
        raise ConfigError("train.precision fp16 needs a CUDA device; use fp32 or bf16 on the CPU")
    if precision == "bf16" and chosen == "cuda" and not hardware.bf16:
        raise ConfigError("train.precision bf16 needs a CUDA device that supports bfloat16; use fp16 or auto")
    return Placement(chosen, precision)
