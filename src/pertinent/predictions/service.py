"""Predictive traits on the stored data: fit, register, score every profile, refit on schedule.

:meth:`PredictionService.train` reads the stored behaviour events (``loader.py``), backtests LightGBM against the
recency/frequency logistic (``pertinent.predict``) for purchase propensity and churn risk, backtests the
next-purchase forecasters, keeps each model in the registry (``registry.py``) with its metrics, then writes
``predicted.*`` into the traits of every profile that allows personalisation (``profiles/predicted.py``; a profile that
withdrew it has its predicted traits removed). :meth:`start` registers the scheduled refits on the runtime job
runner: every ``refit_interval_s`` and as soon as ``refit_after_events`` events arrived since the last fit.

Thin data (too few profiles, no purchases, too short a span) gives a report with a ``message``, never an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from pertinent.predict.backtest import Panel, cutoff_schedule
from pertinent.predict.config import BacktestConfig, EventSpec, FeatureConfig
from pertinent.predict.propensity import ClassifierReport, train_classifier
from pertinent.predict.timing import TimingReport, train_timing
from pertinent.predictions.config import PredictConfig
from pertinent.predictions.loader import KeptEvents, load_events
from pertinent.predictions.models import ModelEntry, ScoreReport, TrainReport, TraitReport
from pertinent.predictions.monitor import LabelledScores, ModelDrift, labelled_scores, model_drift
from pertinent.predictions.registry import TRAITS, PredictionRegistry
from pertinent.privacy.consent import effective
from pertinent.profiles.features import ProfileConfig
from pertinent.profiles.predicted import NAMESPACE, block
from pertinent.runtime.jobs import JobRunner
from pertinent.settings import Settings
from pertinent.storage.base import ProfileRow, Store
from pertinent.storage.claims import StoreClaims

log = logging.getLogger("pertinent.predictions")
TARGETS = {"purchase_propensity": "purchase", "churn_risk": "churn"}


def _metrics(summary: Any) -> dict[str, Any]:
    if summary is None:
        return {}
    keep = ("auc", "pr_auc", "f1", "precision", "recall", "brier", "ece")
    return {k: getattr(summary, k) for k in keep}


def _classifier_report(trait: str, r: ClassifierReport, model: Any, message: str) -> TraitReport:
    return TraitReport(
        trait=trait,
        trained=model is not None,
        model_version=model.version if model is not None else None,
        target=f"{r.target} within {r.horizon_days:g} days",
        horizon_days=r.horizon_days,
        model=_metrics(r.model),
        baseline=_metrics(r.baseline),
        baseline_name="logistic regression on recency and frequency",
        lift=r.auc_lift,
        threshold=model.threshold if model is not None else None,
        threshold_rule=r.threshold_rule,
        calibration=[asdict(b) for b in (r.model.calibration if r.model else [])],
        feature_selection=(r.selection.summary or r.selection.message) if r.selection else "",
        folds=[asdict(f) for f in r.folds],
        message=message or r.message,
    )


def _timing_report(r: TimingReport, model: Any, message: str) -> TraitReport:
    by = {s.method: s for s in r.methods}
    best = by.get(r.best or "")
    base = by.get(r.baseline or "")
    return TraitReport(
        trait="days_to_next_purchase",
        trained=model is not None,
        model_version=model.version if model is not None else None,
        target=f"days to the next purchase, capped at {r.horizon_days:g}, customers with >= {r.min_orders} orders",
        horizon_days=r.horizon_days,
        model={"method": r.best, **({"mae": best.mae, "coverage_p10_p90": best.coverage} if best else {})},
        baseline={"method": r.baseline, **({"mae": base.mae} if base else {})},
        baseline_name="naive mean interval",
        lift=r.improvement,
        folds=[asdict(f) for f in r.folds],
        message=message or r.message,
    )


class PredictionService:
    """Train, register and score the predictive traits; ``exclude`` returns profile ids kept out (bots)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        profile_config: ProfileConfig,
        config: PredictConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.config = config or settings.predict.model_copy(deep=True)
        self.profile_config = profile_config
        self.clock = clock
        self.registry = PredictionRegistry(settings.data_dir / "predict_models", keep=self.config.keep_versions)
        self.jobs = JobRunner(StoreClaims(store), lambda: self.clock(), "pertinent-predict-jobs")
        self.exclude: Callable[[], Iterable[str]] = lambda: ()  # the data-quality hook: flagged bots / outliers
        self.on_written: Callable[[Sequence[ProfileRow]], None] | None = None  # segments re-evaluate these
        self._started = False
        self._failed_at = float("-inf")  # when a scheduled fit last found nothing to train on
        self.kept = KeptEvents()  # the monitoring's events, read incrementally (profile ids: dropped on erasure)

    # ------------------------------------------------------------------ configuration
    @property
    def spec(self) -> EventSpec:
        names = tuple(self.config.purchase_events or self.profile_config.purchase_events)
        return EventSpec(purchase_events=names, order_gap_seconds=0.0)

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(windows_days=tuple(self.config.windows_days), behaviour=self.config.behaviour_features)

    def backtest_config(self, horizon: float) -> BacktestConfig:
        c = self.config
        return BacktestConfig(
            horizon_days=horizon,
            step_days=c.step_days,
            n_folds=c.n_folds,
            max_cutoffs=c.max_cutoffs,
            min_users=min(30, c.min_profiles),
            min_positives=c.min_positives,
        )

    # ------------------------------------------------------------------ training
    def _events(self, now: float) -> pd.DataFrame:
        """Every behaviour event before ``now``, as five columns (``loader.load_events``: four fields and four JSON
        paths read, no document decoded). Not a time window: the features include lifetime ones (``tenure_days``,
        ``orders_total``, ``revenue_total``, ``items_total``, the intervals between all of a profile's orders) at
        every training cutoff and at scoring time, which need each profile's first event and every order. Not the
        monitoring's kept events (``self.kept``) either: a fit is rare (``predict.refit_*``, the CLI) and would keep
        every event in memory between fits for that."""
        with self.store.transaction(write=False) as tx:
            return load_events(tx, now, self.exclude())

    def train(self, now: float | None = None, score: bool = True) -> TrainReport:
        """Fit and register every trait's model on the stored events, then (``score``) write the traits."""
        now = self.clock() if now is None else now
        events = self._events(now)
        n_profiles = int(events["user"].nunique()) if len(events) else 0
        report = TrainReport(trained_at=now, n_events=len(events), n_profiles=n_profiles)
        if n_profiles < self.config.min_profiles:
            msg = (
                f"not trained: {n_profiles} profiles have behaviour events, fewer than predict.min_profiles="
                f"{self.config.min_profiles}; collect more events or lower the setting"
            )
            return report.model_copy(update={"message": msg})
        panel = Panel(events, self.spec, self.features)
        meta = {"n_events": len(events), "n_profiles": n_profiles, "trained_at": now}
        traits: list[TraitReport] = []
        for trait, target in TARGETS.items():
            horizon = self.config.purchase_horizon_days if target == "purchase" else self.config.churn_horizon_days
            fitted = train_classifier(panel, target, self.backtest_config(horizon))  # type: ignore[arg-type]
            tr = _classifier_report(trait, fitted.report, fitted.model, fitted.message)
            if fitted.model is not None:
                cutoffs = cutoff_schedule(panel.log, horizon, self.backtest_config(horizon))
                reference = fitted.model.predict(panel.features(cutoffs[-1]))
                tr = self._register(tr, fitted.model, meta, reference, fitted.model.trained_through)
            traits.append(tr)
        timing = train_timing(panel, self.backtest_config(self.config.timing_horizon_days))
        tr = _timing_report(timing.report, timing.model, timing.message)
        if timing.model is not None:
            H = self.config.timing_horizon_days
            cutoffs = cutoff_schedule(panel.log, H, self.backtest_config(H))
            f = panel.features(cutoffs[-1])
            reference = timing.model.predict(f[f["orders_total"].to_numpy() >= 2])["p50"].to_numpy()
            tr = self._register(tr, timing.model, meta, reference, timing.model.trained_through)
        traits.append(tr)
        report = report.model_copy(update={"traits": traits})
        if not report.any_trained:
            reasons = "; ".join(f"{t.trait}: {t.message}" for t in traits if t.message)
            return report.model_copy(update={"message": f"no model trained ({reasons})"})
        if score:
            scored = self.score(now, panel=panel)
            report = report.model_copy(update={"scored_profiles": scored.written, "message": scored.message})
        return report

    def _register(self, tr: TraitReport, model: Any, meta: dict[str, Any], reference: Any, through: str) -> TraitReport:
        metrics = tr.model_dump(exclude={"folds"})
        body = {**meta, "model_version": tr.model_version, "horizon_days": tr.horizon_days, "trained_through": through}
        version = self.registry.save(tr.trait, model, metrics, body, reference)
        return tr.model_copy(update={"registry_version": version})

    # ------------------------------------------------------------------ scoring
    def _models(self) -> dict[str, Any]:
        out = {}
        for trait in TRAITS:
            if self.registry.latest_version(trait) is not None:
                out[trait] = self.registry.load(trait)
        return out

    def predictions(self, now: float, panel: Panel | None = None) -> dict[str, dict[str, float | None]]:
        """Every profile with behaviour events before ``now`` -> its predicted values (latest models)."""
        models = self._models()
        if not models:
            return {}
        panel = panel or Panel(self._events(now), self.spec, self.features)
        f = panel.features(now)
        if f.empty:
            return {}
        cols: dict[str, np.ndarray] = {}
        for trait in ("purchase_propensity", "churn_risk"):
            if trait in models:
                cols[trait] = models[trait].predict(f)
        if "days_to_next_purchase" in models:
            q = models["days_to_next_purchase"].predict(f)
            repeat = f["orders_total"].to_numpy() >= 2
            for name, col in (("", "p50"), ("_low", "p10"), ("_high", "p90")):
                cols[f"days_to_next_purchase{name}"] = np.where(repeat, q[col].to_numpy(dtype=float), np.nan)
        frame = pd.DataFrame(cols, index=f.index)
        return {
            str(pid): {str(k): (None if pd.isna(v) else float(v)) for k, v in row.items()}
            for pid, row in frame.to_dict("index").items()
        }

    def versions(self) -> dict[str, str]:
        """Trait -> the model version of its latest registered model."""
        out = {}
        for trait in TRAITS:
            if self.registry.latest_version(trait) is not None:
                out[trait] = str(self.registry.meta(trait).get("model_version", ""))
        return out

    def score(self, now: float | None = None, panel: Panel | None = None) -> ScoreReport:
        """Write ``predicted.*`` for every profile that allows personalisation; clear it on the others."""
        now = self.clock() if now is None else now
        values = self.predictions(now, panel)
        if not values:
            return ScoreReport(scored_at=now, written=0, cleared=0, message="no registered model: run predict train")
        versions = self.versions()
        written = cleared = 0
        after: str | None = None
        batch = self.config.score_batch
        while True:
            with self.store.transaction(write=False) as tx:
                page = tx.profiles_after(after, batch)
            if not page:
                break
            after = page[-1].profile_id
            wanted: dict[str, dict[str, Any] | None] = {}
            for row in page:
                allowed = effective(row.consent, self.settings.default_consent)["personalization"]
                doc = block(values[row.profile_id], versions, now) if allowed and row.profile_id in values else None
                if doc is not None or NAMESPACE in row.traits:
                    wanted[row.profile_id] = doc
            if wanted:
                w, c = self._write(wanted, now)
                written, cleared = written + w, cleared + c
        return ScoreReport(scored_at=now, written=written, cleared=cleared)

    def _write(self, wanted: dict[str, dict[str, Any] | None], now: float) -> tuple[int, int]:
        written = cleared = 0
        with self.store.transaction(write=True) as tx:
            rows = tx.get_profiles(list(wanted), for_update=True)  # as ingestion locks them: no lost update
            changed = []
            for pid, row in rows.items():
                doc = wanted[pid]
                if doc is None:
                    if row.traits.pop(NAMESPACE, None) is None:
                        continue
                    cleared += 1
                else:
                    row.traits[NAMESPACE] = doc
                    written += 1
                row.updated_at = max(row.updated_at, now)
                changed.append(row)
            tx.put_profiles(changed)
        if changed and self.on_written is not None:
            self.on_written(changed)
        return written, cleared

    # ------------------------------------------------------------------ registry
    def models(self) -> list[ModelEntry]:
        """The latest model of each trait with its backtest metrics and the versions kept."""
        out = []
        for trait in TRAITS:
            if self.registry.latest_version(trait) is None:
                continue
            meta, metrics = self.registry.meta(trait), self.registry.metrics(trait)
            out.append(
                ModelEntry(
                    trait=trait,
                    registry_version=str(self.registry.latest_version(trait)),
                    model_version=str(meta.get("model_version", "")),
                    created_at=float(meta.get("created_at", 0.0)),
                    horizon_days=float(meta.get("horizon_days", 0.0)),
                    trained_through=str(meta.get("trained_through", "")),
                    n_events=int(meta.get("n_events", 0)),
                    n_profiles=int(meta.get("n_profiles", 0)),
                    metrics=metrics,
                    versions=self.registry.versions(trait),
                )
            )
        return out

    # ------------------------------------------------------------------ monitoring
    def panel(self, now: float | None = None) -> Panel:
        """The stored behaviour events before ``now`` with this service's spec and feature windows (the events
        are kept between calls: each reads only those stored since the last, ``loader.KeptEvents``)."""
        now = self.clock() if now is None else now
        with self.store.transaction(write=False) as tx:
            events = self.kept.frame(tx, now, self.exclude())
        return Panel(events, self.spec, self.features)

    def forget_cached(self, profile_id: str) -> None:
        """An erasure (here or on another node): drop the kept events, which hold profile ids."""
        self.kept.forget()

    def drift(self, now: float | None = None, panel: Panel | None = None) -> list[ModelDrift]:
        """Prediction drift and performance drift of each registered model (``monitor.py``)."""
        now = self.clock() if now is None else now
        out = []
        for trait, model in self._models().items():
            panel = panel or self.panel(now)
            out.append(
                model_drift(
                    trait,
                    model,
                    self.registry.reference(trait),
                    self.registry.metrics(trait),
                    panel,
                    now,
                    self.config.step_days,
                )
            )
        return out

    def labelled(self, trait: str, now: float | None = None, panel: Panel | None = None) -> LabelledScores | None:
        """The trait's scores at the latest cutoff whose label window has closed, with the outcomes (None when the
        trait has no registered model)."""
        now = self.clock() if now is None else now
        models = self._models()
        if trait not in models:
            return None
        model = models[trait]
        panel = panel or self.panel(now)
        return labelled_scores(trait, model, panel, panel.log.end - model.horizon_days * 86_400.0)

    # ------------------------------------------------------------------ schedule
    def refit_due(self) -> TrainReport | None:
        """Refit when ``refit_interval_s`` passed since the last fit or ``refit_after_events`` events arrived."""
        c = self.config
        last = [self.registry.meta(t) for t in TRAITS if self.registry.latest_version(t) is not None]
        now = self.clock()
        fitted_at = max((float(m.get("trained_at", 0.0)) for m in last), default=0.0)
        seen = max((int(m.get("n_events", 0)) for m in last), default=0)
        due = not last or (c.refit_interval_s > 0 and now - fitted_at >= c.refit_interval_s)
        if not due and c.refit_after_events > 0:
            with self.store.transaction(write=False) as tx:
                due = tx.count_events() - seen >= c.refit_after_events
        if not due or (not last and now - self._failed_at < max(c.refit_interval_s, 3600.0)):
            return None  # (never trained and the last try found too little data: not again at every check)
        report = self.train(now)
        self._failed_at = now if not report.any_trained else float("-inf")
        log.info("predictive traits refitted: %s", report.message or f"{report.scored_profiles} profiles scored")
        return report

    def start(self) -> None:
        """Register the scheduled refits on the job runner (the server calls this)."""
        if self._started or (self.config.refit_interval_s <= 0 and self.config.refit_after_events <= 0):
            return
        self._started = True
        self.jobs.every("predict-refit", self.config.check_interval_s, self.refit_due)

    def close(self) -> None:
        self.jobs.close()
