"""Runs a study in its own process, as the CLI would; the runner tests start and signal it.

    python -m tests.study.study_script '{"base_dir": ..., "storage": ..., "spec": {...}, "resume": false}'

Prints one JSON line with the outcome when the study returns.
"""

from __future__ import annotations

import json
import sys

from ray import cloudpickle

from tests.study import fakes
from tests.study.conftest import make_spec
from tfcli.study.runner import run_study


def main(argv: list[str]) -> int:
    args = json.loads(argv[0])
    cloudpickle.register_pickle_by_value(fakes)
    spec = make_spec(args["base_dir"], **args.get("spec", {}))
    outcome = run_study(
        spec,
        fakes.fake_trainable,
        storage=args["storage"],
        callbacks=[],
        study_id="subprocess",
        resume=args.get("resume", False),
        address=args.get("address"),
    )
    print(
        json.dumps(
            {
                "interrupted": outcome.interrupted,
                "finished": outcome.finished,
                "unfinished": outcome.unfinished,
                "statuses": {t.trial_id: t.status.label for t in outcome.trials},
                "path": outcome.experiment_path,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
