"""`lineage token`: API tokens for the HTTP server (create, list, revoke)."""

from __future__ import annotations

import click

from lineage import auth

from . import output
from .context import App, format_option, pass_app


@click.group()
def token() -> None:
    """API tokens for `lineage serve`: scopes, and the origins a token may assert.

    \b
    Scopes:
      read           the read API (nodes, graph, impact, provenance, training check)
      write:lineage  OpenLineage ingest
      assert         record assertions, of the --origin values listed only
      admin          read + write:lineage, and the audit log (never assert)

    A secret is shown once, when the token is created, and stored only as a hash.
    Creating and revoking tokens are recorded in the audit log.

    \b
    Examples:
      lineage token create airflow-prod --scope write:lineage
      lineage token create explorer --scope read
      lineage token list
      lineage token revoke airflow-prod
    """


@token.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(list(auth.SCOPES)), help="A scope to grant (repeatable).")
@click.option("--origin", "origins", multiple=True,
              type=click.Choice(["observed", "human_labelled", "ai_inferred"]),
              help="An origin the token may assert (repeatable; needs --scope assert).")
@format_option
@pass_app
def create(app: App, name: str, scopes: tuple[str, ...], origins: tuple[str, ...],
           fmt: str) -> None:
    """Create token NAME and print its secret (once: it cannot be shown again).

    \b
    Exit codes: 0 created, 2 bad name/scope/origin, 5 the name is taken.

    \b
    Examples:
      lineage token create airflow-prod --scope write:lineage
      lineage token create dashboards --scope read
      lineage token create fraud-scorer --scope assert --origin ai_inferred
      lineage token create labelling-tool --scope assert --origin human_labelled --format json
    """
    info, secret = auth.create_token(app.store, name, scopes, origins,
                                     principal=app.principal)
    if fmt == "json":
        output.emit_json({**info.to_dict(), "secret": secret})
        return
    console = output.out()
    console.print(f"created token '{info.name}' (scopes: {', '.join(info.scopes)}"
                  + (f"; may assert: {', '.join(info.origins)}" if info.origins else "") + ")",
                  soft_wrap=True)
    console.print("secret (shown once, store it now):", soft_wrap=True)
    click.echo(secret)


@token.command("list")
@click.option("--active", "active_only", is_flag=True, help="Leave revoked tokens out.")
@format_option
@pass_app
def list_cmd(app: App, active_only: bool, fmt: str) -> None:
    """List tokens (never their secrets), oldest first.

    \b
    Examples:
      lineage token list
      lineage token list --active --format json
    """
    tokens = auth.list_tokens(app.store, include_revoked=not active_only)
    if fmt == "json":
        output.emit_json({"tokens": [t.to_dict() for t in tokens]})
        return
    rows = [(t.name, ", ".join(t.scopes), ", ".join(t.origins),
             "active" if t.active else "revoked", output.utc(t.created_at),
             "" if t.last_used_at is None else output.utc(t.last_used_at)) for t in tokens]
    output.out().print(output.table(
        None, ["name", "scopes", "may assert", "state", "created (UTC)", "last used (UTC)"],
        rows, wrap=["scopes", "may assert"], optional=["created (UTC)"]))


@token.command("revoke")
@click.argument("name")
@format_option
@pass_app
def revoke(app: App, name: str, fmt: str) -> None:
    """Revoke token NAME: requests with it are refused (401) from now on.

    \b
    Exit codes: 0 revoked (or already revoked), 4 no such token.

    \b
    Examples:
      lineage token revoke airflow-prod
    """
    info = auth.revoke_token(app.store, name, principal=app.principal)
    if fmt == "json":
        output.emit_json(info.to_dict())
        return
    output.out().print(f"token '{info.name}' revoked at {output.text(info.revoked_at)}",
                       soft_wrap=True)
