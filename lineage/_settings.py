"""Configuration: one typed settings object, read from `LINEAGE_*` variables.

Flags given on the command line override these; the library never writes the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_URL = "sqlite:///lineage.db"


@dataclass(frozen=True)
class Settings:
    url: str = DEFAULT_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(url=env.get("LINEAGE_URL") or DEFAULT_URL)
