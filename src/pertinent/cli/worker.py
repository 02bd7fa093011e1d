"""``pertinent worker``: the background work of a cluster, without HTTP (issue 15's topology).

API nodes (``pertinent serve`` with ``PERTINENT_RUN_JOBS=false``) collect, profile, decide and recommend; the
worker runs the scheduled jobs: the segment sweep and size snapshots, RFM/ML segment refits and the
recommender's retraining. Any number of workers may run: each job is claimed in the database, so it runs once
across the cluster, and a worker that dies has its jobs taken over when their leases end.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        heartbeat_s: float = typer.Option(60.0, help="Log that the worker is alive this often (0: never)."),
    ) -> None:
        """Run the scheduled jobs (sweep, snapshots, refits, retraining) until SIGTERM or Ctrl-C."""
        import logging
        import signal
        import threading

        from pertinent.privacy.keys import ensure_keys
        from pertinent.services import Services
        from pertinent.settings import load_settings
        from pertinent.storage.deployment import HotStoreRequired
        from pertinent.storage.factory import open_store

        settings = ensure_keys(load_settings())
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
        open_store(settings).close()  # migrations, as `serve` does
        try:
            services = Services.build(settings)
        except HotStoreRequired as exc:  # a database served with the Redis hot store, and no Redis here
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(2) from None
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        retrainer = services.start_jobs()
        typer.echo(f"Pertinent worker running (storage: {services.store.backend})", err=True)
        log = logging.getLogger("pertinent.worker")
        try:
            while not stop.wait(heartbeat_s if heartbeat_s > 0 else 3600.0):
                if heartbeat_s > 0:
                    log.info("worker alive")
        finally:
            if retrainer is not None:
                retrainer.stop(timeout=5.0)
            services.close()  # queued work is written first
        typer.echo("Pertinent worker stopped", err=True)
