"""``pertinent demo``: keys, sample data, server — the first five minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

DATASETS = {
    "online-retail": ("online-retail/online_retail.parquet", "online-retail"),
    "movielens": ("movielens-latest-small", "movielens"),
    "taobao": ("taobao-userbehavior-sample/UserBehavior.csv", "taobao"),
}


def default_datasets_dir() -> Path:
    """``../shared/datasets`` beside the project checkout (where the real datasets live)."""
    return Path.cwd().parent / "shared" / "datasets"


def _install_demo_content(settings: Any) -> None:
    """The demo shop's blocks and ``home.hero`` slot (left alone when they exist)."""
    from pertinent.browser.demo_content import install_demo_content
    from pertinent.services import Services

    services = Services.build(settings)
    try:
        created = install_demo_content(services)
    finally:
        services.close()
    if created:
        typer.echo(f"demo shop content: {', '.join(created)}")


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
        port: int = typer.Option(8000, help="TCP port."),
        users: int = typer.Option(2000, help="Synthetic shop size (users) when the store is empty."),
        dataset: list[str] = typer.Option(
            [], help="Also load a real dataset: online-retail, movielens or taobao (repeatable)."
        ),
        datasets_dir: Path = typer.Option(None, help="Where the real datasets are (default ../shared/datasets)."),
        serve: bool = typer.Option(True, help="Start the server after loading (--no-serve to only load)."),
        train: bool = typer.Option(True, help="Train a recommendation model on the loaded events."),
    ) -> None:
        """Generate keys, load a synthetic shop (and optionally real datasets), print URL and keys, serve."""
        from pertinent.privacy.keys import ensure_keys
        from pertinent.settings import load_settings
        from pertinent.storage.factory import open_store

        settings = ensure_keys(load_settings())
        store = open_store(settings)
        with store.transaction(write=False) as tx:
            empty = tx.count_profiles() == 0
        store.close()
        runner = typer.main.get_command(app)
        if empty:
            runner.main(
                ["generate", "--users", str(users), "--items", str(max(200, users // 4))], standalone_mode=False
            )
        else:
            typer.echo(f"store already has data ({settings.resolved_database_url()}); not loading the shop again")
        root = datasets_dir or default_datasets_dir()
        for name in dataset:
            if name not in DATASETS:
                raise typer.BadParameter(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
            rel, preset = DATASETS[name]
            path = root / rel
            if not path.exists():
                typer.echo(f"dataset {name}: {path} not found, skipped", err=True)
                continue
            runner.main(["import", str(path), "--preset", preset], standalone_mode=False)
        if train and (empty or dataset):
            runner.main(["train"], standalone_mode=False)
        _install_demo_content(settings)
        url = f"http://{host}:{port}"
        typer.echo("")
        typer.echo(f"  Pertinent demo      {url}")
        typer.echo(f"  demo shop           {url}/demo/   (open it in a browser: built on {url}/pertinent.js)")
        typer.echo(f"  API docs            {url}/docs")
        typer.echo(f"  dashboard           {url}/dashboard   (log in with the admin key)")
        typer.echo(f"  write key           {settings.write_key}   (HTTP Basic username, for /v1/track etc.)")
        typer.echo(f"  admin key           {settings.admin_key}   (Bearer token, for everything else)")
        typer.echo(
            f"  identity secret     {settings.identity_secret}   (your server signs user ids with it: "
            "user_hash = HMAC-SHA256(secret, user_id); keep it off pages)"
        )
        typer.echo(f"  data                {settings.resolved_database_url()}")
        typer.echo("")
        typer.echo(f"  curl -u {settings.write_key}: {url}/v1/track -H 'Content-Type: application/json' \\")
        example = '{"userId": "me", "event": "Product Viewed", "properties": {"category": "books"}}'
        typer.echo(f"       -d '{example}'")
        typer.echo(f"  curl -H 'Authorization: Bearer {settings.admin_key}' {url}/v1/profiles/me")
        typer.echo(f"  curl -H 'Authorization: Bearer {settings.admin_key}' '{url}/v1/recommendations?user_id=me&k=5'")
        typer.echo("")
        if serve:
            import os

            os.environ.setdefault("PERTINENT_DEMO_SITE", "true")  # the server reads its settings from the environment
            runner.main(["serve", "--host", host, "--port", str(port)], standalone_mode=False)
