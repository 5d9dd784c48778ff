"""`python -m lineage_cli`: the `lineage` command without its installed script."""

from .main import cli

cli()
