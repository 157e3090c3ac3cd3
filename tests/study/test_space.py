"""The study's search space as Ray Tune objects; none of these tests start Ray."""

from __future__ import annotations

import math
import pickle
import statistics
import subprocess
import sys

import numpy as np
import pytest

from tests.study.conftest import make_spec
from tfcli.errors import StudyError
from tfcli.study import space


def _samples(domain, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return [domain.sample(random_state=rng) for _ in range(n)]


def _spec(method="random", **parameters):
    return make_spec(search={"method": method, "parameters": parameters})


# --- parameters ---------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_constant_values_and_grid():
    from ray.tune.search.sample import Categorical

    spec = _spec(**{"model.d_model": {"values": [32, 64]}, "train.label_smoothing": {"value": 0.0}})
    domains = space.param_space(spec)
    assert domains["train.label_smoothing"] == 0.0
    assert isinstance(domains["model.d_model"], Categorical)
    assert domains["model.d_model"].categories == [32, 64]
    assert set(_samples(domains["model.d_model"], 200)) == {32, 64}

    grid = space.param_space(_spec("grid", **{"model.d_model": {"values": [32, 64]}, "train.lr": {"values": [1e-3, 1e-2]}}))
    assert grid["model.d_model"] == {"grid_search": [32, 64]}
    assert grid["train.lr"] == {"grid_search": [1e-3, 1e-2]}


@pytest.mark.timeout(30)
def test_uniform_and_log_uniform():
    spec = _spec(
        **{
            "model.dropout": {"distribution": "uniform", "min": 0.1, "max": 0.3},
            "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
        }
    )
    domains = space.param_space(spec)
    dropout = _samples(domains["model.dropout"])
    assert all(0.1 <= v <= 0.3 for v in dropout)
    assert statistics.median(dropout) == pytest.approx(0.2, abs=0.02)
    lr = _samples(domains["train.lr"])
    assert all(1e-4 <= v <= 1e-2 for v in lr)
    # Log-uniform: the median is the geometric mean of the bounds (1e-3), not the midpoint.
    assert math.log10(statistics.median(lr)) == pytest.approx(-3.0, abs=0.1)


@pytest.mark.timeout(30)
def test_int_uniform_includes_both_bounds():
    domains = space.param_space(_spec(**{"model.encoder_layers": {"distribution": "int_uniform", "min": 1, "max": 4}}))
    values = _samples(domains["model.encoder_layers"], 500)
    assert all(type(v) is int for v in values)
    assert set(values) == {1, 2, 3, 4}


@pytest.mark.timeout(30)
def test_quantized_distributions_give_multiples_inside_the_bounds():
    spec = _spec(
        **{
            "train.warmup_steps": {"distribution": "q_uniform", "min": 0, "max": 500, "q": 100},
            "train.batch_tokens": {"distribution": "q_log_uniform", "min": 256, "max": 8192, "q": 256},
            "model.dropout": {"distribution": "q_uniform", "min": 0.05, "max": 0.3, "q": 0.1},
            "train.label_smoothing": {"distribution": "q_log_uniform", "min": 0.01, "max": 0.5, "q": 0.01},
        }
    )
    domains = space.param_space(spec)
    warmup = _samples(domains["train.warmup_steps"], 1000)
    assert all(type(v) is int for v in warmup)
    assert set(warmup) == {0, 100, 200, 300, 400, 500}

    tokens = _samples(domains["train.batch_tokens"])
    assert all(type(v) is int and v % 256 == 0 and 256 <= v <= 8192 for v in tokens)
    assert statistics.median(tokens) < (256 + 8192) / 2 / 2  # log-uniform leans to small values

    # Bounds that are not multiples of q are snapped inwards: 0.1, 0.2, 0.3.
    dropout = _samples(domains["model.dropout"], 1000)
    assert {round(v, 9) for v in dropout} == {0.1, 0.2, 0.3}

    smoothing = _samples(domains["train.label_smoothing"])
    assert all(0.01 <= v <= 0.5 + 1e-12 and abs(v / 0.01 - round(v / 0.01)) < 1e-6 for v in smoothing)


@pytest.mark.timeout(30)
def test_a_quantized_range_without_multiples_is_a_study_error():
    spec = _spec(**{"model.dropout": {"distribution": "q_uniform", "min": 0.05, "max": 0.08, "q": 0.1}})
    with pytest.raises(StudyError, match=r"search.parameters.model.dropout has none \(min=0.05, max=0.08, q=0.1\)"):
        space.param_space(spec)


@pytest.mark.timeout(30)
def test_tpe_gets_constants_only_in_the_tuner_space():
    spec = _spec("tpe", **{"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}, "train.seed": {"value": 5}})
    assert space.tuner_param_space(spec) == {"train.seed": 5}
    assert list(space.optuna_space(spec)) == ["train.lr"]
    assert space.searched(spec) == ["train.lr"]
    assert space.constants(spec) == {"train.seed": 5}


@pytest.mark.timeout(30)
def test_optuna_distributions():
    import optuna.distributions as od

    spec = _spec(
        "tpe",
        **{
            "model.d_model": {"values": [32, 64]},
            "model.dropout": {"distribution": "uniform", "min": 0.0, "max": 0.3},
            "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
            "model.encoder_layers": {"distribution": "int_uniform", "min": 1, "max": 4},
            "train.warmup_steps": {"distribution": "q_uniform", "min": 50, "max": 500, "q": 100},
            "train.batch_tokens": {"distribution": "q_log_uniform", "min": 256, "max": 8192, "q": 256},
        },
    )
    dists = space.optuna_space(spec)
    assert dists["model.d_model"] == od.CategoricalDistribution([32, 64])
    assert dists["model.dropout"] == od.FloatDistribution(0.0, 0.3)
    assert dists["train.lr"] == od.FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["model.encoder_layers"] == od.IntDistribution(1, 4)
    assert dists["train.warmup_steps"] == od.IntDistribution(100, 500, step=100)
    assert dists["train.batch_tokens"] == od.IntDistribution(256, 8192, log=True)


# --- searchers ------------------------------------------------------------------------------

TPE_PARAMS = {
    "model.d_model": {"values": [32, 64, 128]},
    "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
    "train.batch_tokens": {"distribution": "q_log_uniform", "min": 256, "max": 8192, "q": 256},
    "model.dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.3, "q": 0.1},
    "train.seed": {"value": 3},
}


@pytest.mark.timeout(30)
def test_random_and_grid_use_a_seeded_basic_variant_generator():
    from ray.tune.search.basic_variant import BasicVariantGenerator

    for method in ("random", "grid"):
        searcher = space.make_searcher(_spec(method, **{"model.d_model": {"values": [32, 64]}}), max_concurrent=2)
        assert isinstance(searcher, BasicVariantGenerator)
        assert searcher.max_concurrent == 2
        assert isinstance(searcher._random_state.rng, np.random.Generator)
    unlimited = space.make_searcher(make_spec(search={"max_concurrent": None}))
    assert unlimited.max_concurrent == 0


@pytest.mark.timeout(30)
def test_tpe_is_a_seeded_optuna_search_behind_a_concurrency_limiter():
    import optuna
    from ray.tune.search import ConcurrencyLimiter

    spec = make_spec(search={"method": "tpe", "seed": 11, "max_concurrent": 2, "parameters": TPE_PARAMS})
    searcher = space.make_searcher(spec)
    assert isinstance(searcher, ConcurrencyLimiter) and searcher.max_concurrent == 2
    inner = searcher.searcher
    assert isinstance(inner, space.QuantizedOptunaSearch)
    assert inner.metric == "bleu" and inner.mode == "max"
    assert isinstance(inner._sampler, optuna.samplers.TPESampler)
    assert inner._ot_study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert isinstance(space.make_searcher(spec, "loss", "min", max_concurrent=0), space.QuantizedOptunaSearch)


@pytest.mark.timeout(30)
def test_tpe_with_the_same_seed_suggests_the_same_first_configs():
    spec = make_spec(search={"method": "tpe", "seed": 11, "parameters": TPE_PARAMS})
    a = space.make_searcher(spec, max_concurrent=0)
    b = space.make_searcher(spec, max_concurrent=0)
    suggested_a = [a.suggest(f"t{i}") for i in range(5)]
    suggested_b = [b.suggest(f"t{i}") for i in range(5)]
    assert suggested_a == suggested_b
    assert len({tuple(sorted(c.items())) for c in suggested_a}) == 5
    for config in suggested_a:
        assert config["train.batch_tokens"] % 256 == 0 and type(config["train.batch_tokens"]) is int
        assert any(math.isclose(config["model.dropout"], v, abs_tol=1e-9) for v in (0.0, 0.1, 0.2, 0.3))
    other_seed = make_spec(search={"method": "tpe", "seed": 12, "parameters": TPE_PARAMS})
    assert space.make_searcher(other_seed, max_concurrent=0).suggest("t0") != suggested_a[0]


@pytest.mark.timeout(30)
def test_tpe_warm_start_tells_optuna_the_earlier_results():
    from optuna.trial import TrialState

    spec = make_spec(search={"method": "tpe", "parameters": TPE_PARAMS})
    points = [
        {"model.d_model": 64, "train.lr": 1e-3, "train.batch_tokens": 1024, "model.dropout": 0.1, "train.seed": 3},
        {"model.d_model": 32, "train.lr": 5e-3, "train.batch_tokens": 512, "model.dropout": 0.2, "train.seed": 3},
    ]
    told = space.make_searcher(spec, points_to_evaluate=points, evaluated_rewards=[30.0, 10.0], max_concurrent=0)
    trials = told._ot_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert [t.value for t in trials] == [30.0, 10.0]
    assert trials[0].params["train.lr"] == 1e-3

    queued = space.make_searcher(spec, points_to_evaluate=points[:1], max_concurrent=0)
    assert queued.suggest("t0") == {k: v for k, v in points[0].items() if k != "train.seed"}


@pytest.mark.timeout(30)
def test_the_tpe_searcher_pickles_by_name():
    from ray import cloudpickle

    searcher = space.make_searcher(make_spec(search={"method": "tpe", "parameters": TPE_PARAMS}), max_concurrent=0)
    searcher.suggest("t0")
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        data = dumps(searcher)
        assert b"tfcli.study.space" in data and b"QuantizedOptunaSearch" in data
        copy = loads(data)
        assert type(copy) is space.QuantizedOptunaSearch
        assert copy.suggest("t1") == searcher.suggest("t1")


@pytest.mark.timeout(30)
def test_random_warm_start_skips_the_samples_already_run():
    params = {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}}
    spec = make_spec(search={"num_samples": 5, "seed": 3, "parameters": params})
    all_five = space.describe_trials(spec, 5)
    rng = space._random_state(spec, skip=3)
    rest = list(space._sample_variants(spec, rng, 2))
    assert rest == all_five[3:]


# --- schedulers -----------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_fifo_asha_and_hyperband():
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    assert isinstance(space.make_scheduler(make_spec()), FIFOScheduler)

    asha = space.make_scheduler(make_spec(scheduler={"type": "asha", "reduction_factor": 2, "brackets": 2}), "bleu", "max")
    assert isinstance(asha, ASHAScheduler)
    assert (asha._time_attr, asha._metric, asha._mode) == ("step", "bleu", "max")
    assert (asha._max_t, asha._reduction_factor, len(asha._brackets)) == (40, 2, 2)
    assert min(m for m, _ in asha._brackets[0]._rungs) == 10  # grace period: train.eval_every

    explicit = space.make_scheduler(make_spec(scheduler={"type": "asha", "grace_period": 20, "max_t": 30}))
    assert explicit._max_t == 30 and min(m for m, _ in explicit._brackets[0]._rungs) == 20
    assert explicit._metric is None  # left to TuneConfig

    hb = space.make_scheduler(make_spec(scheduler={"type": "hyperband", "reduction_factor": 3}), "loss", "min")
    assert isinstance(hb, HyperBandScheduler)
    assert (hb._time_attr, hb._max_t_attr, hb._eta, hb._metric, hb._mode) == ("step", 40, 3, "loss", "min")


@pytest.mark.timeout(30)
def test_pbt_mutates_the_searched_parameters_within_bounds():
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search.sample import Float

    params = {
        "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
        "model.d_model": {"values": [32, 64]},
        "train.warmup_steps": {"distribution": "q_uniform", "min": 0, "max": 500, "q": 100},
        "train.seed": {"value": 1},
    }
    spec = make_spec(
        search={"parameters": params},
        scheduler={"type": "pbt", "quantile_fraction": 0.5, "resample_probability": 0.1},
    )
    pbt = space.make_scheduler(spec, "bleu", "max")
    assert isinstance(pbt, PopulationBasedTraining)
    assert (pbt._time_attr, pbt._perturbation_interval) == ("step", 10)
    assert (pbt._quantile_fraction, pbt._resample_probability) == (0.5, 0.1)
    # model.* is sampled once per trial: a trial continues from another's checkpoint, so
    # its architecture cannot change.
    assert set(pbt._hyperparam_mutations) == {"train.lr", "train.warmup_steps"}
    assert isinstance(pbt._hyperparam_mutations["train.lr"], Float)

    # PBT scales values by 0.8 or 1.2; the explore hook pulls them back into the study's bounds.
    clipped = pbt._custom_explore_fn({"train.lr": 0.012, "train.warmup_steps": 576, "model.d_model": 64})
    assert clipped == {"train.lr": 0.01, "train.warmup_steps": 500, "model.d_model": 64}
    assert pbt._custom_explore_fn({"train.warmup_steps": 264, "train.lr": 5e-5})["train.warmup_steps"] == 300

    only_lr = space.make_scheduler(
        make_spec(
            search={"parameters": params},
            scheduler={"type": "pbt", "mutations": ["train.lr"], "perturbation_interval": 20},
        )
    )
    assert set(only_lr._hyperparam_mutations) == {"train.lr"}
    assert only_lr._perturbation_interval == 20


# --- dry run --------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_describe_trials_is_deterministic_and_complete():
    params = {
        "model.d_model": {"values": [32, 64]},
        "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
        "train.seed": {"value": 9},
    }
    spec = make_spec(search={"num_samples": 6, "seed": 3, "parameters": params})
    first = space.describe_trials(spec, 4)
    assert first == space.describe_trials(spec, 4)
    assert len(first) == 4 and all(set(c) == {"model.d_model", "train.lr", "train.seed"} for c in first)
    assert space.describe_trials(spec, 100) == space.describe_trials(spec, 6)
    assert len(space.describe_trials(spec, 100)) == 6
    assert space.describe_trials(spec, 100)[:4] == first
    assert space.describe_trials(make_spec(search={"num_samples": 6, "seed": 4, "parameters": params}), 4) != first


@pytest.mark.timeout(30)
def test_describe_trials_lists_the_whole_grid():
    spec = _spec("grid", **{"model.d_model": {"values": [32, 64]}, "train.lr": {"values": [1e-3, 1e-2, 1e-1]}})
    spec.search.num_samples = 2
    assert space.grid_size(spec) == 6
    configs = space.describe_trials(spec, 100)
    assert len(configs) == 12
    pairs = [(c["model.d_model"], c["train.lr"]) for c in configs[:6]]
    assert sorted(pairs) == sorted((d, lr) for d in (32, 64) for lr in (1e-3, 1e-2, 1e-1))
    assert configs[6:] == configs[:6]
    assert space.grid_size(make_spec()) is None


@pytest.mark.timeout(30)
def test_describe_trials_under_tpe_matches_the_searcher():
    spec = make_spec(search={"method": "tpe", "num_samples": 4, "seed": 5, "parameters": TPE_PARAMS})
    described = space.describe_trials(spec, 10)
    assert len(described) == 4
    searcher = space.make_searcher(spec, max_concurrent=0)
    for index, config in enumerate(described):
        assert {k: v for k, v in config.items() if k != "train.seed"} == searcher.suggest(f"x{index}")
        assert config["train.seed"] == 3
        assert list(config) == list(TPE_PARAMS)


@pytest.mark.timeout(60)
def test_importing_and_describing_does_not_start_ray():
    code = (
        "import sys\n"
        "import tfcli.study.space, tfcli.study.runner\n"
        "assert 'ray' not in sys.modules, 'importing imported ray'\n"
        "from tests.study.conftest import make_spec\n"
        "from tests.study.test_space import TPE_PARAMS\n"
        "from tfcli.study.space import describe_trials\n"
        "describe_trials(make_spec(search={'method': 'tpe', 'parameters': TPE_PARAMS}), 3)\n"
        "describe_trials(make_spec(search={'parameters': TPE_PARAMS}), 3)\n"
        "import ray\n"
        "print(ray.is_initialized())\n"
    )
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=50)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert "optuna" not in out.stderr.lower()  # Optuna's INFO logging is quietened


@pytest.mark.timeout(30)
def test_tpe_warm_start_keeps_only_points_it_can_use():
    from optuna.trial import TrialState

    spec = make_spec(search={"method": "tpe", "parameters": TPE_PARAMS})
    good = {"model.d_model": 64, "train.lr": 1e-3, "train.batch_tokens": 1024, "model.dropout": 0.1}
    points = [
        good,
        {**good, "model.d_model": 512},  # no longer one of the values
        {k: v for k, v in good.items() if k != "train.lr"},  # lacks a searched parameter
        {**good, "train.lr": 2e-3},  # failed: no reward
        {**good, "train.lr": 5e-3},  # diverged: the worst reward, kept
    ]
    searcher = space.make_searcher(
        spec, points_to_evaluate=points, evaluated_rewards=[20.0, 30.0, 40.0, None, float("-inf")], max_concurrent=0
    )
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert [t.params["train.lr"] for t in trials] == [1e-3, 5e-3]
    assert [t.value for t in trials] == [20.0, float("-inf")]
    with pytest.raises(ValueError, match="same length"):
        space.make_searcher(spec, points_to_evaluate=points, evaluated_rewards=[1.0])


@pytest.mark.timeout(30)
def test_tpe_with_nothing_to_search_runs_the_constants():
    from ray.tune.search.basic_variant import BasicVariantGenerator

    spec = make_spec(search={"method": "tpe", "num_samples": 2, "parameters": {"train.seed": {"value": 3}}})
    assert isinstance(space.make_searcher(spec), BasicVariantGenerator)
    assert space.describe_trials(spec, 5) == [{"train.seed": 3}, {"train.seed": 3}]
