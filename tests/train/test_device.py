"""Device and precision selection, including the CUDA path, tested on a CPU."""

from __future__ import annotations

import pytest
import torch

from tfcli.errors import ConfigError
from tfcli.train.device import Hardware, Placement, choose_placement, cpu_native_bf16, read_cpu_flags

pytestmark = pytest.mark.timeout(30)

AMPERE = Hardware(cuda=True, bf16=True)
VOLTA = Hardware(cuda=True, bf16=False)
CPU = Hardware(cuda=False, bf16=False)


@pytest.mark.parametrize(
    "device,precision,hardware,expected",
    [
        ("auto", "auto", AMPERE, Placement("cuda", "bf16")),
        ("auto", "auto", VOLTA, Placement("cuda", "fp16")),
        ("auto", "auto", CPU, Placement("cpu", "fp32")),
        ("cpu", "auto", AMPERE, Placement("cpu", "fp32")),
        ("auto", "fp32", AMPERE, Placement("cuda", "fp32")),
        ("cuda", "fp16", AMPERE, Placement("cuda", "fp16")),
        ("cpu", "bf16", CPU, Placement("cpu", "bf16")),
    ],
)
def test_choice(device, precision, hardware, expected):
    assert choose_placement(device, precision, hardware) == expected


@pytest.mark.parametrize(
    "device,precision,hardware,message",
    [
        ("cuda", "auto", CPU, "no CUDA device"),
        ("cpu", "fp16", CPU, "fp16 needs a CUDA device"),
        ("cuda", "bf16", VOLTA, "supports bfloat16"),
    ],
)
def test_impossible_requests_are_user_errors(device, precision, hardware, message):
    with pytest.raises(ConfigError, match=message):
        choose_placement(device, precision, hardware)


def test_autocast_dtypes_and_scaler():
    assert Placement("cuda", "bf16").autocast_dtype is torch.bfloat16
    assert Placement("cuda", "fp16").needs_grad_scaler
    assert not Placement("cuda", "bf16").needs_grad_scaler
    assert Placement("cpu", "fp32").autocast_dtype is None
    with Placement("cpu", "bf16").autocast():
        out = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype is torch.bfloat16


def test_detect_matches_torch():
    assert Hardware.detect().cuda == torch.cuda.is_available()


# --- precision: auto on the CPU ----------------------------------------------------------------
ZEN4_FLAGS = "fpu vme sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni".split()
SAPPHIRE_RAPIDS_FLAGS = "fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8".split()
SKYLAKE_FLAGS = "fpu sse2 avx2 avx512f avx512bw avx512_vnni".split()
CPU_BF16 = Hardware(cuda=False, bf16=False, cpu_bf16=True)


@pytest.mark.parametrize(
    "flags,native", [(ZEN4_FLAGS, True), (SAPPHIRE_RAPIDS_FLAGS, True), (SKYLAKE_FLAGS, False), ([], False)]
)
def test_native_bf16_is_read_from_the_cpu_flags(flags, native):
    assert cpu_native_bf16(flags) is native


def test_cpu_flags_come_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert read_cpu_flags(cpuinfo) == {"fpu", "avx512f", "avx512_bf16"}
    assert read_cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(
    "hardware,precision,reason",
    [(CPU_BF16, "bf16", "native bf16"), (CPU, "fp32", "no native bf16")],
)
def test_auto_precision_on_the_cpu_follows_native_bf16(hardware, precision, reason):
    placement = choose_placement("auto", "auto", hardware)
    assert placement == Placement("cpu", precision)
    assert reason in placement.reason and placement.reason.startswith("auto")


def test_auto_keeps_small_models_in_fp32_on_a_bf16_cpu():
    small = choose_placement("auto", "auto", CPU_BF16, d_model=64)
    assert small.precision == "fp32" and "d_model 64" in small.reason
    assert choose_placement("auto", "auto", CPU_BF16, d_model=256).precision == "bf16"
    assert choose_placement("cpu", "bf16", CPU_BF16, d_model=64).precision == "bf16"  # asked for


def test_explicit_precision_wins_and_says_so():
    placement = choose_placement("cpu", "fp32", CPU_BF16)
    assert placement.precision == "fp32" and placement.reason == "train.precision is fp32"
    assert choose_placement("auto", "auto", Hardware(cuda=True, bf16=True, cpu_bf16=True)).precision == "bf16"


def test_detect_reads_this_machines_cpu():
    assert Hardware.detect().cpu_bf16 == cpu_native_bf16(read_cpu_flags())
