"""The Pareto front's math (tfcli.report.pareto): dominance, front ranks, hypervolume."""

from __future__ import annotations

import json
import random

import pytest

from tfcli.report.pareto import (
    Objective,
    ParetoPoint,
    dominates,
    front_ranks,
    hypervolume,
    objectives_of,
    pareto_front,
    reference_point,
)

pytestmark = pytest.mark.timeout(60)

MAX_MIN = ["max", "min"]


def test_dominance_follows_each_objectives_mode():
    assert dominates((30.0, 2.0), (20.0, 3.0), MAX_MIN)  # better bleu, faster
    assert dominates((30.0, 3.0), (20.0, 3.0), MAX_MIN)  # equal in one, better in the other
    assert not dominates((30.0, 3.0), (30.0, 3.0), MAX_MIN)  # equal is not dominating
    assert not dominates((30.0, 4.0), (20.0, 3.0), MAX_MIN)  # a trade-off
    assert dominates((20.0, 3.0), (30.0, 4.0), ["min", "min"])
    assert not dominates((20.0, 3.0), (30.0, 4.0), ["max", "max"])


def test_front_ranks_peel_the_fronts():
    points = [
        (30.0, 5.0),  # 0: best bleu          -> front 1
        (20.0, 1.0),  # 1: fastest             -> front 1
        (25.0, 3.0),  # 2: a trade-off         -> front 1
        (24.0, 4.0),  # 3: dominated by 2      -> front 2
        (19.0, 2.0),  # 4: dominated by 1      -> front 2
        (18.0, 6.0),  # 5: dominated by 3, 4   -> front 3
        (25.0, 3.0),  # 6: equal to 2          -> front 1
    ]
    assert front_ranks(points, MAX_MIN) == [1, 1, 1, 2, 2, 3, 1]
    assert front_ranks([], MAX_MIN) == []


def test_front_ranks_match_a_brute_force_definition():
    rng = random.Random(3)
    for _ in range(30):
        points = [(rng.randint(0, 6), rng.randint(0, 6), rng.randint(0, 3)) for _ in range(rng.randint(1, 12))]
        modes = [rng.choice(["max", "min"]) for _ in range(3)]
        ranks = front_ranks(points, modes)
        for i, p in enumerate(points):
            # rank r: dominated by some point of rank r-1, and by none of rank >= r
            assert not any(dominates(points[j], p, modes) for j in range(len(points)) if ranks[j] >= ranks[i])
            if ranks[i] > 1:
                assert any(dominates(points[j], p, modes) for j in range(len(points)) if ranks[j] == ranks[i] - 1)


def test_hypervolume_of_a_staircase_by_hand():
    # bleu (max) against ms (min), reference bleu 0, ms 10:
    # (30, 6): 30 x 4 = 120; (20, 2) adds 20 x 4 = 80; (10, 1) adds 10 x 1 = 10 -> 210
    front = [(30.0, 6.0), (20.0, 2.0), (10.0, 1.0)]
    assert hypervolume(front, MAX_MIN, [0.0, 10.0]) == pytest.approx(210.0)
    # a dominated point and a point beyond the reference point add nothing
    assert hypervolume(front + [(15.0, 5.0), (40.0, 11.0)], MAX_MIN, [0.0, 10.0]) == pytest.approx(210.0)
    assert hypervolume([], MAX_MIN, [0.0, 10.0]) == 0.0
    # 3-D: boxes 2x2x1 and 1x1x2 that overlap in a 1x1x1 cube: 4 + 2 - 1
    assert hypervolume([(0.0, 0.0, 1.0), (1.0, 1.0, 0.0)], ["min"] * 3, [2.0, 2.0, 2.0]) == pytest.approx(4 + 2 - 1)


def test_hypervolume_agrees_with_optunas_own():
    np = pytest.importorskip("numpy")
    from optuna._hypervolume import compute_hypervolume  # private: only to check ours

    rng = random.Random(7)
    for dims in (2, 3, 4):
        for _ in range(10):
            points = [tuple(rng.uniform(0, 1) for _ in range(dims)) for _ in range(rng.randint(1, 9))]
            modes = [rng.choice(["max", "min"]) for _ in range(dims)]
            ref = reference_point(points, modes)
            ours = hypervolume(points, modes, ref)
            losses = np.array([[-v if m == "max" else v for v, m in zip(p, modes)] for p in points])
            theirs = compute_hypervolume(losses, np.array([-r if m == "max" else r for r, m in zip(ref, modes)]))
            assert ours == pytest.approx(theirs, rel=1e-9), (points, modes)


def test_reference_point_is_the_worst_value_nudged():
    points = [(30.0, 6.0), (20.0, 2.0), (10.0, 1.0)]
    assert reference_point(points, MAX_MIN) == pytest.approx([10.0 - 2.0, 6.0 + 0.5])
    assert reference_point([(5.0, 0.0)], MAX_MIN) == pytest.approx([4.5, 0.1])


def test_pareto_front_orders_by_rank_and_reports_the_first_fronts_volume():
    objectives = [Objective("bleu", "max"), Objective("decode_ms_per_example", "min")]
    points = [
        ParetoPoint(0, "t0", "r0", (24.0, 6.0), 20),
        ParetoPoint(1, "t1", "r1", (30.0, 5.0), 20),
        ParetoPoint(2, "t2", "r2", (20.0, 1.0), 10),
        ParetoPoint(3, "t3", "r3", (float("nan"), 1.0), 10),  # not a usable point
    ]
    front = pareto_front(objectives, points, ["a note"])
    assert [(p.number, p.rank) for p in front.points] == [(1, 1), (2, 1), (0, 2)]
    assert [p.trial_id for p in front.front] == ["t1", "t2"]
    assert front.reference == pytest.approx([19.0, 6.5])
    # (30, 5): 11 x 1.5 = 16.5; (20, 1) adds 1 x 4 = 4 -> 20.5
    assert front.hypervolume == pytest.approx(20.5)
    payload = front.to_dict()
    assert payload["objectives"] == [{"metric": "bleu", "mode": "max"}, {"metric": "decode_ms_per_example", "mode": "min"}]
    assert payload["trials"][0]["values"] == {"bleu": 30.0, "decode_ms_per_example": 5.0}
    assert payload["reference_point"] == pytest.approx({"bleu": 19.0, "decode_ms_per_example": 6.5})
    assert "worst value" in payload["reference_rule"] and payload["notes"] == ["a note"]
    assert pareto_front(objectives, []).hypervolume is None


def test_objectives_of_a_stored_spec():
    several = json.dumps({"objective": [{"metric": "bleu", "mode": "max"}, {"metric": "decode_ms_per_example", "mode": None}]})
    assert objectives_of(several) == [Objective("bleu", "max"), Objective("decode_ms_per_example", "min")]
    assert objectives_of(json.dumps({"objective": {"metric": "chrf", "mode": "max"}})) == [Objective("chrf", "max")]
    assert objectives_of(None) == [] and objectives_of("not json") == []
