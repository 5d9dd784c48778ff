"""The HTTP server: OpenLineage-compatible ingest and the read API, thin over the library.

    from lineage.server import create_app, serve
    serve("sqlite:///lineage.db", host="127.0.0.1", port=8700)      # blocks; `lineage serve`
    app = create_app(store)                                         # any ASGI server

Endpoints (all under /api/v1; OpenAPI at /openapi.json, docs at /docs):

=============================  =============  ==================================================
``POST /lineage``              write:lineage  one OpenLineage event as the official clients'
                                              HttpTransport sends it (gzip allowed), or an array;
                                              201, invalid facets dropped and listed
``POST /lineage/batch``        write:lineage  an array of events, or ``{"events": [...]}``;
                                              answered per event (200, or 400 if none stored)
``GET /nodes``                 read           find nodes: ``q``, ``kind`` (repeatable), ``limit``
``GET /nodes/{name}``          read           a node (key or unambiguous suffix), its neighbours
``GET /lineage/graph``         read           ``node``, ``direction`` up/down/both, ``depth``,
                                              ``format`` json/svg/dot
``GET /impact``                read           ``field``, ``change`` (repeatable), ``depth``
``GET /provenance/{dataset}``  read           who asserted the dataset's values (``version``)
``POST /training/check``       read           the guard's report (200 with ``passed``)
``POST /assertions``           assert         record assertions of an origin the token may assert
``POST /validate``             read           a batch (multipart file ``table``) against its
                                              schema and contracts (200 with ``passed``);
                                              ``record=true``: write:lineage
``POST /profile``              write:lineage  profile an uploaded batch, store it (201)
``GET /profile``               read           a stored profile: ``dataset``, ``run``
``POST /drift``                read           an upload, or a stored profile named in JSON,
                                              against the training profiles (200 with
                                              ``drifted``); ``notify=true``: write:lineage
``GET /freshness``             read           stale inputs, late runs: ``name``, ``now``
``GET /skew/{model@version}``  read           training-serving skew (200 with ``skewed``)
``GET /audit``                 admin          the audit log
``GET /health``                none           liveness, ingest counters (dropped facets...)
=============================  =============  ==================================================

Ingest is group-committed by one writer (see `_writer`; on SQLite and PostgreSQL a process
of its own, `ServerSettings.ingest_process`), which receives each request's raw body and
parses it: concurrent requests share a transaction, each still answered with its own success
or error once it has committed. Large `/assertions` and `/training/check` bodies are read in
a process of their own too, so no request's content holds the server's interpreter lock.

A verified token is trusted for `ServerSettings.token_cache_seconds` (default 5 s) without
reading the store again: a token revoked with `lineage token revoke` is refused at most that
long afterwards.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .._errors import ValidationError
from ..store.base import Store
from ._app import DEFAULT_TOKEN_CACHE_SECONDS, ServerSettings, create_app
from ._http import DEFAULT_MAX_BODY_BYTES, STATUS, status_of
from ._writer import DEFAULT_EXPECT_SECONDS, DEFAULT_MAX_GROUP_EVENTS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700

__all__ = [
    "DEFAULT_EXPECT_SECONDS",
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_GROUP_EVENTS",
    "DEFAULT_PORT",
    "DEFAULT_TOKEN_CACHE_SECONDS",
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
          log_level: str = "info", access_log: bool = True, workers: int = 1,
          **uvicorn_options: Any) -> None:
    """Run the API with uvicorn until interrupted. Refuses (ValidationError) to serve
    without authentication on a non-loopback host unless `allow_network_without_auth`.

    `workers` > 1 (POSIX, `store` a URL) forks that many server processes sharing one
    listening socket, each with its own store connections and ingest writer (see
    bench/NOTES-2026-12.md "Ingest" for what that buys). Safe because
    ingest merges run states inside its write transaction (`Store.apply(merge=...)`); on
    SQLite the workers' write transactions take turns on the database lock (busy_timeout)."""
    import uvicorn

    from ..store import connect

    config = settings or ServerSettings()
    check_exposure(host, auth=config.auth, allow_network_without_auth=allow_network_without_auth)
    if workers < 1:
        raise ValidationError(f"workers must be at least 1, got {workers}")
    if workers > 1:
        if not isinstance(store, str):
            raise ValidationError("several workers need the store's URL: each process opens "
                                  "its own connections")
        connect(store).close()  # a bad URL is an error here, not in every worker
        _serve_forked(store, workers, host, port, config, log_level, access_log,
                      uvicorn_options)
        return
    # Open the store before binding, so a bad URL is an error here, not a failed startup.
    opened = connect(store) if isinstance(store, str) else store
    try:
        uvicorn.run(create_app(opened, config), host=host, port=port, log_level=log_level,
                    access_log=access_log, **uvicorn_options)
    finally:
        if isinstance(store, str):
            opened.close()


def _serve_forked(url: str, workers: int, host: str, port: int, settings: ServerSettings,
                  log_level: str, access_log: bool, uvicorn_options: dict[str, Any]) -> None:
    """Bind once, fork `workers` uvicorn servers on the socket, wait for them; SIGINT or
    SIGTERM to this process stops them all (each finishes its queued ingest first)."""
    import os
    import signal
    import socket

    import uvicorn

    from ..store import connect

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of a socket that
    # says it is TCP. Without it, Nagle held each response's body behind its headers until
    # the client's delayed ACK: 40 ms a request with --workers 2.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: its own store (connections must not cross a fork)
            code = 0
            try:
                with connect(url) as opened:
                    uvicorn.Server(uvicorn.Config(
                        create_app(opened, settings), log_level=log_level,
                        access_log=access_log, **uvicorn_options)).run(sockets=[sock])
            except BaseException:  # noqa: BLE001 - reported by uvicorn's logging; exit non-zero
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    sock.close()

    def stop(signum: int, _frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            while True:
                try:
                    os.waitpid(child, 0)
                    break
                except InterruptedError:
                    continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
