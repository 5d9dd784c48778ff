"""The HTTP edge: bounded bodies, JSON that the store can hold, and errors as JSON.

Every error a client can cause is a `LineageError` and answers with its `to_dict()` as the
JSON body (`{"error": <class>, "message": ..., ...}`) and the status of `STATUS`. Anything
else is a bug: 500 with a generic body, the traceback in the server's log.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import zlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._errors import (
    AmbiguousName,
    ConflictError,
    LineageError,
    NotFound,
    PermissionDenied,
    ProvenanceViolation,
    StoreError,
    ValidationError,
)
from .._plain import MAX_JSON_DEPTH, check_plain, path_text

__all__ = ["MAX_JSON_DEPTH", "check_plain", "path_text"]  # re-exported for the app

log = logging.getLogger("lineage.server")

#: default bound on a request body, compressed and (for gzip) decompressed
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024


class Unauthenticated(LineageError):
    """No bearer token, or one that matches no active token (HTTP 401)."""

    exit_code = 6


class PayloadTooLarge(ValidationError):
    """The body exceeds the server's limit (HTTP 413)."""


class UnsupportedMediaType(ValidationError):
    """The body's Content-Type or Content-Encoding is not one the endpoint takes (HTTP 415)."""


class AnsweredError(LineageError):
    """An error raised where the answer was made (the ingest writer's process), carried
    as that answer: `status`, the JSON `body` and extra `headers`."""

    def __init__(self, status: int, body: dict[str, Any],
                 headers: dict[str, str] | None) -> None:
        super().__init__(str(body.get("message", "")))
        self.status, self.body, self.headers = status, body, headers


#: HTTP status per error class; the most specific class in an error's MRO wins
STATUS: dict[type[LineageError], int] = {
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ValidationError: 400,
    NotFound: 404,
    AmbiguousName: 409,
    ConflictError: 409,
    Unauthenticated: 401,
    PermissionDenied: 403,
    ProvenanceViolation: 422,
    StoreError: 503,
    LineageError: 500,
}


def status_of(exc: LineageError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def error_body(exc: LineageError) -> dict[str, Any]:
    body = exc.to_dict()
    report = getattr(exc, "report", None)
    if report is not None and hasattr(report, "to_dict"):
        body["report"] = report.to_dict()
    return body


async def lineage_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LineageError)
    status, body, headers = error_answer(exc)
    return JSONResponse(body, status_code=status, headers=headers)


def error_answer(exc: LineageError) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """(status, JSON body, extra headers) of the answer to `exc`; a 5xx is logged."""
    if isinstance(exc, AnsweredError):  # logged where it was raised
        return exc.status, exc.body, exc.headers
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return status, error_body(exc), headers


async def request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's parameter errors (a non-integer depth, a missing query parameter) as our
    400 ValidationError, `key` naming the parameter (`query.depth`)."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    key = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    return JSONResponse(ValidationError(message, key=key or None).to_dict(), status_code=400)


_HTTP_ERROR_NAMES = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthenticated",
                     403: "PermissionDenied", 413: "PayloadTooLarge"}


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    name = _HTTP_ERROR_NAMES.get(exc.status_code, "HTTPError")
    return JSONResponse({"error": name, "message": str(exc.detail)},
                        status_code=exc.status_code, headers=exc.headers)


#: the body of every 500: a bug's details stay in the server's log
INTERNAL_ERROR = {"error": "InternalError",
                  "message": "internal server error; the server log has the details"}


async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error", exc_info=exc)
    return JSONResponse(INTERNAL_ERROR, status_code=500)


