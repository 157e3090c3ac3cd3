"""The only private Ray APIs that tfcli.cluster touches, in one place.

Checked against Ray 2.60.0; neither has a public equivalent there.
``tests/study/test_ray_internals.py`` fails loudly when one changes: re-check this module
against the new Ray before updating the test.

- :func:`auth_headers`: ``ray._private.authentication.http_token_authentication.
  get_auth_headers_if_auth_enabled``, the headers a job-server request needs when the
  cluster has token authentication on.
- :data:`TOKEN_SETUP_LOGGER`: the name of the logger that warns on every local start that
  token authentication is on.
- :data:`RAY_LOOPBACK_SWITCH` and :func:`loopback_only`: the constant that makes an embedded
  Ray listen on 127.0.0.1 only (``tests/cluster/test_defect10_ray_temp.py`` checks it).
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Iterator

#: The Ray version these were checked against.
CHECKED_RAY_VERSION = "2.60.0"

TOKEN_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"


def auth_headers() -> dict[str, str]:
    """The cluster's token header for job-server requests; {} without token authentication."""
    try:
        from ray._private.authentication.http_token_authentication import get_auth_headers_if_auth_enabled

        return dict(get_auth_headers_if_auth_enabled({}) or {})
    except Exception:  # noqa: BLE001 - a Ray without token authentication
        return {}


#: Private, checked against Ray 2.60.0 (no public setting does it there): the module constant
#: that makes Ray take loopback as the node's address, so that its servers (GCS, raylet, the
#: workers, the agents, the metrics ports) listen on 127.0.0.1 instead of all interfaces.
#: Ray reads it from ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when ``ray`` is imported;
#: ``ray.init(_node_ip_address="127.0.0.1")`` does not help: Ray 2.60 replaces a loopback
#: address by the machine's (``resolve_ip_for_localhost``). It is set only while an embedded
#: Ray starts, then put back. ``tests/cluster/test_defect10_ray_temp.py`` fails when it moves.
RAY_LOOPBACK_SWITCH = ("ray._private.ray_constants", "ENABLE_RAY_CLUSTER")


@contextmanager
def loopback_only() -> Iterator[None]:
    """While Ray starts: the node's address is loopback (see :data:`RAY_LOOPBACK_SWITCH`)."""
    module_name, name = RAY_LOOPBACK_SWITCH
    module = importlib.import_module(module_name)
    if not hasattr(module, name):  # another Ray: start as Ray does; the test says so loudly
        yield
        return
    saved = getattr(module, name)
    setattr(module, name, False)
    try:
        yield
    finally:
        setattr(module, name, saved)
