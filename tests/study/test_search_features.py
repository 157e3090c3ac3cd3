"""Samplers (gp, cmaes, qmc, nsga2), conditional parameters (when:), known starting points
(search.initial) and several objectives in the searcher; none of these tests start Ray."""

from __future__ import annotations

import pickle

import pytest

from tests.study.conftest import make_spec
from tfcli.spec.conditions import active_parameters, grid_combinations, is_active, sampling_order
from tfcli.study import space

pytestmark = pytest.mark.timeout(120)

CONDITIONAL = {
    "train.schedule": {"values": ["inverse_sqrt", "constant", "linear"]},
    "train.warmup_steps": {"values": [100, 400, 1600], "when": {"train.schedule": ["inverse_sqrt", "linear"]}},
    "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
    "train.seed": {"value": 3},
}
NUMERIC = {
    "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2},
    "train.batch_tokens": {"distribution": "q_log_uniform", "min": 256, "max": 8192, "q": 256},
    "model.dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.3, "q": 0.1},
    "train.seed": {"value": 3},
}
TWO_OBJECTIVES = [{"metric": "bleu", "mode": "max"}, {"metric": "loss", "mode": "min"}]


def _spec(method, parameters, **search):
    return make_spec(search={"method": method, "parameters": parameters, **search})


def _inner(searcher):
    return getattr(searcher, "searcher", searcher)


# --- the rule -------------------------------------------------------------------------------


def test_active_parameters_follow_the_condition():
    spec = _spec("random", CONDITIONAL)
    assert active_parameters(spec, {"train.schedule": "constant"}) == ["train.schedule", "train.lr"]
    assert active_parameters(spec, {"train.schedule": "linear"}) == ["train.schedule", "train.warmup_steps", "train.lr"]
    assert active_parameters(spec, {}) == ["train.schedule", "train.lr"]  # no parent value: inactive
    assert active_parameters(spec, {"train.schedule": "constant"}, constants=True)[-1] == "train.seed"
    # A chain: a child of an inactive parent is inactive too.
    chained = _spec("random", {**CONDITIONAL, "train.warmup_steps": {"values": [100, 400], "when": {"train.schedule": "linear"}},
                               "model.d_model": {"values": [32, 64], "when": {"train.warmup_steps": 400}}})
    assert not is_active(chained, "model.d_model", {"train.schedule": "constant", "train.warmup_steps": 400})
    assert is_active(chained, "model.d_model", {"train.schedule": "linear", "train.warmup_steps": 400})
    assert sampling_order({"b": chained.search.parameters["model.d_model"], **chained.search.parameters})[-1] == "model.d_model"


def test_grid_counts_only_the_valid_combinations():
    grid = {k: v for k, v in CONDITIONAL.items() if k != "train.lr"} | {"train.lr": {"values": [1e-3, 1e-2]}}
    spec = _spec("grid", grid, num_samples=2)
    combos = grid_combinations(spec)
    # inverse_sqrt and linear: 3 warmups x 2 lr each; constant: 2 lr, no warmup.
    assert space.grid_size(spec) == len(combos) == 14
    assert all(("train.warmup_steps" in c) == (c["train.schedule"] != "constant") for c in combos)
    assert len({tuple(sorted(c.items())) for c in combos}) == 14
    described = space.describe_trials(spec, 100)
    assert len(described) == 28 and described[:14] == described[14:]
    assert [{k: v for k, v in c.items() if k != "train.seed"} for c in described[:14]] == combos
    from tfcli.spec.describe import trial_count

    assert trial_count(spec) == 28


# --- conditional sampling ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["random", "tpe", "gp", "qmc", "nsga2"])
def test_inactive_parameters_never_reach_a_config(method):
    spec = _spec(method, CONDITIONAL, num_samples=12, seed=4)
    configs = space.describe_trials(spec, 12)
    assert len(configs) == 12
    for config in configs:
        assert ("train.warmup_steps" in config) == (config["train.schedule"] != "constant"), config
        assert config["train.seed"] == 3 and "train.lr" in config
    schedules = {c["train.schedule"] for c in configs}
    assert "constant" in schedules and len(schedules) >= 2  # both sides of the condition
    assert space.tuner_param_space(spec) == {"train.seed": 3}


