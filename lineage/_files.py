"""Reading input files with errors that name the file."""

from __future__ import annotations

from pathlib import Path

from ._errors import ValidationError


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The file's text; ValidationError (with the file) when it is missing, unreadable or
    not UTF-8."""
    file = str(path)
    try:
        return Path(path).read_text(encoding=encoding)
    except FileNotFoundError:
        raise ValidationError("no such file", file=file) from None
    except UnicodeDecodeError as exc:
        raise ValidationError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                              file=file) from None
    except OSError as exc:
        raise ValidationError(f"cannot read: {exc.strerror}", file=file) from None
