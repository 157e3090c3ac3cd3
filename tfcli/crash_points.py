"""Named points in a study's start-up where the tests kill the driver on purpose.

``TFCLI_CRASH_AT=<name>`` makes :func:`reached` send SIGKILL to this process when the
driver passes the point ``name``: the crash-window tests (``tests/study/test_crash_windows.py``)
use it to stop a study exactly between two of its writes, which no timing-based kill can do
reliably. Unset (always, outside those tests) it does nothing.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "TFCLI_CRASH_AT"

#: The parent run exists in MLflow; Ray has saved nothing yet.
AFTER_PARENT_RUN = "after_parent_run"
#: Ray has written ``tuner.pkl``; ``fit()`` has not started, so no experiment state exists.
AFTER_TUNER_SAVED = "after_tuner_saved"
#: The first trial started (its MLflow run queued); Ray may not have saved its state yet.
AFTER_FIRST_TRIAL_START = "after_first_trial_start"

#: MLflow's migrations of a new store have created their first ``_alembic_tmp_`` table.
DURING_STORE_MIGRATION = "during_store_migration"

POINTS = (AFTER_PARENT_RUN, AFTER_TUNER_SAVED, AFTER_FIRST_TRIAL_START, DURING_STORE_MIGRATION)


def armed(name: str) -> bool:
    """Whether ``$TFCLI_CRASH_AT`` names the point ``name``."""
    return os.environ.get(ENV_VAR) == name


def reached(name: str) -> None:
    """Kill this process with SIGKILL if ``$TFCLI_CRASH_AT`` names this point."""
    if armed(name):
        os.kill(os.getpid(), signal.SIGKILL)