def test_tpe_samples_the_conditional_parameter_only_under_its_condition():
    from optuna.trial import TrialState

    spec = _spec("tpe", CONDITIONAL, seed=2)
    searcher = space.make_searcher(spec, max_concurrent=0)
    study = searcher._ot_study
    for index in range(16):  # past TPE's 10 random startup trials: the model samples too
        config = searcher.suggest(f"t{index}")
        assert ("train.warmup_steps" in config) == (config["train.schedule"] != "constant"), config
        searcher.on_trial_complete(f"t{index}", {"bleu": config["train.lr"] * 1000, "training_iteration": 1})
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 16
    for trial in trials:  # what Optuna recorded: the parameter only where its condition held
        assert ("train.warmup_steps" in trial.params) == (trial.params["train.schedule"] != "constant")


def test_the_non_conditional_path_keeps_the_distribution_space():
    spec = _spec("tpe", NUMERIC)
    inner = _inner(space.make_searcher(spec))
    assert isinstance(inner._space, dict) and set(inner._space) == {"train.lr", "train.batch_tokens", "model.dropout"}
    conditional = _inner(space.make_searcher(_spec("tpe", CONDITIONAL)))
    assert callable(conditional._space)


def test_a_conditional_tpe_searcher_is_told_earlier_trials_with_their_active_parameters():
    from optuna.trial import TrialState

    spec = _spec("tpe", CONDITIONAL)
    points = [
        {"train.schedule": "constant", "train.lr": 1e-3, "train.seed": 3},
        {"train.schedule": "linear", "train.warmup_steps": 400, "train.lr": 2e-3, "train.seed": 3},
        {"train.schedule": "linear", "train.lr": 2e-3},  # lacks its active warmup: left out
        {"train.schedule": "constant", "train.lr": 1.0},  # outside the space: left out
    ]
    searcher = space.make_searcher(spec, points_to_evaluate=points, evaluated_rewards=[1.0, 2.0, 3.0, 4.0], max_concurrent=0)
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert [t.params for t in trials] == [
        {"train.schedule": "constant", "train.lr": 1e-3},
        {"train.schedule": "linear", "train.warmup_steps": 400, "train.lr": 2e-3},
    ]
    rerun = space.make_searcher(spec, points_to_evaluate=points[:2], evaluated_rewards=[1.0, 2.0], rerun=[points[1]], max_concurrent=0)
    assert len(rerun._ot_study.get_trials(states=(TrialState.COMPLETE,))) == 2
    assert rerun.suggest("r0") == {k: v for k, v in points[1].items() if k != "train.seed"}


def test_planned_searches_pickle_by_name_and_hand_out_the_plan():
    from ray import cloudpickle

    spec = _spec("random", CONDITIONAL, num_samples=3, max_concurrent=2)
    search = space.make_searcher(spec)
    assert type(search) is space.PlannedSearch and type(search.searcher) is space.PlannedSearcher
    searcher = search.searcher
    searcher.plan(3)
    first, second = searcher.suggest("a"), searcher.suggest("b")
    assert searcher.suggest("c") is None  # two live: the limit
    searcher.on_trial_complete("a")
    third = searcher.suggest("c")
    assert searcher.exhausted() and searcher.suggest("d") == "FINISHED"
    assert [first, second, third] == [{k: v for k, v in c.items() if k != "train.seed"} for c in space.describe_trials(spec, 3)]
    data = cloudpickle.dumps(search)  # as Tune saves a Tuner
    assert b"tfcli.study.space" in data and b"PlannedSearch" in data
    copy = pickle.loads(data)
    assert type(copy) is space.PlannedSearch and copy.searcher.exhausted()
    for dumps in (pickle.dumps, cloudpickle.dumps):  # the searcher's own checkpoint
        assert type(pickle.loads(dumps(searcher))) is space.PlannedSearcher


