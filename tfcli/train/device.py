"""Where and in what precision a run trains.

The choice is a pure function of the request and of what the machine offers, so the CUDA path
(device selection, bf16 autocast, fp16 with loss scaling) is testable on a CPU-only machine.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from tfcli.errors import ConfigError


#: /proc/cpuinfo flags of CPUs that compute bfloat16 matrix products natively (AVX512-BF16's
#: dot products, or AMX tiles). Without them, CPU autocast in bf16 converts back and forth
#: around fp32 kernels and is slower than plain fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_native_bf16(cpu_flags) -> bool:
    """Whether a CPU with these /proc/cpuinfo flags has native bf16 (AVX512-BF16 or AMX)."""
    return bool(NATIVE_BF16_FLAGS & set(cpu_flags))


def read_cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The flags of the first CPU in /proc/cpuinfo; empty where there is no such file (macOS, Windows)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    bf16: bool  # the CUDA device supports bfloat16 (Ampere or newer)
    cpu_bf16: bool = False  # the CPU computes bfloat16 natively (AVX512-BF16 or AMX)

    @classmethod
    def detect(cls) -> "Hardware":
        import torch

        cuda = torch.cuda.is_available()
        return cls(cuda=cuda, bf16=bool(cuda and torch.cuda.is_bf16_supported()), cpu_bf16=cpu_native_bf16(read_cpu_flags()))


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda"
    precision: str  # "fp32", "bf16" or "fp16"
    reason: str = field(default="", compare=False)  # why this precision, for `tfcli train` and the run's params

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


#: Smallest d_model for which ``precision: auto`` takes bf16 on a CPU with native bf16. Below it,
#: autocast's casts cost more than the faster matrix products save: the quickstart (d_model 64)
#: trained 0.88x as fast in bf16, d_model 256 1.2-2.4x as fast (docs/benchmarks.md).
CPU_BF16_MIN_D_MODEL = 256


def choose_placement(device: str, precision: str, hardware: Hardware, d_model: int | None = None) -> Placement:
    """Resolve ``train.device`` and ``train.precision`` against the hardware.

    ``auto`` picks CUDA when present. ``precision: auto`` is bf16 on a CUDA device that supports
    it, else fp16 with loss scaling on older CUDA devices; on the CPU it is bf16 autocast where
    the CPU computes bf16 natively (AVX512-BF16 or AMX) and the model is wide enough
    (``d_model`` >= CPU_BF16_MIN_D_MODEL; None: not known, taken as wide enough), and fp32
    elsewhere (where bf16 is emulated, or the casts cost more than they save).
    """
    if device == "cuda" and not hardware.cuda:
        raise ConfigError("train.device is cuda, but no CUDA device is available; use device: auto or cpu")
    chosen = "cuda" if device == "cuda" or (device == "auto" and hardware.cuda) else "cpu"
    if precision == "auto":
        return _auto_precision(chosen, hardware, d_model)
    if precision == "fp16" and chosen == "cpu":
        raise ConfigError("train.precision fp16 needs a CUDA device; use fp32 or bf16 on the CPU")
    if precision == "bf16" and chosen == "cuda" and not hardware.bf16:
        raise ConfigError("train.precision bf16 needs a CUDA device that supports bfloat16; use fp16 or auto")
    return Placement(chosen, precision, f"train.precision is {precision}")


def _auto_precision(device: str, hardware: Hardware, d_model: int | None) -> Placement:
    if device == "cuda":
        if hardware.bf16:
            return Placement(device, "bf16", "auto: the CUDA device supports bf16")
        return Placement(device, "fp16", "auto: the CUDA device has no bf16, so fp16 with loss scaling")
    if hardware.cpu_bf16 and d_model is not None and d_model < CPU_BF16_MIN_D_MODEL:
        return Placement(
            device, "fp32", f"auto: the CPU has native bf16, but at d_model {d_model} (< {CPU_BF16_MIN_D_MODEL}) fp32 is faster"
        )
    if hardware.cpu_bf16:
        return Placement(device, "bf16", "auto: the CPU has native bf16 (AVX512-BF16 or AMX)")
    return Placement(device, "fp32", "auto: the CPU has no native bf16 (no AVX512-BF16 or AMX)")
