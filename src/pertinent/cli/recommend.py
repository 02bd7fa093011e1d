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
    from pertinent.cli.ids import read_interactions_table
    from pertinent.recommend.interactions import InteractionError, Interactions, to_seconds

    try:
        frame = read_interactions_table(str(path), [user_col, item_col])
        if timestamp_col is not None and timestamp_col in frame.columns:
            _warn_untimed(frame[timestamp_col], to_seconds(frame[timestamp_col].to_numpy()), timestamp_col)
        data = Interactions.from_frame(
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
    if data.n_items == 0:  # a header-only file, or every row filtered out: nothing any model could learn
        raise typer.BadParameter("--interactions: no usable rows after filtering")
    return data


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinity) replaced by None, so that it dumps as strict JSON."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _warn_untimed(values: Any, seconds: Any, column: str) -> None:
    """Say on stderr how many rows have no readable time (they are left out: a time split cannot place them)."""
    import numpy as np

    bad = ~np.isfinite(seconds)
    if bad.any():
        example = next((str(v) for v in values[bad] if v is not None and v == v), "empty")  # v == v: not NaN
        typer.echo(
            f"warning: {int(bad.sum()):,} of {len(bad):,} rows have no readable time in {column!r} "
            f"(e.g. {example[:40]!r}) and are left out",
            err=True,
        )


def _read_users(path: Path) -> list[str]:
    if not path.exists():
        raise typer.BadParameter(f"--users: file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is not part of the first id
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"--users: {path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


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
                from pertinent.cli.ids import read_interactions_table

                if not file.exists():
                    raise FileNotFoundError(f"file not found: {file}")
                # ids as text, as the events' ones are read: a SKU "007" stays "007" (not 7), "1e3" stays "1e3"
                frame = read_interactions_table(str(file), ["item_id"])
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
        users: Path = typer.Option(
            ...,
            help="File with one user id per line (no header). Ids are text; integers written as floats "
            "(12347.0) match the same integers in the interactions.",
        ),
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
        from pertinent.cli.ids import match_users, unknown_warning

        user_list = match_users(_read_users(users), data.user_index)
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
        warning = unknown_warning(len(user_list) - known, len(user_list))
        if warning:
            typer.echo(warning, err=True)
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
        timestamp_col: str | None = typer.Option(
            None, help="Column with event times (the default split becomes temporal; needed by temporal/global/last)."
        ),
        event_col: str | None = typer.Option(None, help="Column with event names."),
        models: str = typer.Option(
            "popularity,itemknn,ease,als,default,rw-ease,transitions",
            help="Comma-separated model kinds and peers (" + ", ".join(PEER_HELP) + ").",
        ),
        split: str = typer.Option(
            "auto",
            help="auto (temporal with --timestamp-col, else random), temporal (per user: the last --fraction of "
            "each user's distinct items), global (train before --at, test after; new users included), "
            "random (per-user holdout), last (leave-last-out).",
        ),
        fraction: float = typer.Option(0.2, help="Held-out fraction (random, temporal, global without --at)."),
        at: str | None = typer.Option(None, help="global: the cut time (seconds or a date), default a quantile."),
        min_user_interactions: int = typer.Option(5, help="Only users with this many items are evaluated."),
        seed: int = typer.Option(42, help="Random seed of the split."),
        k: int = typer.Option(10, min=1, help="Cut-off K of the metrics (recall is also given at 20)."),
        max_users: int | None = typer.Option(None, min=1, help="Score a seeded sample of this many test users."),
        search: list[str] = typer.Option(
            [], help="Grid search on a validation split of train, e.g. 'ease:regularization=50,100,200' (repeatable)."
        ),
        json_out: Path | None = typer.Option(None, "--json", help="Also write results as JSON here."),
    ) -> None:
        """Split FILE, train each model on the train part and report ranking metrics on the test part."""
        import json

        from rich.console import Console
        from rich.progress import Progress
        from rich.table import Table

        from pertinent.evaluation import grid_search
        from pertinent.evaluation.evaluate import cold_warning
        from pertinent.evaluation.peers import ModelRanker, compare, make_peer

        console = Console()
        data = _load_interactions(interactions, user_col, item_col, rating_col, min_rating, timestamp_col, event_col)
        parts = _make_split(data, split, fraction, at, min_user_interactions, seed)
        searches: dict[str, dict[str, list[Any]]] = {}
        for spec in search:
            try:
                kind, setting = spec.split(":", 1)
                name, values = setting.split("=", 1)
                searches.setdefault(kind, {})[name] = [json.loads(v) for v in values.split(",")]
            except ValueError as exc:
                raise typer.BadParameter(f"--search: expected kind:param=v1,v2 got {spec!r}") from exc
        kinds = [m.strip() for m in models.split(",") if m.strip()]
        unsearched = sorted(set(searches) - set(kinds))
        if unsearched:  # a search that would silently not run
            raise typer.BadParameter(f"{', '.join(unsearched)}: not among --models {models!r}", param_hint="--search")
        shared: dict[float, Any] = {}
        rankers: list[Any] = []
        found_params: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            peer = make_peer(kind, shared)
            if peer is not None:
                rankers.append(peer)
                continue
            params: dict[str, Any] = {}
            if kind in searches:
                try:
                    found = grid_search(kind, searches[kind], parts.train, k=k, seed=seed)
                except ValueError as exc:  # a parameter the model does not have, a value of the wrong type
                    raise typer.BadParameter(str(exc).split("\n    For further")[0], param_hint="--search") from None
                params = found.best_params
                found_params[kind] = {
                    "best_params": params,
                    "best_validation": found.best_score,
                    "trials": found.trials,
                    "message": found.message,
                }
            try:
                rankers.append(ModelRanker(kind, params))
            except ValueError as exc:
                raise typer.BadParameter(f"{exc} (or a peer: {', '.join(PEER_HELP)})", param_hint="--models") from exc
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("evaluating", total=len(rankers))
            done = compare(
                parts, rankers, k=k, recall_k=20, max_users=max_users, seed=seed, on_done=lambda _: bar.advance(task)
            )
        results: dict[str, Any] = {}
        for kind, res in zip(kinds, done, strict=True):
            results[kind] = {**res.to_dict(), **({"search": found_params[kind]} if kind in found_params else {})}
        table = Table(title=f"{parts.describe()}, K={k}")
        names = ["ndcg", "recall@20", "map", "precision", "hit_rate", "mrr", "coverage", "novelty", "ndcg_warm"]
        if not any("ndcg_warm" in r.result.metrics for r in done):
            names.remove("ndcg_warm")
        table.add_column("model")
        for n in names:
            table.add_column(
                n if "@" in n or n.endswith("warm") else f"{n}@{k}" if n != "novelty" else n, justify="right"
            )
        table.add_column("fit s", justify="right")
        for kind, res in zip(kinds, done, strict=True):
            m = res.result.metrics
            table.add_row(kind, *(f"{m.get(n, float('nan')):.4f}" for n in names), f"{res.fit_seconds:.1f}")
        console.print(table)
        n_users = done[0].result.n_users if done else 0
        warning = cold_warning(done[0].result.n_cold, n_users) if done else ""
        for kind, res in zip(kinds, done, strict=True):
            if res.note:
                console.print(f"{kind}: {res.note}")
        if not warning and done and done[0].result.message:
            console.print(done[0].result.message)
        if warning:
            typer.secho(warning, err=True, fg="red", bold=True)
        if json_out is not None:
            # NaN (a skipped peer's fit time, a metric with no user to average) is no JSON: null, as the API writes
            json_out.write_text(json.dumps(_json_safe(results), indent=2, default=float, allow_nan=False))
            console.print(f"wrote {json_out}")


