"""The FastAPI application: OpenLineage ingest, the read API, assertions, the guard.

Each endpoint checks the caller's scope, parses its input and calls one library function;
the library's errors become JSON answers in `_http`. Nothing here builds queries. Table
bodies (JSON `rows`) are read by `_tables`, multipart uploads by `_forms`, ingest bodies by
the writer (`_writer`).
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at
# definition time, and the scoped-principal aliases are local to `create_app`.

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from .. import __version__, auth, health, provenance
from .._access import Principal
from .._errors import LineageError, NotFound, PermissionDenied, ValidationError
from .._vocabulary import NodeKind, edge_verb
from ..guard import Policy, check_training
from ..impact import change_impact, impact
from ..provenance._tables import FileBytes
from ..render import draw, neighbourhood, to_dot
from ..store.base import Store
from . import _forms, _http
from ._explorer import add_explorer
from ._http import DEFAULT_MAX_BODY_BYTES, Unauthenticated, UnsupportedMediaType
from ._tables import TableError, TableReader, validated
from ._writer import (
    DEFAULT_EXPECT_SECONDS,
    DEFAULT_MAX_GROUP_EVENTS,
    IngestWriter,
    ProcessIngestWriter,
)

API = "/api/v1"
#: how long a verified token is trusted without a store read: the bound on how late a
#: revocation takes effect (each request otherwise costs a token lookup in the store)
DEFAULT_TOKEN_CACHE_SECONDS = 5.0
#: distinct tokens cached at most; the cache starts over when full
_TOKEN_CACHE_SIZE = 1024
#: bodies up to this size are parsed on the event loop (well under a millisecond)
_PARSE_ON_LOOP_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """How the app behaves. `auth` False serves every request as `auth.ANONYMOUS` (all
    scopes); `max_body_bytes` bounds each request body (compressed and decompressed);
    `max_group_events` bounds one group-commit transaction of ingest, and
    `group_linger_seconds` is how long the writer waits for more requests to join a group
    (0: it writes what is queued at once; see bench/NOTES-2026-12.md, "Ingest", for what
    waiting buys), and `group_expect_seconds` the longest it waits for the producers the last
    group answered to send again (`lineage.server._writer`; 0: never).
    `token_cache_seconds`: how long a verified token is trusted without reading the store
    again, so a token revoked (`lineage token revoke`) is refused at most this long after;
    0 checks every request against the store. `ingest_process`: whether the ingest writer
    runs in a process of its own over the store's URL (`ProcessIngestWriter`: the event loop
    and the writer then do not share one interpreter lock), or in a thread of the server.
    None (default): a process for a SQL store another process can open (a SQLite file, a
    PostgreSQL database): the writer parses each request's raw body, and in a process of
    its own no parse of a large body holds the HTTP process's interpreter lock (on SQLite it
    is also +25-40% events/s in bench/ingest.py; on PostgreSQL within the noise of a busy
    machine), a thread otherwise. `strict`: an event with an invalid facet
    is rejected whole (400), as before the lenient mode; by default the facet is dropped, the
    event stored and the answer lists the dropped facets (`openlineage.check_event`)."""

    auth: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_group_events: int = DEFAULT_MAX_GROUP_EVENTS
    group_linger_seconds: float = 0.0
    group_expect_seconds: float = DEFAULT_EXPECT_SECONDS
    token_cache_seconds: float = DEFAULT_TOKEN_CACHE_SECONDS
    ingest_process: bool | None = None
    strict: bool = False


# ------------------------------------------------------------------ request bodies (for docs)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssertionRequest(_Strict):
    """Record assertions: who asserted each row's value of one field (see lineage.tag)."""

    dataset: str = Field(description="the dataset (a key or an unambiguous suffix)")
    field: str = Field(description="the field whose values the rows assert")
    key: str | list[str] = Field(description="the key column(s) naming each row's entity")
    origin: Literal["observed", "human_labelled", "ai_inferred"]
    agent: str = Field(description="a model version (fraud@3), a person or a system")
    confidence: float | None = Field(default=None, ge=0, le=1)
    confidence_column: str | None = None
    value_column: str | None = Field(default=None, description="default: the field's name")
    dataset_version: str | None = None
    source: str | None = None
    rows: list[dict[str, Any]] = Field(min_length=1, description="the table, one object a row")


class TrainingCheckRequest(_Strict):
    """A training table to check before fitting (see lineage.guard.check_training)."""

    rows: list[dict[str, Any]] = Field(min_length=1, description="the table, one object a row")
    key: str | list[str]
    label: str | list[str]
    dataset: str | None = None
    model: str | None = None
    concept: str | dict[str, str] | None = Field(
        default=None, description="check label columns against this concept instead of the "
        "one their field declares: one name for every label, or {column: concept} (the "
        "CLI's --concept)")
    policy: dict[str, Any] | None = Field(
        default=None, description="a guard Policy: min_confidence, unverified, low_confidence, "
        "allow_ai_above, lineage, max_examples")


