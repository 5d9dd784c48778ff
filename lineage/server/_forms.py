"""Multipart uploads: the form of a request and the table in its file field `table`.

Why a module of its own: the training check and the data-health routes take the same
uploads, and should accept and refuse them alike. Here the form is parsed from a body read
once within the size limit (`read_form`), the uploaded table is named so that its format
reads from the name (`uploaded_table`, for `provenance._tables.read_table`: Parquet,
CSV/TSV, NDJSON, Arrow IPC), and each form field is read with one wording for what is wrong
with it (`key` names the field).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from starlette.requests import Request

from .._errors import ValidationError
from ..guard import parse_concepts
from ..provenance._tables import TABLE_SUFFIXES, FileBytes
from . import _http
from ._http import UnsupportedMediaType


async def upload(request: Request, limit: int) -> tuple[Any, FileBytes]:
    """The form of a multipart request (a body of at most `limit` bytes) and its table
    (file field `table`). UnsupportedMediaType for another content type."""
    kind = _http.media_type(request)
    if kind != "multipart/form-data":
        raise UnsupportedMediaType(f"upload the batch as multipart/form-data (file field "
                                   f"'table'), got Content-Type {kind or 'none'}")
    form = await read_form(request, await _http.read_body(request, limit))
    return form, await uploaded_table(form)


async def read_form(request: Request, body: bytes) -> Any:
    """The multipart form of a request whose body was read already (bounded)."""
    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, replay).form()


#: an upload's media type -> the file suffix its format is read by, when its name has none
_UPLOAD_TYPES = {
    "text/csv": ".csv", "text/tab-separated-values": ".tsv",
    "application/vnd.apache.parquet": ".parquet", "application/x-parquet": ".parquet",
    "application/vnd.apache.arrow.file": ".arrow",
    "application/vnd.apache.arrow.stream": ".arrow",
    "application/x-ndjson": ".ndjson", "application/jsonl": ".ndjson",
}  # fmt: skip


async def uploaded_table(form: Any) -> FileBytes:
    """The file field `table` of a form, named so that its format reads from the name:
    its own file name when that says (batch.parquet), else its media type (text/csv).
    UnsupportedMediaType when neither does."""
    file = form.get("table")
    if file is None or isinstance(file, str):
        raise ValidationError("upload the table as the file field 'table' "
                              "(multipart/form-data)", key="table")
    name = Path(file.filename or "").name or "upload"
    if Path(name).suffix.lower() not in TABLE_SUFFIXES:
        suffix = _UPLOAD_TYPES.get(_http.media_type_of(file.content_type or ""))
        if suffix is None:
            given = file.content_type or "no type"
            raise UnsupportedMediaType(
                f"cannot tell the format of the upload '{name}' ({given}): name the file "
                ".parquet, .csv, .tsv, .ndjson or .arrow, or send it as text/csv, "
                "application/vnd.apache.parquet or application/vnd.apache.arrow.file",
                key="table")
        name = Path(name).stem + suffix
    return FileBytes(name, await file.read())


def form_text(form: Any, name: str, required: bool = False) -> str | None:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"form field '{name}' is text, not a file", key=name)
    if value is None or not value.strip():
        if required:
            raise ValidationError(f"form field '{name}' is required", key=name)
        return None
    return value.strip()


def form_flag(form: Any, name: str) -> bool:
    value = (form_text(form, name) or "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValidationError(f"form field '{name}' is true or false, got {value!r}", key=name)
    return value in ("true", "1", "yes")


def form_number(form: Any, name: str, high: float | None = None) -> float | None:
    value = form_text(form, name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or (high is not None and number > high):
        raise ValidationError(f"form field '{name}' is a number >= 0"
                              + ("" if high is None else f" and <= {high:g}")
                              + f", got {value!r}", key=name)
    return number


def form_json_object(form: Any, name: str) -> dict[str, Any] | None:
    value = form_text(form, name)
    if value is None:
        return None
    parsed = _http.parse_json(value.encode("utf-8"))
    if not isinstance(parsed, dict):
        raise ValidationError(f"form field '{name}' is a JSON object", key=name)
    return parsed


def training_check_args(form: Any) -> dict[str, Any]:
    """The arguments of a training check sent as a form (beside the file field `table`):
    `key` and `label` comma-separated, `dataset`, `model`, `concept` (CONCEPT, or
    comma-separated COLUMN=CONCEPT) and `policy` (a JSON object)."""
    args: dict[str, Any] = {}
    for name in ("key", "label"):
        parts = [p.strip() for p in str(form_text(form, name, required=True)).split(",")
                 if p.strip()]
        args[name] = parts[0] if len(parts) == 1 else parts
    for name in ("dataset", "model"):
        args[name] = form_text(form, name)
    concept = form_text(form, "concept")
    if concept is not None:
        labels = [args["label"]] if isinstance(args["label"], str) else args["label"]
        args["concept"] = parse_concepts([c for c in concept.split(",") if c.strip()], labels)
    args["policy"] = form_json_object(form, "policy")
    return args
