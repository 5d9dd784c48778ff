"""The HTTP server: OpenLineage-compatible ingest and the read API, thin over the library.

    from lineage.server import create_app, serve
    serve("sqlite:///lineage.db", host="127.0.0.1", port=8700)      # blocks; `lineage serve`
    app = create_app(store)                                         # any ASGI server

Endpoints (all under /api/v1; OpenAPI at /openapi.json, docs at /docs):

=============================  =============  ==================================================
``POST /lineage``              write:lineage  one OpenLineage event as the official clients'
                                              HttpTransport sends it (gzip allowed), or an array
``POST /lineage/batch``        write:lineage  an array of events, or ``{"events": [...]}``
``GET /nodes``                 read           find nodes: ``q``, ``kind`` (repeatable), ``limit``
``GET /nodes/{name}``          read           a node (key or unambiguous suffix), its neighbours
``GET /lineage/graph``         read           ``node``, ``direction`` up/down/both, ``depth``,
                                              ``format`` json/svg/dot
``GET /impact``                read           ``field``, ``change`` (repeatable), ``depth``
``GET /provenance/{dataset}``  read           who asserted the dataset's values (``version``)
``POST /training/check``       read           the guard's report (200 with ``passed``)
``POST /assertions``           assert         record assertions of an origin the token may assert
``GET /audit``                 admin          the audit log
``GET /health``                none           liveness
=============================  =============  ==================================================

Ingest is group-committed by one writer thread (see `_writer`): concurrent requests share a
transaction, each still answered with its own success or error.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .._errors import ValidationError
from ..store.base import Store
from ._app import ServerSettings, create_app
from ._http import DEFAULT_MAX_BODY_BYTES, STATUS, status_of
from ._writer import DEFAULT_MAX_GROUP_EVENTS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_GROUP_EVENTS",
    "DEFAULT_PORT",
    "STATUS",
    "ServerSettings",
    "check_exposure",
    "create_app",
    "is_loopback",
    "serve",
    "status_of",
]


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, `localhost`)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address: assume it does


def check_exposure(host: str, *, auth: bool, allow_network_without_auth: bool = False) -> None:
    """ValidationError when serving on `host` without authentication would expose the store
    beyond this machine, unless that was asked for explicitly."""
    if auth or is_loopback(host) or allow_network_without_auth:
        return
    raise ValidationError(
        f"refusing to serve without authentication on {host}, which other machines can reach: "
        "anyone could write lineage and assertions. Use tokens (drop --no-auth; create one "
        "with `lineage token create`), bind to 127.0.0.1, or pass "
        "--insecure-no-auth-on-network if this network is really trusted")


def serve(store: Store | str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          settings: ServerSettings | None = None, allow_network_without_auth: bool = False,
          log_level: str = "info", access_log: bool = True, **uvicorn_options: Any) -> None:
    """Run the API with uvicorn until interrupted. Refuses (ValidationError) to serve
    without authentication on a non-loopback host unless `allow_network_without_auth`."""
    import uvicorn

    from ..store import connect

    config = settings or ServerSettings()
    check_exposure(host, auth=config.auth, allow_network_without_auth=allow_network_without_auth)
    # Open the store before binding, so a bad URL is an error here, not a failed startup.
    opened = connect(store) if isinstance(store, str) else store
    try:
        uvicorn.run(create_app(opened, config), host=host, port=port, log_level=log_level,
                    access_log=access_log, **uvicorn_options)
    finally:
        if isinstance(store, str):
            opened.close()
