"""Configuration: one typed settings object, read from `LINEAGE_*` variables.

Flags given on the command line override these; the library never writes the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_URL = "sqlite:///lineage.db"
#: where file channels write: every `{kind: file, path: ...}` names a file below it
DEFAULT_NOTIFICATIONS_ROOT = "out/notifications"


@dataclass(frozen=True)
class Settings:
    url: str = DEFAULT_URL
    notifications_root: str = DEFAULT_NOTIFICATIONS_ROOT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(url=env.get("LINEAGE_URL") or DEFAULT_URL,
                   notifications_root=env.get("LINEAGE_NOTIFICATIONS_ROOT")
                   or DEFAULT_NOTIFICATIONS_ROOT)
