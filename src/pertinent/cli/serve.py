"""CLI commands for running the server: ``pertinent serve``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
        port: int = typer.Option(8000, help="TCP port."),
        workers: int = typer.Option(
            1,
            help="Worker processes. On SQLite their writes take turns (a file lock) while the rest runs in "
            "parallel; docs/benchmarks.md compares 1 and 2 for ingest and /v1/decide.",
        ),
        access_log: bool = typer.Option(False, help="Log every request."),
    ) -> None:
        """Serve the HTTP API. Settings come from PERTINENT_* environment variables (and PERTINENT_CONFIG)."""
        import uvicorn

        from pertinent.privacy.keys import ensure_keys
        from pertinent.settings import load_settings
        from pertinent.storage.deployment import HotStoreRequired, check_hot_store
        from pertinent.storage.factory import open_store

        settings = ensure_keys(load_settings())
        store = open_store(settings)  # create the data directory and run migrations once, up front
        try:  # a database served with the Redis hot store refuses a node without it (storage/deployment.py)
            check_hot_store(store, hot=settings.hot_store)
        except HotStoreRequired as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            store.close()
        typer.echo(f"Pertinent on http://{host}:{port}  (storage: {settings.resolved_database_url().split('://')[0]})")
        # Workers re-read the environment; make generated keys visible to them.
        import os

        os.environ.setdefault("PERTINENT_WRITE_KEY", settings.write_key or "")
        os.environ.setdefault("PERTINENT_ADMIN_KEY", settings.admin_key or "")
        os.environ.setdefault("PERTINENT_PSEUDONYM_KEYS", ",".join(settings.pseudonym_keys))
        os.environ.setdefault("PERTINENT_IDENTITY_SECRET", settings.identity_secret or "")
        uvicorn.run(
            "pertinent.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            log_level=settings.log_level,
            loop="auto",
            http="auto",
            # X-Forwarded-For/-Proto only from the configured proxies (uvicorn alone would trust 127.0.0.1)
            forwarded_allow_ips=list(settings.trusted_proxies),
        )
