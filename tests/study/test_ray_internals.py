"""The private Ray (and Optuna) APIs tfcli relies on still exist with the shape it uses.

If one of these fails after a Ray upgrade, re-check tfcli/study/ray_internals.py,
tfcli/cluster/ray_internals.py and tfcli/tracking/ray_trial.py against the new Ray (and look
for a public API that replaces the internal) before touching this test.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from tfcli.cluster import ray_internals as cluster_internals
from tfcli.study import ray_internals


def test_the_checked_ray_version_is_the_installed_one():
    import ray

    assert ray.__version__ == ray_internals.CHECKED_RAY_VERSION == cluster_internals.CHECKED_RAY_VERSION, (
        f"Ray {ray.__version__} is installed, but tfcli's use of Ray internals was checked against "
        f"{ray_internals.CHECKED_RAY_VERSION}: re-check the ray_internals modules and tracking/ray_trial.py"
    )


def test_tuners_keep_their_in_process_tuner_internal(tmp_path):
    from ray import tune
    from ray.tune.impl.tuner_internal import TunerInternal

    tuner = tune.Tuner(lambda config: None, run_config=tune.RunConfig(name="x", storage_path=str(tmp_path)))
    assert isinstance(tuner._local_tuner, TunerInternal)
    marker = object()
    ray_internals.set_tuner_callbacks(tuner, [marker])
    assert tuner._local_tuner.get_run_config().callbacks == [marker]


def test_the_train_session_getter_and_its_report():
    from ray.train._internal import session

    assert callable(session.get_session)
    assert list(inspect.signature(session._TrainSession.report).parameters)[:3] == ["self", "metrics", "checkpoint"]
    assert ray_internals.trial_session() is None  # outside a trial


def test_the_checkpoint_manager_fields_the_tracking_callback_reads():
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.tune.experiment.trial import Trial
    from ray.tune import CheckpointConfig

    manager = _CheckpointManager(CheckpointConfig(num_to_keep=1))
    assert manager._checkpoint_results == []
    assert manager.latest_checkpoint_result is None is manager._latest_checkpoint_result
    metadata_class = importlib.import_module("ray.tune.trainable.metadata")._TrainingRunMetadata
    assert all(callable(getattr(metadata_class, name)) for name in ("from_json_state", "get_json_state", "invalidate_cache"))
    assert "run_metadata" in inspect.getsource(Trial.__init__)
    assert hasattr(importlib.import_module("ray.tune.experiment.trial"), "_TrainingRunMetadata")


def test_hyperband_keeps_each_trials_bracket():
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import HyperBandScheduler
    from ray.tune.schedulers.hyperband import _Bracket

    scheduler = HyperBandScheduler(time_attr="step", metric="bleu", mode="max", max_t=40)
    trial = Trial("fake", stub=True)
    scheduler.on_trial_add(None, trial)
    [(found, bracket)] = ray_internals.hyperband_trial_brackets(scheduler)
    assert found is trial and isinstance(bracket, _Bracket)
    assert bracket.current_trials() == [trial] and bracket.finished() is False
    assert trial.is_saving is False and Trial.PAUSED == "PAUSED"


def test_optuna_distributions_answer_contains():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    assert ray_internals.distribution_contains(FloatDistribution(0.0, 1.0), 0.5)
    assert not ray_internals.distribution_contains(FloatDistribution(0.0, 1.0), 2.0)
    assert ray_internals.distribution_contains(IntDistribution(1, 4, step=1), 3)
    assert ray_internals.distribution_contains(CategoricalDistribution([16, 32]), 32)
    with pytest.raises(ValueError):
        ray_internals.distribution_contains(CategoricalDistribution([16, 32]), 64)


def test_the_token_authentication_internals():
    module = importlib.import_module("ray._private.authentication.http_token_authentication")
    assert callable(module.get_auth_headers_if_auth_enabled)
    importlib.import_module(cluster_internals.TOKEN_SETUP_LOGGER)  # the logger is named after its module
    assert isinstance(cluster_internals.auth_headers(), dict)


def test_a_pickled_nsga2_sampler_loads_by_its_old_and_new_name():
    """Tune pickles the searcher with the Tuner: a study started while the sampler class lived
    in ray_internals still resumes; the lock Optuna keeps is remade."""
    import pickle

    from tfcli.study import optuna_internals

    data = pickle.dumps(optuna_internals.PicklableNSGAIISampler(seed=1), protocol=2)
    old = data.replace(b"tfcli.study.optuna_internals", b"tfcli.study.ray_internals")
    assert old != data
    for blob in (data, old):
        sampler = pickle.loads(blob)
        assert type(sampler) is optuna_internals.PicklableNSGAIISampler
        assert not sampler._thread_lock.locked()


def test_optuna_search_keeps_each_ray_trials_live_optuna_trial():
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)}, metric="y", mode="max", seed=1)
    assert ray_internals.optuna_search_trial(searcher, "a") is None
    searcher.suggest("a")
    trial = ray_internals.optuna_search_trial(searcher, "a")
    assert isinstance(trial, optuna.trial.Trial) and trial is searcher._ot_trials["a"]
    trial.set_constraint("c", 1.0)  # what QuantizedOptunaSearch does before OptunaSearch tells the study
    searcher.on_trial_complete("a", {"y": 0.5})
    assert ray_internals.optuna_search_study(searcher).get_trials()[0].constraints == {"c": 1.0}


def test_the_driver_staging_layout_of_experiment_state():
    """Ray stages the driver's experiment files under <temp>/session_*/artifacts/<time>/<experiment>/driver_artifacts."""
    from ray._common.utils import get_default_ray_temp_dir
    from ray.train._internal.storage import StorageContext

    assert callable(get_default_ray_temp_dir)
    source = inspect.getsource(StorageContext)
    assert 'Path(self._get_session_path(), "driver_artifacts")' in source
    assert "_get_ray_train_session_dir(), self._timestamp, self.experiment_dir_name" in source
    assert ray_internals.staged_state_files("no-such-experiment", "experiment_state-x.json") == []
