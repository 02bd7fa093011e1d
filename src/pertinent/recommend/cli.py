"""CLI commands for recommend (registered on the main `pertinent` app): batch-recommend, evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _load_interactions(path: Path, user_col: str, item_col: str, rating_col: str | None,
                       min_rating: float | None, timestamp_col: str | None, event_col: str | None) -> Any:
    from pertinent.recommend.interactions import InteractionError, Interactions, read_table

    try:
        frame = read_table(str(path))
        return Interactions.from_frame(frame, user_col=user_col, item_col=item_col, rating_col=rating_col,
                                       min_rating=min_rating, timestamp_col=timestamp_col, event_col=event_col)
    except InteractionError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _read_users(path: Path) -> list[str]:
    if not path.exists():
        raise typer.BadParameter(f"--users: file not found: {path}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

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
        data = _load_interactions(interactions, user_col, item_col, rating_col, min_rating, timestamp_col,
                                  event_col)
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
                chunk = user_list[start:start + step]
                frames.append(recommender.recommend_batch(chunk, k=k))
                bar.advance(task, len(chunk))
        import pandas as pd

        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["user", "item", "rank", "score"])
        out.to_csv(output, index=False, float_format="%.6g")
        known = sum(1 for u in user_list if u in data.user_index)
        console.print(f"wrote {len(out):,} rows for {len(user_list):,} users ({len(user_list) - known:,} "
                      f"without history got the popularity fallback) to {output}")
        report = getattr(recommender, "report", None)
        if report and report.get("weights"):
            console.print(f"chosen blend {report['weights']}, EASE lambda {report.get('ease_lambda')}, "
                          f"validation NDCG@10 {report.get('validation_ndcg')}")
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
        search: list[str] = typer.Option([], help="Grid search on a validation split of train, e.g. "
                                         "'ease:regularization=50,100,200' (repeatable)."),
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
        data = _load_interactions(interactions, user_col, item_col, rating_col, min_rating, timestamp_col,
                                  event_col)
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
                kind, params = spec.split(":", 1)
                name, values = params.split("=", 1)
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
                    entry["search"] = {"best_params": params, "best_validation": found.best_score,
                                       "trials": found.trials, "message": found.message}
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