class DriftRequest(_Strict):
    """Drift of a stored profile (no upload): `current` names it, `run` a run's."""

    dataset: str = Field(description="the dataset whose training profiles are compared")
    current: str = Field(description="NAME@VERSION whose stored profile is compared")
    run: str | None = Field(default=None, description="the run whose profile of `current`")
    against: str | None = Field(default=None, description="only this profiled NAME@VERSION")
    policy: dict[str, Any] | None = Field(
        default=None, description="thresholds: psi, ks_statistic, ks_pvalue, fields")
    psi: float | None = Field(default=None, ge=0)
    ks_statistic: float | None = Field(default=None, ge=0, le=1)
    ks_pvalue: float | None = Field(default=None, ge=0, le=1)
    notify: bool = Field(default=False, description="tell the consumers (scope write:lineage)")


class ErrorBody(BaseModel):
    """Every error: the error class, a message saying what, where and what to do, and the
    error's own fields (`key`: the JSON path of the offending field; `suggestions`,
    `candidates`, ...)."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str


#: the file field `table` of an upload (the OpenAPI docs of every route taking one)
_TABLE_FIELD = {"type": "string", "format": "binary",
                "description": "the table: Parquet, CSV/TSV, NDJSON or Arrow IPC (file or "
                               "stream); its format from the file name, else the media type"}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {400: "bad input (`key` names the field)", 401: "missing, unknown or revoked token",
            403: "the token lacks the scope or origin", 404: "not found",
            409: "ambiguous name or conflict", 413: "body too large",
            415: "wrong Content-Type or Content-Encoding", 503: "the store is unavailable"}
    return {c: {"model": ErrorBody, "description": what[c]} for c in codes}


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


_EVENT_BODY = {"oneOf": [
    {"type": "object", "description": "one OpenLineage RunEvent, DatasetEvent or JobEvent"},
    {"type": "array", "items": {"type": "object"}, "minItems": 1,
     "description": "several events, written in one transaction"},
]}
_BATCH_BODY = {"oneOf": [
    {"type": "array", "items": {"type": "object"}, "minItems": 1},
    {"type": "object", "required": ["events"],
     "properties": {"events": {"type": "array", "items": {"type": "object"}, "minItems": 1}}},
]}


def _bearer_secret(header: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer <secret>` header, as FastAPI's
    HTTPBearer reads them (scheme case-insensitive); None for no header or another scheme."""
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if not scheme or not secret or scheme.lower() != "bearer":
        return None
    return secret


#: the one route answered ahead of FastAPI's middleware and router (`_LineageApp`)
_FAST_PATH = f"{API}/lineage"
#: request headers the fast route reads
_FAST_HEADERS = frozenset({b"authorization", b"content-type", b"content-length",
                           b"content-encoding"})


