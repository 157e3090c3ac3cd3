"""The only private Ray APIs that tfcli.cluster touches, in one place.

Checked against Ray 2.60.0; neither has a public equivalent there.
``tests/study/test_ray_internals.py`` fails loudly when one changes: re-check this module
against the new Ray before updating the test.

- :func:`auth_headers`: ``ray._private.authentication.http_token_authentication.
  get_auth_headers_if_auth_enabled``, the headers a job-server request needs when the
  cluster has token authentication on.
- :data:`TOKEN_SETUP_LOGGER`: the name of the logger that warns on every local start that
  token authentication is on.
"""

from __future__ import annotations

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
