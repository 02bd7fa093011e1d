"""CLI commands for recommend (registered on the main `pertinent` app): batch-recommend, evaluate, train,
items import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _load_interactions(
    path: Path,
    user_col: str,
    item_col: str,
    rating_col: str | None,
    min_rating: float | None,
    timestamp_col: str | None,
    event_col: str | None,
) -> Any:
    from pertinent.recommend.interactions import InteractionError, Interactions, read_table

    try:
        frame = read_table(str(path))
        return Interactions.from_frame(
            frame,
            user_col=user_col,
            item_col=item_col,
            rating_col=rating_col,
            min_rating=min_rating,
            timestamp_col=timestamp_col,
            event_col=event_col,
        )
    except InteractionError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _read_users(path: Path) -> list[str]:
    if not path.exists():
        raise typer.BadParameter(f"--users: file not found: {path}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def catalogue_records(frame: Any) -> list[dict[str, Any]]:
    """Rows of a catalogue DataFrame (``item_id`` plus optional title, text, categories, tags, price, other
    numeric or text columns as attributes, available_from/until) as ``POST /v1/items`` objects."""
    import math

    from pertinent.recommend.catalogue import _as_list

    known = {"item_id", "title", "text", "categories", "tags", "available_from", "available_until"}
    extra = [c for c in frame.columns if c not in known]
    out = []
    for rec in frame.to_dict("records"):
        item: dict[str, Any] = {"item_id": rec.get("item_id")}
        for col in ("title", "text"):
            value = rec.get(col)
            if isinstance(value, str):
                item[col] = value
        for col in ("categories", "tags"):
            if col in rec:
                item[col] = _as_list(rec[col])
        for col in ("available_from", "available_until"):
            value = rec.get(col)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                item[col] = value.isoformat() if hasattr(value, "isoformat") else value
        attrs = {}
        for col in extra:
            value = rec[col]
            if hasattr(value, "item"):  # numpy scalar
                value = value.item()
            if isinstance(value, float) and math.isnan(value) or value is None:
                continue
            if isinstance(value, str | int | float | bool):
                attrs[str(col)] = value
        if attrs:
            item["attributes"] = attrs
        if isinstance(item["item_id"], float) and item["item_id"].is_integer():
            item["item_id"] = int(item["item_id"])
        out.append(item)
    return out


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    items_app = typer.Typer(
        help="The item catalogue (titles, categories, availability) used when serving.", no_args_is_help=True
    )
    app.add_typer(items_app, name="items")

    @items_app.command("import")
    def items_import(
        file: Path = typer.Argument(
            ...,
            help="CSV or Parquet catalogue (item_id, title, categories, tags, "
            "price, ...), or the dataset file/folder of a --preset.",
        ),
        preset: str | None = typer.Option(None, help="movielens or online-retail: read the dataset's items."),
        batch_size: int = typer.Option(1000, min=1, help="Items per transaction."),
    ) -> None:
        """Load items into the catalogue table (existing ids are replaced)."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from pertinent.privacy.audit import Actor
        from pertinent.privacy.keys import ensure_keys
        from pertinent.recommend.items import ItemProblem, validate_items
        from pertinent.services import Services
        from pertinent.settings import load_settings

        console = Console(stderr=True)
        try:
            if preset:
                from pertinent.events.importing import extract_catalogue

                frame = extract_catalogue(file, preset=preset)
            else:
                from pertinent.recommend.interactions import read_table

                if not file.exists():
                    raise FileNotFoundError(f"file not found: {file}")
                frame = read_table(str(file))
                if "item_id" not in frame.columns:
                    raise ValueError(f"item_id: column missing (columns: {list(frame.columns)})")
        except (ValueError, FileNotFoundError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        records = catalogue_records(frame)
        services = Services.build(ensure_keys(load_settings()))
        stored = 0
        errors: list[ItemProblem] = []
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(f"items {file.name}", total=len(records))
                for start in range(0, len(records), batch_size):
                    chunk = records[start : start + batch_size]
                    rows, errs = validate_items(chunk, prefix="row", offset=start)
                    errors += errs
                    services.recommend.upsert_rows(rows, Actor.cli())
                    stored += len(rows)
                    progress.advance(task, len(chunk))
        finally:
            services.close()
        typer.echo(f"items read {len(records)}, stored {stored}, rejected {len(records) - stored}")
        for e in errors[:10]:
            typer.echo(f"  {e['field']}: {e['message']}", err=True)

    @app.command("train")
    def train(
        model: str = typer.Option("default", help="Model kind (default, ease, itemknn, als, bpr, popularity)."),
        max_events: int | None = typer.Option(None, min=1, help="Use only the newest N track events."),
        seed: int = typer.Option(42, help="Seed of the evaluation holdout."),
        config: str | None = typer.Option(
            None,
            help='The model\'s config as JSON, e.g. \'{"hybrid": {"content": {"encoder": "embedding"}}}\' '
            "(default: PERTINENT_RECOMMEND__TRAIN_CONFIG when --model is the served model).",
        ),
    ) -> None:
        """Train a model on stored events, evaluate it on a per-user holdout and save a new version.

        A running server picks the new version up within seconds (no restart).
        """
        import json

        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from pertinent.privacy.audit import Actor
        from pertinent.privacy.keys import ensure_keys
        from pertinent.recommend.training import train_from_store
        from pertinent.services import Services
        from pertinent.settings import load_settings

        console = Console(stderr=True)
        settings = ensure_keys(load_settings())
        if config is not None:
            try:
                model_config = json.loads(config)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"not JSON: {exc}", param_hint="--config") from exc
            if not isinstance(model_config, dict):
                raise typer.BadParameter("must be a JSON object", param_hint="--config")
        else:
            model_config = settings.recommend.train_config if model == settings.recommend.model else {}
        services = Services.build(settings)
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.completed:,.0f}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("starting", total=None)

                def step(label: str, n: int | None) -> None:
                    bar.update(task, description=label, advance=n or 0)

                result = train_from_store(
                    services.store,
                    settings.data_dir,
                    model,
                    max_events,
                    seed=seed,
                    progress=step,
                    config=model_config,
                    actor=Actor.cli(),
                )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--config" if config else "--model") from exc
        finally:
            services.close()
        if result.version is None:
            typer.echo(f"nothing trained: {result.message}", err=True)
            raise typer.Exit(1)
        typer.echo(
            f"saved model {result.model!r} version {result.version} "
            f"({result.n_users:,} users x {result.n_items:,} items, {result.n_interactions:,} interactions)"
        )
        holdout = result.metrics.get("holdout")
        if holdout:
            m = holdout["metrics"]
            typer.echo(
                f"holdout K={holdout['k']} on {holdout['n_users']:,} users: "
                + ", ".join(
                    f"{name} {m[name]:.4f}"
                    for name in ("ndcg", "precision", "recall", "hit_rate", "coverage")
                    if name in m
                )
            )
        if result.message:
            typer.echo(result.message)

    @app.command("batch-recommend")
    def batch_recommend(
        interactions: Path = typer.Option(..., help="CSV or Parquet file of interactions (one row per event)."),
        user_col: str = typer.Option("user", help="Column with user ids."),
        item_col: str = typer.Option("item", help="Column with item ids."),
        rating_col: str | None = typer.Option(None, help="Column with ratings (rows below --min-rating are dropped)."),
        min_rating: float | None = typer.Option(None, help="Lowest rating that counts as a positive."),
        timestamp_col: str | None = typer.Option(None, help="Column with event times (seconds or dates)."),
        event_col: str | None = typer.Option(None, help="Column with event names, weighted view < cart < purchase."),
        users: Path = typer.Option(..., help="File with one user id per line (no header)."),
        k: int = typer.Option(10, min=1, help="Recommendations per user."),
        output: Path = typer.Option(Path("recs.csv"), help="Output CSV: user,item,rank,score."),
        model: str = typer.Option("default", help="Model kind (default, ease, itemknn, als, bpr, popularity)."),
        save_to: Path | None = typer.Option(None, help="Also save the trained model in this data dir's registry."),
    ) -> None:
        """Train on FILE alone and write top-K recommendations for every listed user.

        Items a user already has in FILE are excluded; users without history get popular items.
        """
        import logging

        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from pertinent.recommend.models import make_model

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
        console = Console(stderr=True)
        data = _load_interactions(interactions, user_col, item_col, rating_col, min_rating, timestamp_col, event_col)
        if data.n_items == 0:
            raise typer.BadParameter("--interactions: no usable rows after filtering")
        user_list = _read_users(users)
        try:
            recommender = make_model(model)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"training {model} on {data.n_users:,} users x {data.n_items:,} items", total=None)
            recommender.fit(data)
            bar.update(task, total=1, completed=1)
            task = bar.add_task("recommending", total=len(user_list))
            frames = []
            step = 512
            for start in range(0, len(user_list), step):
                chunk = user_list[start : start + step]
                frames.append(recommender.recommend_batch(chunk, k=k))
                bar.advance(task, len(chunk))
        import pandas as pd

        out = (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["user", "item", "rank", "score"])
        )
        out.to_csv(output, index=False, float_format="%.6g")
        known = sum(1 for u in user_list if u in data.user_index)
        console.print(
            f"wrote {len(out):,} rows for {len(user_list):,} users ({len(user_list) - known:,} "
            f"without history got the popularity fallback) to {output}"
        )
        report = getattr(recommender, "report", None)
        if report and report.get("weights"):
            console.print(
                f"chosen blend {report['weights']}, EASE lambda {report.get('ease_lambda')}, "
                f"validation NDCG@10 {report.get('validation_ndcg')}"
            )
        if save_to is not None:
            from pertinent.recommend.registry import ModelRegistry

            version = ModelRegistry.for_data_dir(save_to).save(model, recommender, metrics=report or {})
            console.print(f"saved model {model!r} version {version} under {save_to / 'models'}")

    @app.command("evaluate")
    def evaluate_cmd(
        interactions: Path = typer.Option(..., help="CSV or Parquet file of interactions."),
        user_col: str = typer.Option("user", help="Column with user ids."),
        item_col: str = typer.Option("item", help="Column with item ids."),
        rating_col: str | None = typer.Option(None, help="Column with ratings."),
        min_rating: float | None = typer.Option(None, help="Lowest rating that counts as a positive."),
        timestamp_col: str | None = typer.Option(None, help="Column with event times (needed by last/temporal)."),
        event_col: str | None = typer.Option(None, help="Column with event names."),
        models: str = typer.Option("popularity,itemknn,ease,default", help="Comma-separated model kinds."),
        split: str = typer.Option("random", help="random (per-user holdout), last (leave-last-out), temporal."),
        fraction: float = typer.Option(0.2, help="Held-out fraction (random, temporal)."),
        min_user_interactions: int = typer.Option(5, help="Only users with this many items are evaluated."),
        seed: int = typer.Option(42, help="Random seed of the split."),
        k: int = typer.Option(10, min=1, help="Cut-off K of the metrics."),
        search: list[str] = typer.Option(
            [], help="Grid search on a validation split of train, e.g. 'ease:regularization=50,100,200' (repeatable)."
        ),
        json_out: Path | None = typer.Option(None, "--json", help="Also write results as JSON here."),
    ) -> None:
        """Split FILE, train each model on the train part and report ranking metrics on the test part."""
        import json
        import time

        from rich.console import Console
        from rich.progress import Progress
        from rich.table import Table

        from pertinent.evaluation import evaluate, grid_search, leave_last_out, random_holdout, temporal_split
        from pertinent.recommend.models import make_model

        console = Console()
        data = _load_interactions(interactions, user_col, item_col, rating_col, min_rating, timestamp_col, event_col)
        try:
            if split == "random":
                parts = random_holdout(data, fraction, seed, min_user_interactions)
            elif split == "last":
                parts = leave_last_out(data, 2)
            elif split == "temporal":
                parts = temporal_split(data, fraction)
            else:
                raise typer.BadParameter("--split: choose random, last or temporal")
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        searches: dict[str, dict[str, list[Any]]] = {}
        for spec in search:
            try:
                kind, setting = spec.split(":", 1)
                name, values = setting.split("=", 1)
                searches.setdefault(kind, {})[name] = [json.loads(v) for v in values.split(",")]
            except ValueError as exc:
                raise typer.BadParameter(f"--search: expected kind:param=v1,v2 got {spec!r}") from exc
        results: dict[str, Any] = {}
        kinds = [m.strip() for m in models.split(",") if m.strip()]
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("evaluating", total=len(kinds))
            for kind in kinds:
                params: dict[str, Any] = {}
                entry: dict[str, Any] = {}
                if kind in searches:
                    found = grid_search(kind, searches[kind], parts.train, k=k, seed=seed)
                    params = found.best_params
                    entry["search"] = {
                        "best_params": params,
                        "best_validation": found.best_score,
                        "trials": found.trials,
                        "message": found.message,
                    }
                try:
                    model = make_model(kind, params)
                except ValueError as exc:
                    raise typer.BadParameter(str(exc)) from exc
                start = time.perf_counter()
                model.fit(parts.train)
                fit_s = time.perf_counter() - start
                result = evaluate(model, parts, k=k)
                entry.update(result.to_dict())
                entry["fit_seconds"] = round(fit_s, 3)
                results[kind] = entry
                bar.advance(task)
        table = Table(title=f"{split} split, K={k}, {len(parts.test_users):,} test users")
        names = ["precision", "recall", "map", "ndcg", "hit_rate", "mrr", "coverage", "novelty"]
        table.add_column("model")
        for n in names:
            table.add_column(n, justify="right")
        table.add_column("fit s", justify="right")
        for kind, entry in results.items():
            m = entry["metrics"]
            table.add_row(kind, *(f"{m.get(n, float('nan')):.4f}" for n in names), f"{entry['fit_seconds']:.1f}")
        console.print(table)
        for kind, entry in results.items():
            if entry.get("message"):
                console.print(f"{kind}: {entry['message']}")
        if json_out is not None:
            json_out.write_text(json.dumps(results, indent=2, default=float))
            console.print(f"wrote {json_out}")
