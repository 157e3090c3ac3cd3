"""One driver per study on a server store: the lease on the parent run (issue 25).

The lease works through MLflow's client alone, so these tests drive it against a real MLflow
store; tests/cluster/test_server_lease.py runs two drivers against a real `mlflow server`.
"""

from __future__ import annotations

import threading

import pytest

from tfcli.errors import StudyError
from tfcli.tracking.lease import LEASE_TAG_PREFIX, DriverLease, lease_winner, parse_leases
from tfcli.tracking.tags import ROLE_STUDY, TAG_ROLE

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def client(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("TFCLI_LEASE_TTL_S", "3")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    client.create_run(client.create_experiment("s"), tags={TAG_ROLE: ROLE_STUDY})
    return client


def lease_tags(client) -> dict[str, str]:
    run = client.search_runs([client.get_experiment_by_name("s").experiment_id])[0]
    return {k: v for k, v in run.data.tags.items() if k.startswith(LEASE_TAG_PREFIX)}


def test_a_held_lease_refuses_a_second_driver_until_it_is_released(client):
    first, second = DriverLease(client, "s"), DriverLease(client, "s")
    first.acquire()
    with pytest.raises(StudyError, match="being run by another tfcli driver"):
        second.acquire()
    with pytest.raises(StudyError, match="being run by another tfcli driver"):
        second.check()
    first.release()
    assert lease_tags(client) == {}
    second.acquire()
    second.release()


def test_two_drivers_racing_for_one_study_end_with_exactly_one_holder(client):
    leases = [DriverLease(client, "s") for _ in range(3)]
    outcomes: list = [None] * len(leases)

    def take(i: int) -> None:
        try:
            leases[i].acquire()
            outcomes[i] = "held"
        except StudyError as err:
            outcomes[i] = str(err)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(leases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("held") == 1, outcomes
    holder = leases[outcomes.index("held")]
    assert list(lease_tags(client)) == [holder.key]
    holder.release()


def test_a_crashed_drivers_lease_lapses_and_a_live_one_is_renewed(client):
    import time

    crashed = DriverLease(client, "s")
    crashed.acquire()
    time.sleep(4)  # past the 3 s time to live: renewed, so still held
    with pytest.raises(StudyError):
        DriverLease(client, "s").acquire()
    crashed._stop.set()  # the driver dies: no renewal, no release
    crashed._thread.join()
    time.sleep(3.5)
    taker = DriverLease(client, "s")
    taker.acquire()
    assert list(lease_tags(client)) == [taker.key], "the lapsed lease's tag is cleared"
    taker.release()


def test_the_earliest_live_lease_wins_and_lapsed_ones_do_not_count():
    tags = {
        LEASE_TAG_PREFIX + "b": '{"owner": "h:2", "taken_ms": 100, "expires_ms": 5000}',
        LEASE_TAG_PREFIX + "a": '{"owner": "h:1", "taken_ms": 100, "expires_ms": 5000}',
        LEASE_TAG_PREFIX + "old": '{"owner": "h:0", "taken_ms": 1, "expires_ms": 900}',
        LEASE_TAG_PREFIX + "junk": "not json",
        "tfcli.role": "study",
    }
    entries = parse_leases(tags)
    assert sorted(e.holder for e in entries) == ["a", "b", "old"]
    assert lease_winner(entries, now_ms=1000).holder == "a"
    assert lease_winner(entries, now_ms=6000) is None
