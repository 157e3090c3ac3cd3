"""The suite's own Ray: a fresh local one in this process, whatever Ray state the machine has.

``ray.init()`` without an address joins the cluster that ``RAY_ADDRESS`` or Ray's
``ray_current_cluster`` file (under Ray's temp folder) names. A ``ray start`` head that was
killed leaves that file behind, and ``ray.init(num_cpus=2)`` then refuses ("When connecting
to an existing cluster, num_cpus and num_gpus must not be provided"). ``address="local"``
always starts a new Ray, as ``tfcli study start`` does (:func:`tfcli.cluster.connect.connect`).
"""

from __future__ import annotations

#: CPUs of the suite's Ray sessions: the machine the suite is sized for has 2 cores.
SUITE_CPUS = 2


def start_local_ray(**settings):
    """``ray.init`` of a new local Ray with :data:`SUITE_CPUS` CPUs and no dashboard;
    ``settings`` add to or override the quiet defaults."""
    import ray

    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING", **settings}
    return ray.init(address="local", num_cpus=SUITE_CPUS, **options)
