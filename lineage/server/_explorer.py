"""The explorer: the web page `lineage serve` answers at `/`, and the few reads it needs
beyond the rest of the API (schema snapshots, schema diffs, consumers with contracts,
quality checks, runs).

The page is plain HTML, CSS and JavaScript modules shipped in the package (`explorer/`):
nothing to build, nothing fetched from another origin. It is a client of the read API with
a read token the person pastes; it never holds a write scope.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations when they
# are defined, and `reader` is local to `add_explorer`.

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ..consumers import consumers
from ..openlineage import checks_covering
from ..runs import DEFAULT_LIMIT, runs
from ..schema import SchemaDiff, diff, parse_renames, version_schema
from ..store.base import Store

#: the page's files (index.html, *.js, *.css), shipped as package data
ASSETS = Path(__file__).parent / "explorer"
API = "/api/v1"

#: what the page may load: only this origin (no CDN, no fonts from elsewhere; works offline),
#: no inline script, and no framing by another site
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")


def add_explorer(app: FastAPI, reader: Any, the_store: Callable[[], Store]) -> None:
    """Serve the explorer at `/` (its assets under `/explorer/`), and the read routes it
    uses: schema snapshots and diffs, consumers, whoami. `reader` is the app's read-scope
    dependency (an `Annotated` principal): these routes authenticate as the read API does."""
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(ASSETS / "index.html", media_type="text/html", headers=headers)

    app.mount("/explorer", StaticFiles(directory=ASSETS), name="explorer")

    @app.get(API + "/schema/{version:path}", tags=["graph"],
             summary="A dataset version's schema snapshot")
    def get_schema(version: str, _who: reader) -> dict[str, Any]:
        """The schema snapshot of a dataset version (a key or an unambiguous suffix), fields
        in order; `fields` is empty when none was recorded."""
        key, fields = version_schema(the_store(), version)
        return {"version": key, "fields": [f.model_dump(mode="json") for f in fields]}

    @app.get(f"{API}/schema-diff", tags=["graph"], summary="Compare two schema snapshots")
    def get_schema_diff(_who: reader, old: str, new: str,
                        rename: list[str] | None = Query(None)) -> dict[str, Any]:  # noqa: B008
        """Every change from dataset version `old` to `new` (as `lineage schema diff`):
        added, dropped, renamed (`rename=OLD=NEW` declares one), type, nullability,
        allowed values, each with its compatibility."""
        declared = parse_renames(rename or [], key="query.rename")
        store = the_store()
        old_key, before = version_schema(store, old)
        new_key, after = version_schema(store, new)
        return SchemaDiff(old_key, new_key, diff(before, after, declared)).to_dict()

    @app.get(f"{API}/whoami", tags=["operations"], summary="The caller's token")
    def get_whoami(who: reader) -> dict[str, Any]:
        """The name, scopes and assertable origins of the token sent (scope read), so a
        client can refuse to hold more than it needs; `anonymous` with every scope when
        the server runs without authentication."""
        answer: dict[str, Any] = who.to_dict()
        return answer

    @app.get(f"{API}/consumers", tags=["graph"], summary="Consumers and their contracts")
    def get_consumers(_who: reader, of: str | None = None,
                      depth: int | None = Query(None, ge=0)) -> dict[str, Any]:  # noqa: B008
        """Every consumer, or those depending on `of` (with the path), each with what it
        consumes, its contracts and its channels (kind and target; never a secret).
        `truncated` says whether `depth` left out consumers that depend on `of`."""
        found = consumers(the_store(), of, depth)
        return {"of": of, "max_depth": found.max_depth, "truncated": found.truncated,
                "consumers": [c.to_dict() for c in found]}

    @app.get(API + "/quality-checks/{name:path}", tags=["graph"],
             summary="The quality checks recorded on a dataset or column")
    def get_quality_checks(name: str, _who: reader) -> dict[str, Any]:
        """The checks recorded on `name` (a key or an unambiguous suffix): dbt tests from
        `lineage import dbt` and OpenLineage `dataQualityAssertions`, each with its newest
        result (`success` false: failed; null: not run), failing ones first. A dataset's
        include its columns' checks."""
        store = the_store()
        key = store.resolve(name).key
        checks = checks_covering(store, key)
        return {"node": key, "checks": checks, "count": len(checks),
                "failing": sum(1 for c in checks if c.get("success") is False)}

    @app.get(API + "/runs/{name:path}", tags=["graph"], summary="The runs of a node")
    def get_runs(name: str, _who: reader,
                 limit: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_LIMIT
                 ) -> dict[str, Any]:
        """Newest first, at most `limit` (`total` counts them all, `truncated` says when
        some are left out): a job's runs; the runs that wrote or read a dataset or its
        versions; those of a dataset version; a run itself. Each with its state, start
        and end, message, and the datasets and versions it read (`inputs`) and wrote
        (`outputs`)."""
        return runs(the_store(), name, limit).to_dict()
