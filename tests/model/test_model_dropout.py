"""The CPU lane dropout: the drop rate, the scaling, the gradient, every lane, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from tfcli.model.dropout import Dropout, effective_p, lane_dropout, lane_threshold, random_lanes

pytestmark = pytest.mark.timeout(60)

N = 400_000


def test_rounded_probability_and_threshold():
    assert effective_p(0.1) == 6554 / 65536
    assert abs(effective_p(0.1) - 0.1) < 1e-5
    assert lane_threshold(0.0) == -32768 and lane_threshold(0.5) == 0


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drop_rate_and_scale(p):
    torch.manual_seed(0)
    x = torch.ones(N)
    y = lane_dropout(x, p)
    dropped = (y == 0).float().mean().item()
    sigma = math.sqrt(p * (1 - p) / N)
    assert abs(dropped - effective_p(p)) < 5 * sigma
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - effective_p(p))))
    assert abs(y.mean().item() - 1.0) < 5 * sigma / (1 - p)


def test_every_lane_of_a_word_is_uniform():
    # Each 64-bit word feeds four neighbouring elements; a generator that left the top bit
    # of a word at 0 would drop twice as often in the fourth lane.
    torch.manual_seed(1)
    lanes = random_lanes(torch.Size([N * 4])).view(-1, 4).float()
    for lane in range(4):
        column = lanes[:, lane]
        assert column.min() < -32000 and column.max() > 32000
        assert abs(column.mean().item()) < 5 * 65536 / math.sqrt(12 * N)
        below = (column < lane_threshold(0.1)).float().mean().item()
        assert abs(below - 0.1) < 5 * math.sqrt(0.09 / N)


def test_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(2)
    x = torch.randn(64, 33, requires_grad=True)
    y = lane_dropout(x, 0.2)
    y.sum().backward()
    expected = (y != 0).float() / (1 - effective_p(0.2))
    assert torch.equal(x.grad, expected)


def test_reproducible_by_seed_and_shapes_kept():
    x = torch.randn(3, 5, 7)
    torch.manual_seed(3)
    a = lane_dropout(x, 0.1)
    torch.manual_seed(3)
    b = lane_dropout(x, 0.1)
    assert torch.equal(a, b) and a.shape == x.shape


def test_module_is_identity_in_eval_and_at_zero_and_has_no_state():
    x = torch.randn(10, 10)
    module = Dropout(0.5)
    assert module.state_dict() == {}
    module.eval()
    assert module(x) is x
    assert Dropout(0.0).train()(x) is x
    assert not torch.equal(Dropout(0.5).train()(x), x)
    assert torch.equal(lane_dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError):
        Dropout(1.5)


def test_bf16_input_keeps_its_dtype():
    y = lane_dropout(torch.ones(1000, dtype=torch.bfloat16), 0.1)
    values = y.unique().tolist()
    assert y.dtype is torch.bfloat16 and len(values) == 2
    assert values[0] == 0.0 and values[1] == pytest.approx(1 / 0.9, rel=1e-2)
