"""`lineage serve`: the HTTP API (OpenLineage ingest and the read API) over a store."""

from __future__ import annotations

import click

from lineage.server import (
    DEFAULT_EXPECT_SECONDS,
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_GROUP_EVENTS,
    DEFAULT_PORT,
    ServerSettings,
)
from lineage.server import serve as run_server

from .context import App, pass_app


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. Anything but a loopback address needs tokens.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="The TCP port to listen on.")
@click.option("--store", "url", default=None, metavar="URL",
              help="The store to serve [default: the global --store / $LINEAGE_URL].")
@click.option("--no-auth", is_flag=True,
              help="Serve every request without a token, with every scope. Loopback only, "
                   "unless --insecure-no-auth-on-network.")
@click.option("--insecure-no-auth-on-network", "insecure", is_flag=True,
              help="Allow --no-auth on a non-loopback address: anyone who reaches the port "
                   "can write lineage and assertions.")
@click.option("--max-body-mb", type=click.FloatRange(min=0.001), metavar="MB",
              default=DEFAULT_MAX_BODY_BYTES / 1024 / 1024, show_default=True,
              help="Largest request body accepted (413 beyond it; gzip bodies after "
                   "decompression too).")
@click.option("--group-events", type=click.IntRange(min=1), default=DEFAULT_MAX_GROUP_EVENTS,
              show_default=True, metavar="N",
              help="Most events one ingest transaction takes: concurrent ingest requests are "
                   "group-committed, each still answered on its own (1: a transaction each).")
@click.option("--group-linger-ms", type=click.FloatRange(min=0), default=0.0,
              show_default=True, metavar="MS",
              help="How long the ingest writer waits for more requests to join a group.")
@click.option("--group-expect-ms", type=click.FloatRange(min=0),
              default=DEFAULT_EXPECT_SECONDS * 1000, show_default=True, metavar="MS",
              help="Longest wait of the ingest writer for the producers its last group "
                   "answered (OpenLineage clients send their next event once answered), so "
                   "that concurrent producers share transactions instead of alternating in "
                   "halves (3.1 requests a transaction instead of 2.2 with 4 producers); a "
                   "single producer never waits (0: never wait).")
@click.option("--ingest-writer", "ingest_writer",
              type=click.Choice(["auto", "process", "thread"]), default="auto",
              show_default=True,
              help="Where ingest transactions are written: a process of their own (the HTTP "
                   "event loop and the writer then do not share one interpreter lock; it "
                   "parses each request's body, so a large one never stalls the server) or "
                   "a thread of the server. auto: a process on SQLite and PostgreSQL, a "
                   "thread on other backends.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              metavar="N",
              help="Server processes sharing the port (POSIX; each has its own ingest writer). "
                   "On SQLite their writers take turns on the database lock, so more workers "
                   "serve more reads but rarely write faster (bench/NOTES-2026-12.md, "
                   "'Ingest').")
@click.option("--strict", is_flag=True,
              help="Reject a whole event (400) when one of its facets is invalid. By default "
                   "the facet is dropped, the event stored and the answer lists the dropped "
                   "facets with their JSON paths.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info",
                                                "debug"]), default="info", show_default=True,
              help="How much the server logs to stderr.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request.")
@pass_app
def serve(app: App, host: str, port: int, url: str | None, no_auth: bool, insecure: bool,
          max_body_mb: float, group_events: int, group_linger_ms: float, group_expect_ms: float,
          ingest_writer: str,
          workers: int, strict: bool, log_level: str, access_log: bool) -> None:
    """Serve the HTTP API until interrupted (Ctrl-C).

    POST /api/v1/lineage takes OpenLineage events exactly as the official clients'
    HttpTransport sends them (point OPENLINEAGE_URL at http://HOST:PORT and give a token
    as its api key). The core of each event is validated strictly (400 naming the JSON
    path); an invalid optional facet is dropped and listed in the answer's dropped_facets,
    as Marquez accepts such events (--strict: 400 instead). POST /api/v1/lineage/batch
    answers per event (200 with failed_events; 400 when none could be stored); GET
    /api/v1/health counts dropped facets. The read API (nodes, lineage graph, impact,
    provenance, the training check) and record assertions live under /api/v1; the OpenAPI
    description is at /openapi.json and interactive docs at /docs.
    The explorer, a web page for people (search, node pages, the graph, what a change
    breaks, the training check), is at / and signs in with a read token.

    Every request needs `Authorization: Bearer <token>` with the right scope; create
    tokens with `lineage token create`. --no-auth is for a laptop: the server then refuses
    to listen on anything but a loopback address unless --insecure-no-auth-on-network.

    \b
    Exit codes: 0 stopped, 2 refused (e.g. --no-auth on a network address),
    7 the store cannot be opened.

    \b
    Examples:
      lineage token create airflow --scope write:lineage
      lineage serve --port 8700                       # the explorer: http://127.0.0.1:8700/
      lineage serve --store postgresql://postgres@127.0.0.1:5432/test --host 0.0.0.0
      lineage serve --no-auth                         # 127.0.0.1 only
      lineage serve --workers 2                       # two processes on one port
      lineage serve --ingest-writer thread            # no writer process
      lineage serve --strict                          # an invalid facet rejects its event
      lineage serve --group-expect-ms 2               # wait for the producers answered
    """
    settings = ServerSettings(auth=not no_auth, max_body_bytes=int(max_body_mb * 1024 * 1024),
                              max_group_events=group_events,
                              group_linger_seconds=group_linger_ms / 1000,
                              group_expect_seconds=group_expect_ms / 1000,
                              ingest_process=None if ingest_writer == "auto"
                              else ingest_writer == "process", strict=strict)
    run_server(url or app.url, host=host, port=port, settings=settings,
               allow_network_without_auth=insecure, log_level=log_level,
               access_log=access_log, workers=workers)
