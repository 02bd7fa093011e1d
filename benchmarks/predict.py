"""Predictive traits backtest: propensity, churn and next-purchase timing on Online Retail and the Taobao sample.

Protocol (time-based, rolling origin; ``pertinent.predict``): features at each cutoff from events before it,
labels from the window after it; each test cutoff (the last three) is scored by models trained on the
earlier cutoffs whose label window had closed by then. LightGBM vs a logistic regression on recency and
frequency only; next-purchase MAE (days, capped at the horizon) vs the better of two naive mean-interval
rules.

- Online Retail (cleaned as the datasets README says; one order = the invoices of a customer less than an
  hour apart): feature windows 30/90/180/365 days, cutoffs every 30 days from 90 days after the first
  invoice; purchase within 30 days, churn = no order within 90 days, next order within 90 days.
- Taobao sample (purchase = ``buy``; buys less than an hour apart = one order; the nine documented days
  only): its nine days need short windows, 0.5/1/3/7 days, cutoffs every 12 hours from day 2; purchase within
  1 day, churn = no event at all within 1 day, next buy within 2 days.

Run: .venv/bin/python benchmarks/predict.py [--datasets retail,taobao] [--json out.json] [--behaviour]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pertinent.predict.backtest import Panel
from pertinent.predict.config import BacktestConfig, EventSpec, FeatureConfig
from pertinent.predict.datasets import online_retail_events, taobao_events
from pertinent.predict.propensity import ClassifierReport, backtest_classifier
from pertinent.predict.timing import TimingReport, backtest_timing

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


@dataclass(frozen=True)
class Setup:
    name: str
    spec: EventSpec
    features: FeatureConfig
    purchase: BacktestConfig
    churn: BacktestConfig
    timing: BacktestConfig


SETUPS = {
    "retail": Setup(
        "Online Retail",
        EventSpec(purchase_events=("order",), order_gap_seconds=3600),
        FeatureConfig(windows_days=(30, 90, 180, 365)),
        BacktestConfig(horizon_days=30, step_days=30, min_history_days=90),
        BacktestConfig(horizon_days=90, step_days=30, min_history_days=90),
        BacktestConfig(horizon_days=90, step_days=30, min_history_days=90),
    ),
    "taobao": Setup(
        "Taobao sample",
        EventSpec(purchase_events=("buy",), order_gap_seconds=3600),
        FeatureConfig(windows_days=(0.5, 1, 3, 7)),
        BacktestConfig(horizon_days=1, step_days=0.5, min_history_days=2, max_cutoffs=20),
        BacktestConfig(horizon_days=1, step_days=0.5, min_history_days=2, max_cutoffs=20),
        BacktestConfig(horizon_days=2, step_days=0.5, min_history_days=2, max_cutoffs=20),
    ),
}


def load(name: str) -> Any:
    if name == "retail":
        return online_retail_events(DATASETS / "online-retail" / "online_retail.parquet")
    if name == "taobao":
        return taobao_events(DATASETS / "taobao-userbehavior-sample" / "UserBehavior.csv")
    raise SystemExit(f"unknown dataset {name}")


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def classifier_row(dataset: str, r: ClassifierReport) -> str:
    m, b = r.model, r.baseline
    if m is None or b is None:
        return f"| {dataset} | {r.target} {r.horizon_days:g}d | {r.message} ||||||||"
    return (
        f"| {dataset} | {r.target} {r.horizon_days:g}d | **{fmt(m.auc)}** | {fmt(b.auc)} | {r.auc_lift:+.3f} "
        f"| {fmt(m.pr_auc)} / {fmt(b.pr_auc)} | {fmt(m.brier)} / {fmt(b.brier)} | {fmt(m.f1)} / {fmt(b.f1)} "
        f"| {fmt(m.ece)} / {fmt(b.ece)} | {r.seconds:.0f} |"
    )


def timing_row(dataset: str, r: TimingReport) -> str:
    if r.best is None or r.baseline is None:
        return f"| {dataset} | {r.message} |||||||"
    by = {s.method: s for s in r.methods}
    best, base = by[r.best], by[r.baseline]
    others = ", ".join(f"{s.method} {s.mae:.2f}" for s in r.methods if s.method not in (r.best, r.baseline))
    return (
        f"| {dataset} | {r.horizon_days:g}d | {base.mae:.2f} ({r.baseline}) | **{best.mae:.2f}** ({r.best}) "
        f"| {100 * (r.improvement or 0):.1f}% | {fmt(base.mae_observed, 2)} / {fmt(best.mae_observed, 2)} "
        f"| {fmt(best.coverage, 2)} | {others} | {r.seconds:.0f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="retail,taobao")
    ap.add_argument("--json", type=Path, help="write every report here")
    ap.add_argument("--behaviour", action="store_true", help="add the features of pertinent.predict.behaviour")
    args = ap.parse_args()
    import lightgbm
    import sklearn

    print(
        f"python {platform.python_version()}, lightgbm {lightgbm.__version__}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    cls_rows, time_rows, notes, dump = [], [], [], {}
    for name in args.datasets.split(","):
        setup = SETUPS[name]
        started = time.perf_counter()
        features = setup.features.model_copy(update={"behaviour": args.behaviour})
        panel = Panel(load(name), setup.spec, features)
        print(
            f"{setup.name}: {len(panel.log):,} events, {panel.log.n_users:,} users, loaded in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        purchase = backtest_classifier(panel, "purchase", setup.purchase)
        churn = backtest_classifier(panel, "churn", setup.churn)
        timing = backtest_timing(panel, setup.timing)
        total = time.perf_counter() - started
        cls_rows += [classifier_row(setup.name, purchase), classifier_row(setup.name, churn)]
        time_rows.append(timing_row(setup.name, timing))
        for r in (purchase, churn):
            folds = ", ".join(
                f"{f.test_cutoff[:16]} {fmt(f.model.auc)}/{fmt(f.baseline.auc)} (n={f.n_test}, base rate "
                f"{fmt(f.model.base_rate, 2)})"
                if f.model and f.baseline
                else f"{f.test_cutoff[:16]} {f.message}"
                for f in r.folds
            )
            notes.append(
                f"- {setup.name}, {r.target}: folds LightGBM/baseline AUC {folds}. "
                f"Threshold: {r.threshold_rule}. {r.selection.summary if r.selection else r.message}"
            )
        notes.append(
            f"- {setup.name}, timing: folds "
            + ", ".join(f"{f.test_cutoff[:16]} n={f.n_test} censored {fmt(f.censored_share, 2)}" for f in timing.folds)
            + f"; total {total:.0f} s for the dataset"
        )
        dump[name] = {
            "purchase": purchase.to_dict(),
            "churn": churn.to_dict(),
            "timing": timing.to_dict(),
            "seconds": total,
        }

    print(
        "\n| dataset | target | LightGBM AUC | RF logistic AUC | lift | PR-AUC (LGBM / LR) | Brier (LGBM / LR) "
        "| F1 (LGBM / LR) | ECE (LGBM / LR) | s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(cls_rows))
    print(
        "\n| dataset | horizon | naive MAE (days) | best MAE | lower by | MAE if bought (naive / best) "
        "| p10-p90 coverage | other methods | s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|---:|")
    print("\n".join(time_rows))
    print("\n" + "\n".join(notes))
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1, default=str))


if __name__ == "__main__":
    main()
