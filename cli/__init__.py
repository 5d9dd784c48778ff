"""The `lineage` command: a thin click shell over the `lineage` library.

Each command parses its arguments, calls one library function and prints the result, as a
table for people or as JSON (`--format json`) for machines. Errors are the library's
`LineageError`s, printed without a traceback and mapped to the exit codes documented in
`lineage --help` (see `lineage_cli.main`).
"""

from .main import cli

__all__ = ["cli"]
