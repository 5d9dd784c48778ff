"""What JSON can say but the store cannot keep, refused with the offending path.

Shared by the HTTP layer (every JSON body) and OpenLineage ingest (events given to the
library directly): PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as
UTF-8, so either would otherwise fail in the driver instead of as a ValidationError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._errors import ValidationError

#: JSON nested deeper than this is refused (OpenLineage events nest ~8 levels)
MAX_JSON_DEPTH = 64

# NUL cannot be stored in PostgreSQL text; lone surrogates cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_plain(value: Any, prefix: list[str | int] | None = None) -> None:
    """ValidationError (with the path in `key`) for what JSON can say but the store cannot
    keep: strings with NUL or lone surrogates, nesting deeper than MAX_JSON_DEPTH."""
    # Every ingested event goes through here: a quick walk without paths first; only a
    # value it finds fault with is walked again to say where.
    if _plain_enough(value, MAX_JSON_DEPTH):
        return
    _explain(value, prefix)


def _unstorable(text: str) -> bool:
    # `in` and isascii() are C scans; surrogates are never ASCII
    return "\x00" in text or (not text.isascii() and _SURROGATE.search(text) is not None)


def _plain_enough(item: Any, depth: int) -> bool:
    """True when `item` holds nothing check_plain refuses (`depth`: levels still allowed)."""
    kind = type(item)
    if kind is str:
        return not _unstorable(item)
    if kind is dict or (kind is not list and isinstance(item, Mapping)):
        if depth <= 0 and item:
            return False
        for k, v in item.items():
            if not isinstance(k, str) or _unstorable(k):
                return False  # a non-str key: the slow walk decides as it always has
            if type(v) in _SCALARS:
                continue
            if not _plain_enough(v, depth - 1):
                return False
        return True
    if kind is list:
        if depth <= 0 and item:
            return False
        for v in item:
            if type(v) not in _SCALARS and not _plain_enough(v, depth - 1):
                return False
        return True
    # other types are not walked; a str or list subclass is left to the slow walk
    return not isinstance(item, str | list)


_SCALARS = (int, float, bool, type(None))


def _explain(value: Any, prefix: list[str | int] | None) -> None:
    """check_plain's walk with paths, raising at the first fault in its order."""
    stack: list[tuple[Any, list[str | int]]] = [(value, list(prefix or []))]
    base = len(prefix or [])
    while stack:
        item, path = stack.pop()
        if len(path) - base > MAX_JSON_DEPTH:
            raise ValidationError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                                  key=path_text(path))
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                raise ValidationError("strings may not contain NUL (\\u0000) or unpaired "
                                      "surrogates", key=path_text(path))
        elif isinstance(item, Mapping):
            for k, v in item.items():
                if _UNSTORABLE.search(k):
                    raise ValidationError("names may not contain NUL (\\u0000) or unpaired "
                                          "surrogates", key=path_text(path))
                stack.append((v, [*path, k]))
        elif isinstance(item, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(item))


def path_text(path: list[str | int]) -> str:
    """`['inputs', 0, 'namespace']` -> `inputs[0].namespace` (as ingest's errors say it)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