def test_a_planned_random_extension_draws_new_configurations():
    spec = _spec("random", CONDITIONAL, num_samples=6, seed=1)
    six = space.planned_configs(spec, 6)
    assert space.planned_configs(spec, 3, skip=3) == six[3:]


# --- samplers -------------------------------------------------------------------------------


SAMPLERS = {"tpe": "TPESampler", "gp": "GPSampler", "cmaes": "CmaEsSampler", "qmc": "QMCSampler", "nsga2": "NSGAIISampler"}


@pytest.mark.parametrize("method", list(SAMPLERS))
def test_each_sampler_is_seeded_and_repeats_its_configurations(method):
    spec = _spec(method, NUMERIC, seed=11, num_samples=6)
    searcher = space.make_searcher(spec)
    import optuna

    assert isinstance(_inner(searcher)._sampler, getattr(optuna.samplers, SAMPLERS[method]))
    assert isinstance(_inner(searcher), space.QuantizedOptunaSearch)
    first = space.describe_trials(spec, 6)
    assert first == space.describe_trials(spec, 6)
    assert len({tuple(sorted(c.items())) for c in first}) == 6
    for config in first:
        assert config["train.batch_tokens"] % 256 == 0 and type(config["train.batch_tokens"]) is int
        assert 1e-4 <= config["train.lr"] <= 1e-2
    other = space.describe_trials(_spec(method, NUMERIC, seed=12, num_samples=6), 6)
    assert other != first


def test_qmc_is_a_scrambled_sobol_sequence_and_an_extension_continues_it():
    spec = _spec("qmc", NUMERIC, seed=5, num_samples=4)
    sampler = _inner(space.make_searcher(spec))._sampler
    assert (sampler._qmc_type, sampler._scramble, sampler._seed) == ("sobol", True, 5)
    first = space.describe_trials(spec, 4)
    points = [{k: v for k, v in c.items() if k != "train.seed"} for c in first]
    extension = space.make_searcher(spec, points_to_evaluate=points, evaluated_rewards=[1.0, 2.0, 3.0, 4.0], max_concurrent=0)
    following = [extension.suggest(f"e{i}") for i in range(3)]
    assert not any(config in points for config in following)


def test_a_seeded_sampler_with_a_warm_start_is_told_the_earlier_trials():
    from optuna.trial import TrialState

    for method in ("gp", "cmaes", "qmc", "nsga2"):
        spec = _spec(method, NUMERIC)
        point = {"train.lr": 1e-3, "train.batch_tokens": 1024, "model.dropout": 0.1}
        told = space.make_searcher(spec, points_to_evaluate=[point], evaluated_rewards=[7.0], max_concurrent=0)
        assert [(t.state, t.value) for t in told._ot_study.trials] == [(TrialState.COMPLETE, 7.0)], method
        queued = space.make_searcher(spec, points_to_evaluate=[point], max_concurrent=0)
        assert queued.suggest("q") == point, method


# --- several objectives ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tpe", "nsga2", "gp", "qmc"])
def test_several_objectives_give_the_searcher_lists_and_it_learns_both(method):
    from optuna.trial import TrialState

    spec = make_spec(objective=TWO_OBJECTIVES, search={"method": method, "seed": 3, "parameters": NUMERIC, "max_concurrent": 2})
    searcher = space.make_searcher(spec)
    inner = _inner(searcher)
    assert (inner.metric, inner.mode) == (["bleu", "loss"], ["max", "min"])
    assert len(inner._ot_study.directions) == 2
    for index in range(6):
        config = inner.suggest(f"t{index}")
        bleu, loss = config["train.lr"] * 1000, 1.0 / config["train.batch_tokens"]
        inner.on_trial_complete(f"t{index}", {"bleu": bleu, "loss": loss, "training_iteration": 1})
    trials = inner._ot_study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 6 and all(len(t.values) == 2 for t in trials)
    assert inner._ot_study.best_trials  # a Pareto front
    random_searcher = space.make_searcher(make_spec(objective=TWO_OBJECTIVES, search={"parameters": NUMERIC}))
    assert type(random_searcher).__name__ == "BasicVariantGenerator"


