"""``pertinent hot-store``: how the database stands with the Redis hot store (``storage/deployment.py``).

A database that a node with ``PERTINENT_REDIS_URL`` opened is marked as served with the hot store, and every
process without it refuses to start on it (its writes would leave the other nodes serving stale consent and
profiles from Redis). ``status`` shows the mark; ``detach`` removes it, for taking a deployment off Redis for good.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    hot = typer.Typer(help="The Redis hot store's mark on the database (docs/deploy.md).", no_args_is_help=True)
    app.add_typer(hot, name="hot-store")

    @hot.command()
    def status() -> None:
        """Say whether the database is served with the Redis hot store (and who marked it when)."""
        from pertinent.settings import load_settings
        from pertinent.storage.deployment import hot_store_mark
        from pertinent.storage.factory import open_store

        store = open_store(load_settings())
        try:
            mark = hot_store_mark(store)
        finally:
            store.close()
        if mark is None:
            typer.echo("not served with the hot store: nodes run with or without PERTINENT_REDIS_URL")
        else:
            typer.echo(
                f"served with the hot store (marked by {mark.get('by')} at {mark.get('at')}): every process "
                "needs PERTINENT_REDIS_URL"
            )

    @hot.command()
    def detach(
        yes: bool = typer.Option(False, "--yes", help="Every node is stopped: go ahead."),
    ) -> None:
        """Take the database off the hot store: remove its mark and, with PERTINENT_REDIS_URL, the hot store's keys
        there. Stop every node first: a node still running with Redis would mark the database again on restart."""
        from pertinent.runtime.redis import connect
        from pertinent.settings import load_settings
        from pertinent.storage.deployment import detach as remove
        from pertinent.storage.factory import open_store

        if not yes:
            typer.echo("Stop every node of the deployment first, then run again with --yes.", err=True)
            raise typer.Exit(1)
        settings = load_settings()
        client = connect(settings.redis_url) if settings.redis_url else None
        store = open_store(settings)
        try:
            marked, deleted = remove(store, client)
        finally:
            store.close()
        typer.echo(f"{'mark removed' if marked else 'the database was not marked'}; {deleted} hot-store keys deleted")
        if client is None:
            typer.echo(
                "PERTINENT_REDIS_URL is not set: the hot store's keys (pertinent:hot:*) were left in Redis; delete "
                "them before this database is served with that Redis again.",
                err=True,
            )
