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


def check_plain(value: Any, prefix: list[str | int] | None = None) -> None:
    """ValidationError (with the path in `key`) for what JSON can say but the store cannot
    keep: strings with NUL or lone surrogates, nesting deeper than MAX_JSON_DEPTH."""
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