PEER_HELP = ("rw-ease", "rw-ease-100", "ease-100", "ease-500", "als-peer", "transitions", "popularity-peer")


def _make_split(data: Any, split: str, fraction: float, at: str | None, min_items: int, seed: int) -> Any:
    """The --split of `pertinent evaluate` (auto: temporal when the data has timestamps, else random)."""
    from pertinent.evaluation import global_time_split, leave_last_out, random_holdout, temporal_user_split

    if split == "auto":
        split = "temporal" if data.has_timestamps else "random"
    try:
        if split == "random":
            return random_holdout(data, fraction, seed, min_items)
        if split == "last":
            return leave_last_out(data, 2)
        if split == "temporal":
            return temporal_user_split(data, fraction, min_items)
        if split == "global":
            return global_time_split(data, at=None if at is None else _parse_time(at), quantile=1 - fraction)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--split") from exc
    raise typer.BadParameter("choose auto, temporal, global, random or last", param_hint="--split")


def _parse_time(value: str) -> float:
    import pandas as pd

    try:
        return float(value)
    except ValueError:
        pass
    stamp = pd.to_datetime(value, errors="coerce", utc=True)
    if pd.isna(stamp):
        raise typer.BadParameter(f"not a number of seconds nor a date: {value!r}", param_hint="--at")
    return float((stamp - pd.Timestamp(0, tz="UTC")).total_seconds())