# ------------------------------------------------------------------ bodies


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with PayloadTooLarge as soon as it is known to exceed
    `limit`: by its Content-Length before anything is read, else by counting the stream.
    A gzip body (Content-Encoding: gzip) is decompressed, with the same bound."""
    return await read_chunks(request.headers.get("content-length"),
                             request.headers.get("content-encoding", ""), request.stream(),
                             limit)


async def read_chunks(declared: str | None, encoding: str, chunks: AsyncIterator[bytes],
                      limit: int) -> bytes:
    """`read_body` for a body arriving as `chunks`, with its Content-Length (`declared`,
    None when not sent) and Content-Encoding headers."""
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ValidationError(f"Content-Length is not a number: {declared!r}") from None
        if length > limit:
            raise PayloadTooLarge(f"the body is {length:,} bytes; this server takes at most "
                                  f"{limit:,} (send fewer events per request)")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit:,} bytes, the most this server "
                                  "takes (send fewer events per request)")
        parts.append(chunk)
    body = b"".join(parts)
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"Content-Encoding '{encoding}' is not supported; send "
                                   "gzip or an uncompressed body")
    # off the event loop: a small body may inflate to the limit (5 MB: tens of ms)
    return await run_in_threadpool(_gunzip, body, limit)


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValidationError(f"the body is not valid gzip: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the body decompresses to more than {limit:,} bytes, the most "
                              "this server takes")
    if not inflater.eof:
        raise ValidationError("the gzip body is truncated")
    return data


def media_type(request: Request) -> str:
    return media_type_of(request.headers.get("content-type", ""))


def media_type_of(content_type: str) -> str:
    """The media type of a Content-Type header: `application/json; charset=utf-8` ->
    `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def require_json(request: Request) -> None:
    """UnsupportedMediaType unless the body is declared JSON (application/json, or a
    structured `+json` type)."""
    require_json_type(media_type(request))


def require_json_type(kind: str) -> None:
    """`require_json` for the media type `kind` (`media_type_of`)."""
    if kind != "application/json" and not (kind.startswith("application/")
                                           and kind.endswith("+json")):
        shown = kind or "none"
        raise UnsupportedMediaType(f"this endpoint takes application/json, got Content-Type "
                                   f"{shown}")


def _no_constants(name: str) -> Any:
    raise ValidationError(f"malformed JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: no store or JSON answer can hold it
        raise ValidationError(f"the number {text[:40]} is out of range for a 64-bit float")
    return value


def parse_json(body: bytes) -> Any:
    """The body as JSON; ValidationError naming the line, column and character position of
    malformed JSON, or the path of a value the store cannot hold (see `check_plain`)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the body is not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start})") from None
    # JSON makes no reference cycles, yet each container it builds counts towards the
    # cyclic collector's thresholds: with it running, a 4 MB body of 700,000 small objects
    # parsed in 3.3 s instead of 0.45 s, all of it holding the interpreter lock.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        value = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"malformed JSON: {exc.msg} at line {exc.lineno} column "
                              f"{exc.colno} (char {exc.pos})", line=exc.lineno) from None
    except RecursionError:
        raise ValidationError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # Python's bound on integer digits (4,300 by default)
        raise ValidationError("malformed JSON: an integer has more than 4,300 digits") from None
    finally:
        if paused:
            gc.enable()
    # Every body, whatever the endpoint does with it next: deep values made polars and
    # pydantic work for minutes and overflowed the stack when passed to the writer process.
    # A body with fewer brackets than the limit cannot exceed it (a C-speed count).
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        path = _too_deep(value, MAX_JSON_DEPTH, [])
        if path is not None:
            raise ValidationError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                                  key=path_text(path) or None)
    return value


def _too_deep(value: Any, depth: int, path: list[str | int]) -> list[str | int] | None:
    """The path of a non-empty container nested more than `depth` levels below `value`,
    or None. A stack walk over containers only, no paths on the way: a 4 MB body of
    60-deep objects has 700,000 of them; the path is rebuilt for the one at fault."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, left = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list) and child:
                if left <= 1:
                    return _path_to(value, child, path)
                stack.append((child, left - 1))
    return None


def _path_to(value: Any, target: Any, path: list[str | int]) -> list[str | int] | None:
    """The path from `value` to the object `target` (by identity), depth first."""
    stack: list[tuple[Any, list[str | int]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if item is target:
            return where
        if isinstance(item, dict):
            stack.extend((v, [*where, k]) for k, v in item.items() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, [*where, i]) for i, v in enumerate(item) if isinstance(v, dict | list))
    return path