def test_several_objectives_warm_start_with_a_list_per_point():
    from optuna.trial import TrialState

    spec = make_spec(objective=TWO_OBJECTIVES, search={"method": "nsga2", "parameters": NUMERIC})
    points = [
        {"train.lr": 1e-3, "train.batch_tokens": 1024, "model.dropout": 0.1},
        {"train.lr": 2e-3, "train.batch_tokens": 512, "model.dropout": 0.2},
        {"train.lr": 3e-3, "train.batch_tokens": 512, "model.dropout": 0.2},
    ]
    searcher = space.make_searcher(spec, points_to_evaluate=points, evaluated_rewards=[[20.0, 1.5], [25.0, 2.0], [30.0, None]], max_concurrent=0)
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert [t.values for t in trials] == [[20.0, 1.5], [25.0, 2.0]]
    conditional = make_spec(objective=TWO_OBJECTIVES, search={"method": "tpe", "parameters": CONDITIONAL})
    told = space.make_searcher(conditional, points_to_evaluate=[{"train.schedule": "constant", "train.lr": 1e-3}],
                               evaluated_rewards=[[1.0, 2.0]], max_concurrent=0)
    assert told._ot_study.trials[0].values == [1.0, 2.0]


def test_schedulers_act_on_the_scheduler_objective():
    spec = make_spec(objective=TWO_OBJECTIVES, scheduler={"type": "asha", "metric": "loss"}, search={"method": "tpe", "parameters": NUMERIC})
    assert (spec.scheduler_objective.metric, spec.scheduler_objective.mode) == ("loss", "min")
    asha = space.make_scheduler(spec, *space.scheduler_objective(spec))
    assert (asha._metric, asha._mode) == ("loss", "min")


# --- known starting points ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tpe", "gp", "cmaes", "qmc", "nsga2", "random"])
def test_initial_points_are_the_first_configurations(method):
    parameters = NUMERIC if method == "cmaes" else {**NUMERIC, "model.d_model": {"values": [32, 64]}}
    initial = [{"train.lr": 1e-3, "train.batch_tokens": 512, "model.dropout": 0.2}, {"train.lr": 5e-3}]
    if method != "cmaes":
        initial[0]["model.d_model"] = 64
    spec = _spec(method, parameters, initial=initial, num_samples=4, seed=2)
    configs = space.describe_trials(spec, 4)
    assert {k: configs[0][k] for k in initial[0]} == initial[0]
    assert configs[1]["train.lr"] == 5e-3 and set(configs[1]) == set(configs[0])  # a partial point is filled
    # extensions and rebuilds do not run them again
    later = space.make_searcher(spec, points_to_evaluate=[{k: v for k, v in configs[0].items() if k != "train.seed"}],
                                evaluated_rewards=[1.0], max_concurrent=0)
    if method != "random":
        assert _inner(later).suggest("x") != {k: v for k, v in configs[0].items() if k != "train.seed"}
    assert not space.make_searcher(spec, initial=False, max_concurrent=0) is None


def test_initial_points_with_a_condition_under_tpe_and_random():
    initial = [{"train.schedule": "constant", "train.lr": 2e-3}, {"train.schedule": "linear"}]
    for method in ("tpe", "random"):
        configs = space.describe_trials(_spec(method, CONDITIONAL, initial=initial, num_samples=3), 3)
        assert configs[0] == {"train.schedule": "constant", "train.lr": 2e-3, "train.seed": 3}
        assert configs[1]["train.schedule"] == "linear" and configs[1]["train.warmup_steps"] in (100, 400, 1600)


def test_every_optuna_searcher_pickles_as_tune_saves_it():
    from ray import cloudpickle

    for method in ("tpe", "gp", "cmaes", "qmc", "nsga2"):
        searcher = space.make_searcher(_spec(method, NUMERIC), max_concurrent=0)
        searcher.suggest("t0")
        copy = pickle.loads(cloudpickle.dumps(searcher))
        assert copy.suggest("t1") == searcher.suggest("t1"), method