class _LineageApp(FastAPI):
    """FastAPI, with POST /api/v1/lineage (where every OpenLineage client sends each event)
    answered ahead of its middleware stack: Starlette's error middleware, FastAPI's exit
    stack and router and the Request and Response objects cost the event loop about as much
    CPU per request as uvicorn itself. `fast_post` answers from the raw ASGI messages, with
    the route's checks in the route's order and the same answers (`_http.error_answer`)."""

    fast_post: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.fast_post is not None and scope["type"] == "http"
                and scope["path"] == _FAST_PATH and scope["method"] == "POST"
                and not scope.get("root_path")):
            await self.fast_post(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _fast_headers(scope: Scope) -> dict[bytes, str]:
    """The headers `_FAST_HEADERS` of a request, the first of each name, as Starlette's
    `Headers.get` reads them (ASGI servers give the names in lower case)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _FAST_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks, as Starlette's `Request.stream` yields them."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _send_json(send: Send, status: int, body: Any,
                     headers: dict[str, str] | None = None) -> None:
    """A JSON answer, encoded as Starlette's JSONResponse encodes it."""
    payload = json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None,
                         separators=(",", ":")).encode("utf-8")
    raw = [(b"content-length", str(len(payload)).encode()),
           (b"content-type", b"application/json")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


# ------------------------------------------------------------------ the app


#: the most nodes the JSON graph answers at once (the explorer asks for 2,500)
MAX_GRAPH_LIMIT = 20_000


def create_app(store: Store | str, settings: ServerSettings | None = None) -> FastAPI:
    """The HTTP API over `store` (a Store, or a URL opened when the app starts and closed
    when it stops)."""
    config = settings or ServerSettings()
    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from ..store import connect

        own = isinstance(store, str)
        opened = connect(store) if isinstance(store, str) else store
        writer: IngestWriter | ProcessIngestWriter
        if _writer_process_for(opened, config.ingest_process):
            writer = ProcessIngestWriter(_own_url(opened), max_group_events=config.max_group_events,
                                         linger_seconds=config.group_linger_seconds,
                                         expect_seconds=config.group_expect_seconds,
                                         strict=config.strict)
            await run_in_threadpool(writer.start)  # the process imports lineage: ~1 s
        else:
            writer = IngestWriter(opened, max_group_events=config.max_group_events,
                                  linger_seconds=config.group_linger_seconds,
                                  expect_seconds=config.group_expect_seconds,
                                  strict=config.strict)
            writer.start()
        holder.update(store=opened, writer=writer)
        _app.state.writer = writer
        try:
            yield
        finally:
            await run_in_threadpool(holder["tables"].close)
            await run_in_threadpool(writer.stop)
            if own:
                opened.close()

    app = _LineageApp(
        title="lineage", version=__version__, lifespan=lifespan,
        description=(
            "Lineage and provenance store: OpenLineage-compatible ingest, the lineage graph, "
            "impact of changes, record provenance and the training guard.\n\n"
            "Authenticate with `Authorization: Bearer <token>` (create one with `lineage token "
            "create`). Scopes: `read`, `write:lineage`, `assert` (with the origins the token "
            "lists), `admin` (implies read and write:lineage). Errors are JSON: "
            "`{\"error\": <class>, \"message\": ..., ...}`; 400 bad input (`key` is the JSON "
            "path of the offending field), 401 no/unknown/revoked token, 403 out of scope, "
            "404 not found, 409 ambiguous or conflicting, 413 body too large, 415 wrong "
            "content type, 503 store unavailable. Nothing is written when a request fails."),
    )
    app.add_exception_handler(LineageError, _http.lineage_error)
    app.add_exception_handler(RequestValidationError, _http.request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http.http_error)
    app.add_exception_handler(Exception, _http.internal_error)

    def the_store() -> Store:
        found: Store = holder["store"]
        return found

    bearer = HTTPBearer(auto_error=False, scheme_name="token",
                        description="an API token (`lineage token create NAME --scope ...`)")

    # token hash -> (principal, monotonic time until which it is trusted). Only successes
    # are cached: an unknown or revoked token is looked up every time. Skipping the store
    # also skips `use_token`, so last_used_at is recorded on the next miss (it was already
    # coarse: TOKEN_USE_RESOLUTION_SECONDS).
    verified: dict[str, tuple[Principal, float]] = {}

    # Plain functions, so FastAPI runs them in its thread pool: a token lookup reads the
    # store, and a slow database must not stall the event loop (tried async: no faster).
    def principal(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                         Depends(bearer)]) -> Principal:
        return principal_of(None if credentials is None else credentials.credentials)

    def cached_principal(secret: str | None) -> Principal | None:
        """The principal of a secret verified less than token_cache_seconds ago, or None."""
        if not config.auth:
            return auth.ANONYMOUS
        if secret is None:
            return None
        cached = verified.get(auth.hash_secret(secret.strip()))
        return cached[0] if cached is not None and time.monotonic() < cached[1] else None

    def principal_of(secret: str | None) -> Principal:
        who = cached_principal(secret)
        if who is not None:
            return who
        if secret is None:
            raise Unauthenticated("missing bearer token: send Authorization: Bearer <token>")
        digest = auth.hash_secret(secret.strip())
        now = time.monotonic()
        try:
            who = auth.authenticate(the_store(), secret)
        except (NotFound, PermissionDenied, ValidationError) as exc:
            verified.pop(digest, None)
            raise Unauthenticated(exc.message) from None
        if config.token_cache_seconds > 0:
            if len(verified) >= _TOKEN_CACHE_SIZE:
                verified.clear()
            verified[digest] = (who, now + config.token_cache_seconds)
        return who

    def scoped(scope: str) -> Callable[..., Any]:
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            auth.require(who, scope)
            return who
        return check

    Reader = Annotated[Principal, Depends(scoped("read"))]
    Writer = Annotated[Principal, Depends(scoped("write:lineage"))]
    Asserter = Annotated[Principal, Depends(scoped("assert"))]
    Admin = Annotated[Principal, Depends(scoped("admin"))]
    limit = config.max_body_bytes

    async def parsed_json(raw: bytes) -> Any:
        # A large body's parse holds the interpreter for tens of ms: off the event loop.
        # A small one costs microseconds, less than the hop to a worker thread.
        if len(raw) <= _PARSE_ON_LOOP_BYTES:
            return _http.parse_json(raw)
        return await run_in_threadpool(_http.parse_json, raw)

    async def json_body(request: Request) -> Any:
        _http.require_json(request)
        return await parsed_json(await _http.read_body(request, limit))

    # the JSON tables of /assertions and /training/check: a large one is read in a process
    # of its own (`_tables`)
    tables = TableReader(_PARSE_ON_LOOP_BYTES)
    holder["tables"] = tables

    # ---------------------------------------------------------------- ingest

    # what lenient ingest let through or refused since the start (this process), for /health
    tally = {"events": 0, "events_with_dropped_facets": 0, "dropped_facets": 0,
             "warnings": 0, "rejected_events": 0}

    def count(answer: dict[str, Any]) -> None:
        tally["events"] += answer["events"]
        dropped = answer["dropped_facets"]
        if dropped:
            tally["dropped_facets"] += len(dropped)
            tally["events_with_dropped_facets"] += len({d["event"] for d in dropped})
        tally["warnings"] += len(answer["warnings"])
        tally["rejected_events"] += len(answer.get("rejected", ()))

    async def ingest(endpoint: str, who: Principal, raw: bytes,
                     per_event: bool = False) -> dict[str, Any]:
        """The answer to a POST /lineage body (`per_event`: a /lineage/batch body). The
        raw bytes go to the ingest writer, which parses and checks them (`_writer.events_of`):
        nothing of a request's content is read on the event loop, and with the writer in a
        process of its own (`ServerSettings.ingest_process`) not in this process either."""
        submit = partial(holder["writer"].submit, raw, who.name,
                         reported_by=None if who is auth.ANONYMOUS else who.name,
                         target=None, detail={"endpoint": endpoint}, per_event=per_event)
        # a large body may wait in the pipe until the writer process reads it
        future = await run_in_threadpool(submit) if len(raw) > _PARSE_ON_LOOP_BYTES else submit()
        answer: dict[str, Any] = await asyncio.wrap_future(future)
        count(answer)
        return answer

    @app.post(f"{API}/lineage", status_code=201, tags=["OpenLineage"],
              summary="Ingest OpenLineage events",
              responses=_errors(400, 401, 403, 413, 415, 503),
              openapi_extra=_json_body(_EVENT_BODY, "one event as the OpenLineage clients' "
                                       "HttpTransport sends it (gzip allowed), or an array"))
    async def post_lineage(request: Request, who: Writer) -> JSONResponse:
        """One OpenLineage event (RunEvent, DatasetEvent or JobEvent) as the official
        clients' HTTP transports send it, or a JSON array of events. Validated against the
        OpenLineage spec (2-0-2): the core event strictly (400 naming the JSON path); an
        invalid facet is dropped and listed in `dropped_facets` (path, reason), a naive
        eventTime read as UTC and a missing schemaURL accepted, each listed in `warnings`
        (`lineage serve --strict`: 400 instead). All events of a request are written in one
        transaction, or none on error. Duplicates are idempotent. Answers 201 with the event
        count."""
        _http.require_json(request)
        answer = await ingest(request.url.path, who, await _http.read_body(request, limit))
        return JSONResponse(answer, status_code=201)

    async def fast_post_lineage(scope: Scope, receive: Receive, send: Send) -> None:
        """The route above from the raw ASGI messages (`_LineageApp`): the same checks in
        the same order (401, 403, then the body's 415/413/400) and the same answers. The
        FastAPI route stays for the docs, and answers behind a root_path."""
        headers = _fast_headers(scope)
        extra: dict[str, str] | None = None
        try:
            secret = _bearer_secret(headers.get(b"authorization"))
            who = cached_principal(secret)
            if who is None:  # a store read: off the event loop
                who = await run_in_threadpool(principal_of, secret)
            auth.require(who, "write:lineage")
            _http.require_json_type(_http.media_type_of(headers.get(b"content-type", "")))
            raw = await _http.read_chunks(headers.get(b"content-length"),
                                          headers.get(b"content-encoding", ""),
                                          _body_chunks(receive), limit)
            status, answer = 201, await ingest(scope["path"], who, raw)
        except ClientDisconnect:
            return  # nobody to answer
        except LineageError as exc:
            status, answer, extra = _http.error_answer(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: logged, answered as the app does
            _http.log.exception("internal error", exc_info=exc)
            status, answer = 500, _http.INTERNAL_ERROR
        await _send_json(send, status, answer, extra)

    app.fast_post = fast_post_lineage

    @app.post(f"{API}/lineage/batch", status_code=200, tags=["OpenLineage"],
              summary="Ingest a batch of OpenLineage events",
              responses=_errors(400, 401, 403, 413, 415, 503),
              openapi_extra=_json_body(_BATCH_BODY, "an array of events, or {\"events\": "
                                       "[...]}"))
    async def post_lineage_batch(request: Request, who: Writer) -> JSONResponse:
        """Several events in one request: a JSON array, or an object `{"events": [...]}`,
        answered per event as the OpenLineage spec's batch endpoint describes: the good
        events are written (one transaction) and the bad ones listed. **200** when at least
        one event was stored: `status` `success` or `partial_success`, `summary`
        (`received`, `successful`, `failed`, `retriable`, `non_retriable`), `failed_events`
        (`index`, `reason`, `key`: the JSON path, `retriable`: false), plus each stored
        event's `dropped_facets` and `warnings`. **400** when no event could be stored, with
        the same per-event body. A body that is not a batch is a plain 400."""
        _http.require_json(request)
        answer = await ingest(request.url.path, who, await _http.read_body(request, limit),
                              per_event=True)
        received = answer.pop("received")
        rejected = answer.pop("rejected")
        failed = [{"index": r["index"], "reason": r["message"], "key": r["key"],
                   "error": r["error"], "retriable": False} for r in rejected]
        stored = answer["events"]
        result = {
            **answer,
            "status": "success" if not failed else "partial_success" if stored else "failure",
            "summary": {"received": received, "successful": stored, "failed": len(failed),
                        "retriable": 0, "non_retriable": len(failed)},
            "failed_events": failed}
        if stored:
            return JSONResponse(result, status_code=200)
        return JSONResponse({"error": "ValidationError",
                             "message": f"none of the {received} events of the batch could be "
                                        "stored; failed_events says why for each", **result},
                            status_code=400)

    # ---------------------------------------------------------------- reads

    def ref_dict(ref: Any) -> dict[str, Any]:
        return {"key": ref.key, "kind": ref.kind.value, "name": ref.name}

    @app.get(f"{API}/nodes", tags=["graph"], summary="Find nodes",
             responses=_errors(400, 401, 403))
    def get_nodes(_who: Reader, q: str = "",
                  kind: Annotated[list[NodeKind] | None, Query()] = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        """Nodes whose key contains `q` (case-insensitive), of the given kinds, by key."""
        found = the_store().find(q, kind, limit)
        return {"nodes": [ref_dict(r) for r in found], "count": len(found)}

    @app.get(API + "/nodes/{name:path}", tags=["graph"], summary="A node and its neighbours",
             responses=_errors(400, 401, 403, 404, 409))
    def get_node(name: str, _who: Reader) -> dict[str, Any]:
        """The node `name` (a full key or an unambiguous suffix) with every edge touching it:
        `direction` out (it is upstream of the neighbour) or in."""
        store = the_store()
        node = store.node(store.resolve(name).key)
        neighbours = [{"edge": edge.kind.value, "verb": edge_verb(edge.kind),
                       "direction": "out" if edge.src == node.key else "in",
                       "node": ref_dict(ref), "properties": edge.properties}
                      for edge, ref in store.neighbours(node.key)]
        return {"node": node.model_dump(mode="json"), "neighbours": neighbours}

    @app.get(f"{API}/lineage/graph", tags=["graph"], summary="The lineage around a node",
             responses={**_errors(400, 401, 403, 404, 409),
                        200: {"content": {"application/json": {}, "image/svg+xml": {}}}})
    def get_graph(_who: Reader, node: str,
                  direction: Literal["up", "down", "both"] = "down",
                  depth: Annotated[int | None, Query(ge=0)] = None,
                  format: Literal["json", "svg", "dot"] = "json",
                  limit: Annotated[int | None, Query(ge=1, le=MAX_GRAPH_LIMIT)] = None
                  ) -> Response:
        """The nodes reached from `node` upstream, downstream or both within `depth`, and
        the edges among them; as JSON, or drawn as SVG (Graphviz) or DOT. A picture of more
        than 1,500 nodes is refused (400) unless JSON is asked with `limit`: then the
        nearest `limit` nodes (by depth) are answered, with `total` (the whole
        neighbourhood), `hidden` (left out) and on each node `hidden_beyond`, how many of
        the hidden ones are reached through it."""
        if format != "json":
            limit = None  # Graphviz pictures keep their bound
        found = neighbourhood(the_store(), node, direction, depth, limit)
        start, nodes, edges, unknown = found.start, found.nodes, found.edges, found.unknown
        if format == "json":
            beyond = found.hidden_beyond
            return JSONResponse({
                "start": ref_dict(start), "direction": direction, "depth": depth,
                "limit": limit, "total": found.total, "hidden": found.hidden,
                "truncated": found.hidden > 0,
                "nodes": [{**ref_dict(n), "column_unknown": n.key in unknown,
                           **({"hidden_beyond": beyond[n.key]} if n.key in beyond else {})}
                          for n in nodes],
                "edges": [{"src": e.src, "dst": e.dst, "kind": e.kind.value,
                           "verb": edge_verb(e.kind), "properties": e.properties} for e in edges]})
        dot = to_dot(start, nodes, edges, unknown)
        if format == "dot":
            return Response(dot.source, media_type="text/vnd.graphviz")
        return Response(draw(dot.source, "svg"), media_type="image/svg+xml")

    @app.get(f"{API}/impact", tags=["graph"], summary="What a change would affect",
             responses=_errors(400, 401, 403, 404, 409))
    def get_impact(_who: Reader, field: str,
                   change: Annotated[list[str] | None, Query()] = None,
                   depth: Annotated[int | None, Query(ge=0)] = None,
                   precise: bool = False,
                   fail_on: Literal["breaking", "unknown"] | None = None) -> dict[str, Any]:
        """Everything downstream of `field`, grouped by kind, each with a path. With
        `change` (repeatable: `type:string`, `drop`, `rename:NEW`, `nullable`, `values:+X`)
        every dependent gets a verdict: breaking, compatible or unknown, and why. A
        dependent reached only through dataset-level lineage (a job reading the field's
        dataset with no column lineage) has `column_unknown: true` (verdict `unknown`);
        `precise=true` leaves those out. With `change` and `fail_on` (`breaking`, or
        `unknown`: unknown or breaking), the answer also says whether the CI gate trips:
        `fails: true` when a dependent's verdict is at or above that level (what
        `lineage impact --fail-on` exits 9 on; the status stays 200). Without `change`,
        `quality_checks` lists the tests recorded on `field` and on every field and dataset
        it reaches (dbt tests from OpenLineage, newest result each, `on` the node)."""
        store = the_store()
        if fail_on is not None and not change:
            raise ValidationError("fail_on needs change: the gate judges the verdicts of a "
                                  "proposed change (add change=type:string, drop, ...)")
        if change:
            judged = change_impact(store, field, change, depth, precise=precise)
            if fail_on is None:
                return judged.to_dict()
            return {**judged.to_dict(), "fail_on": fail_on, "fails": judged.fails(fail_on)}
        return impact(store, field, depth, precise=precise).to_dict()

    @app.get(API + "/provenance/{dataset:path}", tags=["provenance"],
             summary="Who asserted a dataset's values", responses=_errors(400, 401, 403, 404,
                                                                           409))
    def get_provenance(dataset: str, _who: Reader,
                       version: str | None = None) -> dict[str, Any]:
        """Per field: assertions by origin (counts and shares), agents, confidence
        histogram; optionally only those made on one dataset `version`."""
        fields = provenance.summary(the_store(), dataset, version)
        return {"dataset": dataset, "version": version, "fields": [f.to_dict() for f in fields]}

    # ---------------------------------------------------------------- the guard

    @app.post(f"{API}/training/check", tags=["provenance"],
              summary="Check a training table before fitting",
              responses=_errors(400, 401, 403, 404, 409, 413, 415),
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": TrainingCheckRequest.model_json_schema()},
                  "multipart/form-data": {"schema": {
                      "type": "object", "required": ["table", "key", "label"],
                      "properties": {
                          "table": _TABLE_FIELD,
                          "key": {"type": "string", "description": "comma-separated"},
                          "label": {"type": "string", "description": "comma-separated"},
                          "dataset": {"type": "string"}, "model": {"type": "string"},
                          "concept": {"type": "string", "description":
                                      "CONCEPT, or comma-separated COLUMN=CONCEPT"},
                          "policy": {"type": "string", "description": "a Policy as JSON"}}}},
              }}})
    async def post_training_check(request: Request, _who: Reader) -> JSONResponse:
        """The guard's report on a training table: JSON rows, or an upload
        (multipart/form-data, file field `table`) read as the data-health routes read one:
        Parquet, CSV/TSV, NDJSON or Arrow IPC, its format from its file name, else its
        media type (400 when it cannot be read, 415 when neither says its format).
        **Always 200 when the check ran**, with
        `passed` true or false (false: the policy blocks the table; `summary`, `counts`,
        `examples` and `findings` say why). A client that must fail its job on a block
        checks `passed`. 4xx only for bad input (missing column, unknown dataset, ...).
        `concept` maps label columns to a concept as the CLI's `--concept` does (one name
        for every label, or {column: concept}; in a form, `CONCEPT` or comma-separated
        `COLUMN=CONCEPT`): 400 for a column that is not a label or a malformed mapping,
        404 for a concept nothing was recorded under."""
        table: FileBytes | pl.DataFrame
        if _http.media_type(request) == "multipart/form-data":
            form, table = await _forms.upload(request, limit)
            args = _forms.training_check_args(form)
        else:
            _http.require_json(request)
            try:
                fields, table, _origin = await tables.read(
                    TrainingCheckRequest, await _http.read_body(request, limit))
            except TableError as exc:
                raise exc.error from None
            args = {name: fields[name] for name in ("key", "label", "dataset", "model",
                                                    "concept", "policy")}

        def check() -> dict[str, Any]:
            policy = Policy.load(None, **(args.get("policy") or {}))
            return check_training(the_store(), table, key=args["key"], label=args["label"],
                                  dataset=args.get("dataset"), model=args.get("model"),
                                  concept=args.get("concept"), policy=policy,
                                  raise_on_block=False).to_dict()

        return JSONResponse(await run_in_threadpool(check))

    # ---------------------------------------------------------------- data health

    Caller = Annotated[Principal, Depends(principal)]

    def may_check(who: Principal) -> None:
        """403 before the body is read unless `who` may at least check (read) or record."""
        if not who.has("write:lineage"):
            auth.require(who, "read")

    upload_body = {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["table", "dataset"], "properties": {
            "table": _TABLE_FIELD,
            "dataset": {"type": "string"}}}}}}}

    @app.post(f"{API}/validate", tags=["data health"],
              summary="Check a batch against its schema and every consumer contract",
              responses=_errors(400, 401, 403, 404, 409, 413, 415),
              openapi_extra=upload_body)
    async def post_validate(request: Request, who: Caller) -> JSONResponse:
        """`lineage validate` over HTTP: the batch as the file field `table`
        (multipart/form-data), `dataset` (NAME, or NAME@VERSION for that version's schema).
        **200 whenever the check ran**, `passed` false on a violation (`columns`,
        `broken_consumers` say which); 4xx only for bad input. `record=true` (scope
        write:lineage; else read) registers the observed schema as a new version when it
        differs (`version` names it), which notifies the consumers the change breaks."""
        may_check(who)
        form, batch = await _forms.upload(request, limit)
        dataset = str(_forms.form_text(form, "dataset", required=True))
        record = _forms.form_flag(form, "record")
        version = _forms.form_text(form, "version")
        if version is not None and not record:
            raise ValidationError("'version' names the version record=true registers; add "
                                  "record=true", key="version")
        auth.require(who, "write:lineage" if record else "read")

        def check() -> dict[str, Any]:
            store = the_store()
            if not record:
                return health.validate(store, batch, dataset).to_dict()
            with store.audited(who.name, "validate --record", dataset,
                               {"file": batch.name, "endpoint": request.url.path}):
                return health.validate(store, batch, dataset, record=True,
                                       record_version=version).to_dict()

        return JSONResponse(await run_in_threadpool(check))

    @app.post(f"{API}/profile", status_code=201, tags=["data health"],
              summary="Profile a batch and store it with its dataset version",
              responses=_errors(400, 401, 403, 404, 409, 413, 415),
              openapi_extra=upload_body)
    async def post_profile(request: Request, who: Writer) -> JSONResponse:
        """`lineage profile FILE` over HTTP: the batch as the file field `table`, `dataset`
        NAME@VERSION, optionally `run` (what that run saw: a training run's features, a
        serving batch) and `replace=true`. 201 with the stored profile; the same
        distribution again changes nothing; a different one is 409 unless `replace`."""
        form, batch = await _forms.upload(request, limit)
        dataset = str(_forms.form_text(form, "dataset", required=True))
        run = _forms.form_text(form, "run")
        replace = _forms.form_flag(form, "replace")

        def record() -> dict[str, Any]:
            store = the_store()
            with store.audited(who.name, "profile", dataset,
                               {"file": batch.name, "run": run, "endpoint": request.url.path}):
                return health.record_profile(store, batch, dataset, run=run,
                                             replace=replace).to_dict()

        return JSONResponse(await run_in_threadpool(record), status_code=201)

    @app.get(f"{API}/profile", tags=["data health"], summary="A stored profile",
             responses=_errors(400, 401, 403, 404, 409))
    def get_profile(_who: Reader, dataset: str, run: str | None = None) -> dict[str, Any]:
        """The profile stored with dataset version `dataset` (NAME@VERSION), or what `run`
        saw of it; 404 when none was recorded."""
        found = health.stored_profile(the_store(), dataset, run)
        if found is None:
            raise NotFound(f"no profile stored for {dataset}" + (f" and run {run}" if run
                                                                  else "")
                           + "; record one with POST /api/v1/profile (or `lineage profile`)")
        return found.to_dict()

    @app.post(f"{API}/drift", tags=["data health"],
              summary="Compare a batch with what the models trained on",
              responses=_errors(400, 401, 403, 404, 409, 413, 415),
              openapi_extra={"requestBody": {"required": True, "content": {
                  "multipart/form-data": {"schema": {
                      "type": "object", "required": ["table", "dataset"], "properties": {
                          "table": _TABLE_FIELD,
                          "dataset": {"type": "string"}, "against": {"type": "string"},
                          "policy": {"type": "string", "description": "thresholds as JSON"},
                          "psi": {"type": "number"}, "ks_statistic": {"type": "number"},
                          "ks_pvalue": {"type": "number"}, "notify": {"type": "boolean"}}}},
                  "application/json": {"schema": DriftRequest.model_json_schema()}}}})
    async def post_drift(request: Request, who: Caller) -> JSONResponse:
        """`lineage drift` over HTTP: a batch uploaded as the file field `table`
        (multipart/form-data), or a stored profile named by a JSON body (`current`
        NAME@VERSION, `run`). Each is compared with the training profile of every model
        version trained on a version of `dataset` (or only `against`), then each drifted
        field is followed to the features, model versions and consumers it reaches.
        **200 whenever the comparison ran**, `drifted` true when a field crossed a
        threshold (`policy`: psi, ks_statistic, ks_pvalue, fields). 404 when there is
        nothing to compare with. `notify=true` (scope write:lineage; else read) tells the
        consumers reached through their channels."""
        may_check(who)
        batch: FileBytes | None = None
        current = run = None
        if _http.media_type(request) == "multipart/form-data":
            form, batch = await _forms.upload(request, limit)
            dataset = str(_forms.form_text(form, "dataset", required=True))
            against = _forms.form_text(form, "against")
            raw_policy = _forms.form_json_object(form, "policy")
            thresholds = {"psi": _forms.form_number(form, "psi"),
                          "ks_statistic": _forms.form_number(form, "ks_statistic", 1),
                          "ks_pvalue": _forms.form_number(form, "ks_pvalue", 1)}
            notify = _forms.form_flag(form, "notify")
        else:
            if not _http.media_type(request).endswith("json"):
                raise UnsupportedMediaType(
                    "upload the batch as multipart/form-data (file field 'table'), or name a "
                    "stored profile in an application/json body ({\"dataset\": ..., "
                    f"\"current\": NAME@VERSION}}); got {_http.media_type(request) or 'none'}")
            parsed = validated(DriftRequest, await json_body(request))
            dataset, against, current, run = (parsed.dataset, parsed.against, parsed.current,
                                              parsed.run)
            raw_policy, notify = parsed.policy, parsed.notify
            thresholds = {"psi": parsed.psi, "ks_statistic": parsed.ks_statistic,
                          "ks_pvalue": parsed.ks_pvalue}
        policy = health.DriftPolicy.from_mapping(raw_policy or {}, where="policy.",
                                                 overrides=thresholds)
        auth.require(who, "write:lineage" if notify else "read")

        def compare() -> dict[str, Any]:
            store = the_store()
            if not notify:
                return health.drift(store, batch, dataset, against=against, current=current,
                                    run=run, policy=policy).to_dict()
            with store.audited(who.name, "drift --notify", dataset,
                               {"file": batch.name if batch else current,
                                "endpoint": request.url.path}):
                return health.drift(store, batch, dataset, against=against, current=current,
                                    run=run, policy=policy, notify=True).to_dict()

        return JSONResponse(await run_in_threadpool(compare))

    @app.get(f"{API}/freshness", tags=["data health"],
             summary="Inputs past their freshness SLA, runs that read late data",
             responses=_errors(400, 401, 403, 404, 409))
    def get_freshness(_who: Reader, name: str | None = None,
                      now: datetime | None = None) -> dict[str, Any]:
        """`lineage freshness [NAME]`: every input older than its declared SLA, and every
        run that read an input version which landed after the run's window closed, with the
        model versions and consumers downstream; only what is upstream of `name` when given.
        `now` (ISO 8601 with a time zone) judges as of that time. 200 with `fresh` false
        when something is stale or late."""
        if now is not None and now.tzinfo is None:
            raise ValidationError("now needs a time zone (2026-04-02T12:00:00Z)",
                                  key="query.now")
        return health.freshness(the_store(), name, now=now).to_dict()

    @app.get(API + "/skew/{model_version:path}", tags=["data health"],
             summary="Training-serving skew of a model version",
             responses=_errors(400, 401, 403, 404, 409))
    def get_skew(model_version: str, _who: Reader) -> dict[str, Any]:
        """`lineage skew MODEL@VERSION`: per input, the derivation its training data
        recorded beside its serving path's, every difference, and where both sides have a
        stored profile the PSI and KS between them. 200 with `skewed` listing the inputs."""
        return health.skew(the_store(), model_version).to_dict()

    # ---------------------------------------------------------------- assertions

    @app.post(f"{API}/assertions", status_code=201, tags=["provenance"],
              summary="Record who asserted values (tag records)",
              responses=_errors(400, 401, 403, 404, 409, 413, 415),
              openapi_extra=_json_body(AssertionRequest.model_json_schema(),
                                       "rows and whose assertion they are"))
    async def post_assertions(request: Request, who: Asserter) -> JSONResponse:
        """Record that `agent` asserted, with `origin`, each row's value of `field` for the
        entity its `key` columns name (one batch, one transaction, audited). 403 when the
        token may not assert `origin` (an inference job's token may assert ai_inferred only)."""
        _http.require_json(request)
        try:
            fields, frame, _origin = await tables.read(
                AssertionRequest, await _http.read_body(request, limit))
        except TableError as exc:
            if exc.origin is not None:
                auth.require_origin(who, exc.origin)  # refused before anything else is read
            raise exc.error from None
        parsed = AssertionRequest.model_construct(**fields)
        auth.require_origin(who, parsed.origin)

        def tag() -> dict[str, Any]:
            store = the_store()
            detail = {"dataset": parsed.dataset, "field": parsed.field, "origin": parsed.origin,
                      "agent": parsed.agent, "rows": frame.height}
            with store.audited(who.name, "tag", f"{parsed.dataset}.{parsed.field}", detail):
                batch = provenance.tag(
                    store, frame, dataset=parsed.dataset, field=parsed.field, key=parsed.key,
                    origin=parsed.origin, agent=parsed.agent, confidence=parsed.confidence,
                    confidence_column=parsed.confidence_column,
                    value_column=parsed.value_column, dataset_version=parsed.dataset_version,
                    source=parsed.source or "api", principal=who.name)
            return {"batch": batch.id, "field": batch.field, "origin": batch.origin.value,
                    "agent": batch.agent, "rows": batch.rows, "principal": batch.principal,
                    "dataset_version": batch.dataset_version}

        return JSONResponse(await run_in_threadpool(tag), status_code=201)

    # ---------------------------------------------------------------- operations

    @app.get(f"{API}/audit", tags=["operations"], summary="The audit log",
             responses=_errors(400, 401, 403))
    def get_audit(_who: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                  since: datetime | None = None) -> dict[str, Any]:
        """Who wrote what, newest first (scope admin)."""
        if since is not None and since.tzinfo is None:
            raise ValidationError("since needs a time zone (2024-06-01T00:00:00Z)",
                                  key="query.since")
        entries = the_store().audit_log(limit, since)
        return {"entries": [e.to_dict() for e in entries]}

    @app.get(f"{API}/health", tags=["operations"], summary="Liveness (no token needed)")
    async def get_health() -> dict[str, Any]:
        """Liveness, and ingest since this server process started: transactions written and
        requests in them (group commit), events stored, facets dropped (and events that had
        any), warnings, events a batch refused, and whether it runs `strict`."""
        # async: answered on the event loop without waiting for a worker thread, which
        # may all be busy with large requests (it reads counters, nothing blocks)
        writer: IngestWriter | ProcessIngestWriter = holder["writer"]
        return {"status": "ok", "version": __version__,
                "ingest": {"transactions": writer.groups, "requests": writer.requests,
                           "strict": config.strict, **tally}}

    add_explorer(app, Reader, the_store)  # the web page at /, and the reads it needs
    return app


# ------------------------------------------------------------------ helpers


def _writer_process_for(store: Store, asked: bool | None) -> bool:
    """Whether the ingest writer runs in a process of its own (`ServerSettings`)."""
    if asked is not None:
        return asked
    # Both SQL backends: the raw bodies are parsed in the writer, and in a thread of this
    # process a 4 MB body's parse held the interpreter lock for a second (/health p99 2 s
    # under such bodies on PostgreSQL). Other backends keep the thread.
    return getattr(store, "dialect", None) in ("sqlite", "postgresql") \
        and store.shared_url() is not None


def _own_url(store: Store) -> str:
    """The URL another process opens `store` by: refused for a store only this process can
    reach (SQLite in memory)."""
    url = store.shared_url()
    if url is None:
        raise ValidationError("an ingest writer process needs a store it can open by URL; "
                              f"{store!r} is in this process's memory")
    return url
