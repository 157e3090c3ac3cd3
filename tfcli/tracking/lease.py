"""One driver per study on a server store: a lease recorded on the study's parent run.

A local store has a file lock (:mod:`tfcli.tracking.locks`); a tracking server has no shared
file system, so the driver of a study (``start``, ``resume``, ``extend``, ``confirm``) holds a
*lease*: a tag ``tfcli.lease.<holder>`` on the parent run whose value says who holds it and
until when. The holder renews it every third of its time to live while it lives; a driver
that dies stops renewing, and its lease lapses after :func:`lease_ttl_s` seconds, after which
another driver takes the study over. So two drivers never run one study, and a crash never
locks it forever.

MLflow has no compare-and-set, so taking a lease is: read the live leases, refuse if another
driver holds one, write ours, wait :data:`SETTLE_S`, read again; of the live leases then, the
earliest taken wins (ties by holder id) and every other driver removes its tag and refuses.
Two drivers that race both see both tags and agree on the winner.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from tfcli.errors import StudyError
from tfcli.tracking.tags import ROLE_STUDY, TAG_ROLE, tag_field

LEASE_TAG_PREFIX = "tfcli.lease."
#: Environment variable for a lease's time to live in seconds (tests make it short).
TTL_ENV = "TFCLI_LEASE_TTL_S"
DEFAULT_TTL_S = 60.0
#: Seconds between writing a lease and reading back who holds the study.
SETTLE_S = 1.0


def lease_ttl_s() -> float:
    """Seconds a lease lives without renewal: ``$TFCLI_LEASE_TTL_S``, else 60."""
    try:
        return max(float(os.environ.get(TTL_ENV, DEFAULT_TTL_S)), 3.0)
    except ValueError:
        return DEFAULT_TTL_S


@dataclass(frozen=True)
class LeaseEntry:
    """One driver's lease as its tag records it."""

    holder: str
    owner: str  # host:pid, for the message
    taken_ms: int
    expires_ms: int

    def live(self, now_ms: int) -> bool:
        return self.expires_ms > now_ms

    def value(self) -> str:
        return json.dumps({"owner": self.owner, "taken_ms": self.taken_ms, "expires_ms": self.expires_ms})


def parse_leases(tags: dict[str, str]) -> list[LeaseEntry]:
    """The leases among a run's tags; unreadable ones are skipped."""
    entries = []
    for key, value in tags.items():
        if not key.startswith(LEASE_TAG_PREFIX):
            continue
        try:
            data = json.loads(value)
            entries.append(LeaseEntry(key[len(LEASE_TAG_PREFIX):], str(data["owner"]), int(data["taken_ms"]), int(data["expires_ms"])))
        except (ValueError, KeyError, TypeError):
            continue
    return entries


def lease_winner(entries: list[LeaseEntry], now_ms: int) -> Optional[LeaseEntry]:
    """Who holds the study among ``entries``: the earliest live lease (ties by holder id)."""
    live = [e for e in entries if e.live(now_ms)]
    return min(live, key=lambda e: (e.taken_ms, e.holder), default=None)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _held_by(name: str, entry: LeaseEntry) -> StudyError:
    until = time.strftime("%H:%M:%S", time.localtime(entry.expires_ms / 1000))
    return StudyError(
        f"study {name!r} is being run by another tfcli driver ({entry.owner}, lease renewed until {until}); "
        f"wait for it to end, or stop it (Ctrl-C) and then `tfcli study resume {name}` (a crashed driver's "
        f"lease lapses {lease_ttl_s():g} s after its last renewal)"
    )


class DriverLease:
    """This driver's lease on one study of a server store (see the module docstring).

    :meth:`acquire` takes it on the study's parent run when one exists; a new study's driver
    passes :meth:`tags` to the parent run it creates and then calls :meth:`attach`. While held,
    a daemon thread renews it; :meth:`release` removes it.
    """

    def __init__(self, client, name: str) -> None:
        self._client = client
        self.name = name
        self.holder = uuid.uuid4().hex[:16]
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.taken_ms = _now_ms()
        self.run_id: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def key(self) -> str:
        return LEASE_TAG_PREFIX + self.holder

    def _entry(self) -> LeaseEntry:
        return LeaseEntry(self.holder, self.owner, self.taken_ms, _now_ms() + int(lease_ttl_s() * 1000))

    def tags(self) -> dict[str, str]:
        """The lease as a tag, for a parent run created with it."""
        return {self.key: self._entry().value()}

    def _leases(self, run_id: str) -> list[LeaseEntry]:
        return parse_leases(dict(self._client.get_run(run_id).data.tags))

    def check(self) -> None:
        """StudyError if another driver holds a live lease on the study; takes nothing."""
        run_id = parent_run_id(self._client, self.name)
        winner = lease_winner(self._leases(run_id), _now_ms()) if run_id else None
        if winner is not None and winner.holder != self.holder:
            raise _held_by(self.name, winner)

    def acquire(self) -> None:
        """Take the lease on the study's parent run, if it has one; StudyError if another
        driver holds it."""
        run_id = parent_run_id(self._client, self.name)
        if run_id is None:
            return
        winner = lease_winner(self._leases(run_id), _now_ms())
        if winner is not None and winner.holder != self.holder:
            raise _held_by(self.name, winner)
        self.taken_ms = _now_ms()
        self._client.set_tag(run_id, self.key, self._entry().value())
        time.sleep(SETTLE_S)
        winner = lease_winner(self._leases(run_id), _now_ms())
        if winner is None or winner.holder != self.holder:
            self._client.delete_tag(run_id, self.key)
            raise _held_by(self.name, winner) if winner else StudyError(f"study {self.name!r}: the lease could not be taken")
        self._clear_lapsed(run_id)
        self.attach(run_id)

    def _clear_lapsed(self, run_id: str) -> None:
        """Remove the tags of leases that lapsed (drivers that died holding them)."""
        now = _now_ms()
        for entry in self._leases(run_id):
            if entry.holder != self.holder and not entry.live(now):
                self._client.delete_tag(run_id, LEASE_TAG_PREFIX + entry.holder)

    def attach(self, run_id: str) -> None:
        """Hold the lease recorded on ``run_id`` and renew it until :meth:`release`."""
        self.run_id = run_id
        self._thread = threading.Thread(target=self._renew, name=f"tfcli-lease-{self.name}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(lease_ttl_s() / 3):
            try:
                self._client.set_tag(self.run_id, self.key, self._entry().value())
            except Exception:  # noqa: BLE001 - a server away for a moment; the next renewal tries again
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.run_id is not None:
            try:
                self._client.delete_tag(self.run_id, self.key)
            except Exception:  # noqa: BLE001 - the lease then lapses by itself
                pass


def parent_run_id(client, name: str) -> Optional[str]:
    """The run id of study ``name``'s parent run (the earliest, as the name claim decides)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None or experiment.lifecycle_stage != "active":
        return None
    parents = client.search_runs([experiment.experiment_id], f"{tag_field(TAG_ROLE)} = '{ROLE_STUDY}'", max_results=100)
    first = min(parents, key=lambda r: (r.info.start_time, r.info.run_id), default=None)
    return first.info.run_id if first else None
