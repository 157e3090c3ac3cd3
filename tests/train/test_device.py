"""Device and precision selection, including the CUDA path, tested on a CPU."""

from __future__ import annotations

import pytest
import torch

from tfcli.errors import ConfigError
from tfcli.train.device import Hardware, Placement, choose_placement

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
