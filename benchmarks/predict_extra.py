"""Propensity ideas that did not reach +0.03 AUC over the recency/frequency logistic (issue 14, third pass).

Same protocol as ``benchmarks/predict.py`` (features strictly before each cutoff, rolling-origin test cutoffs,
models trained on the earlier cutoffs whose label window had closed): the default features, then the default
features plus extra groups, and a few model variants, each against the logistic on recency and frequency.
Nothing here is tuned on the test cutoffs: the blend weight is chosen on the latest training cutoff, scored by
models fitted on the cutoffs before it, like the F1 threshold.

Extra feature groups (all from events strictly before the cutoff):

- ``catalogue``: cross-user demand. For every item and item family (Online Retail: the first three characters
  of the stock code; Taobao: the category), distinct buyers in the last ``s`` days against the ``s`` days before
  (log ratio), the share of its past buyers who bought it in the last ``s`` days, and its recent rate against
  its ``l``-day rate; per user the mean and max over the items / families in the user's history and the share
  of them that are rising. Online Retail: (s, l) = (30, 180) and (7, 90) days, purchases only; Taobao (0.5, 3)
  and (1, 7) days, every event.
- ``attributes`` (Online Retail only): UK or abroad (last invoice's country), median quantity and unit price a
  line, lines and units an invoice (wholesale vs retail).
- ``cycles``: purchase cycles per item: items bought on two or more days, their mean interval, and how overdue
  each is (days since its last purchase / interval): count, min, mean and median overdue ratio, the share due
  now (0.7-1.5), the median interval.

Model variants on default + extra features: ``blend`` (rank average of LightGBM and the logistic, weight from
0 to 1 in tenths chosen on the inner split), ``monotone`` (LightGBM with recency decreasing and frequency
increasing the purchase score, reversed for churn), ``spline`` (a logistic on cubic splines of every log feature).

Run: PYTHONPATH=src python benchmarks/predict_extra.py --dataset retail --target purchase --horizons 7,14,30
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import rankdata

from pertinent.predict.backtest import EPS, Fold, Panel, Stacked, cutoff_schedule, plan_folds, stack
from pertinent.predict.config import DAY, BacktestConfig
from pertinent.predict.datasets import NON_PRODUCT_CODES
from pertinent.predict.metrics import roc_auc
from pertinent.predict.models import RecencyFrequencyLogit, fit_lightgbm, positive_scores
from pertinent.predict.propensity import _labeller
from predict import DATASETS, SETUPS, load

Raw = pd.DataFrame


def retail_lines() -> Raw:
    """Online Retail lines cleaned as ``online_retail_events`` does, with quantity, price, country, invoice."""
    df = pd.read_parquet(DATASETS / "online-retail" / "online_retail.parquet")
    df = df[~df["InvoiceNo"].astype(str).str.startswith("C")]
    df = df[df["Quantity"] > 0].dropna(subset=["CustomerID"])
    code = df["StockCode"].astype(str).str.strip()
    df = df[~code.isin(NON_PRODUCT_CODES) & ~code.str.upper().str.startswith(("DCGS", "GIFT_"))]
    code = df["StockCode"].astype(str).str.strip()
    ts = (pd.to_datetime(df["InvoiceDate"]) - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    out = pd.DataFrame(
        {
            "user": df["CustomerID"].astype("int64").astype(str).to_numpy(object),
            "ts": ts.to_numpy(float),
            "item": code.to_numpy(object),
            "family": code.str[:3].to_numpy(object),
            "purchase": True,
            "qty": df["Quantity"].to_numpy(float),
            "price": df["UnitPrice"].to_numpy(float),
            "country": df["Country"].astype(str).to_numpy(object),
            "invoice": df["InvoiceNo"].astype(str).to_numpy(object),
        }
    )
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


def taobao_lines(panel: Panel) -> Raw:
    f = panel.log.frame
    return pd.DataFrame(
        {"user": f["user"], "ts": f["ts"], "item": f["item"], "family": f["category"], "purchase": f["purchase"]}
    )


def _users(past: Raw) -> pd.Index:
    return pd.Index(np.sort(past["user"].unique()), name="user")


def catalogue(raw: Raw, at: float, short: float, long_: float, purchases_only: bool) -> pd.DataFrame:
    past = raw[raw["ts"].to_numpy() < at]
    demand = past[past["purchase"].to_numpy(bool)] if purchases_only else past
    age = (at - demand["ts"].to_numpy()) / DAY
    cols: dict[str, pd.Series] = {}
    for key in ("item", "family"):
        g = demand.groupby(key)["user"]
        ever = g.nunique()
        last = demand[age <= short].groupby(key)["user"].nunique().reindex(ever.index, fill_value=0)
        prev = demand[(age > short) & (age <= 2 * short)].groupby(key)["user"].nunique().reindex(ever.index)
        lng = demand[age <= long_].groupby(key)["user"].nunique().reindex(ever.index, fill_value=0)
        stats = pd.DataFrame(
            {
                "trend": np.log((last + 1) / (prev.fillna(0) + 1)),
                "recent_share": last / ever,
                "rel_now": np.log((last / short + 0.1) / (lng / long_ + 0.1)),
            }
        )
        held = past[["user", key]].drop_duplicates().join(stats, on=key)
        by = held.groupby("user")
        for c in stats.columns:
            cols[f"{key}_{c}_mean"] = by[c].mean()
            cols[f"{key}_{c}_max"] = by[c].max()
        cols[f"{key}_rising_share"] = (held["trend"] > 0).groupby(held["user"]).mean()
    return pd.DataFrame(cols).reindex(_users(past)).astype(float)


def attributes(raw: Raw, at: float) -> pd.DataFrame:
    past = raw[raw["ts"].to_numpy() < at]
    g = past.groupby("user")
    invoices = g["invoice"].nunique()
    cols = {
        "uk": (g["country"].last() == "United Kingdom").astype(float),
        "qty_median": g["qty"].median(),
        "price_median": g["price"].median(),
        "lines_per_invoice": g.size() / invoices,
        "units_per_invoice": g["qty"].sum() / invoices,
    }
    return pd.DataFrame(cols).reindex(_users(past)).astype(float)


def cycles(raw: Raw, at: float) -> pd.DataFrame:
    past = raw[raw["ts"].to_numpy() < at]
    bought = past[past["purchase"].to_numpy(bool)]
    days = pd.DataFrame(
        {"user": bought["user"], "item": bought["item"], "day": np.floor(bought["ts"].to_numpy() / DAY)}
    ).drop_duplicates()
    g = days.groupby(["user", "item"])["day"]
    s = pd.DataFrame({"n": g.size(), "first": g.min(), "last": g.max()})
    s = s[s["n"] >= 2]
    s["interval"] = (s["last"] - s["first"]) / (s["n"] - 1)
    s["overdue"] = (at / DAY - s["last"]) / s["interval"].clip(lower=1)
    s["due"] = ((s["overdue"] >= 0.7) & (s["overdue"] <= 1.5)).astype(float)
    by = s.groupby(level="user")
    out = pd.DataFrame(
        {
            "repeat_items": by.size(),
            "overdue_min": by["overdue"].min(),
            "overdue_mean": by["overdue"].mean(),
            "overdue_median": by["overdue"].median(),
            "due_share": by["due"].mean(),
            "interval_median": by["interval"].median(),
        }
    ).reindex(_users(past))
    out["repeat_items"] = out["repeat_items"].fillna(0)
    return out.astype(float)


def groups_for(dataset: str) -> dict[str, Callable[[Raw, float], pd.DataFrame]]:
    if dataset == "retail":
        return {
            "catalogue": lambda r, c: pd.concat(
                [
                    catalogue(r, c, 30, 180, True).add_prefix("c30_"),
                    catalogue(r, c, 7, 90, True).add_prefix("c7_"),
                ],
                axis=1,
            ),
            "attributes": attributes,
            "cycles": cycles,
        }
    return {
        "catalogue": lambda r, c: pd.concat(
            [
                catalogue(r, c, 0.5, 3, False).add_prefix("c05_"),
                catalogue(r, c, 1, 7, False).add_prefix("c1_"),
            ],
            axis=1,
        ),
        "cycles": cycles,
    }


# --- model variants: (X with extras, labels, train mask, test mask, stacked defaults, fold, config, target)
Variant = Callable[..., NDArray[np.float64]]


def _inner(st: Stacked, fold: Fold, horizon: float) -> tuple[Any, Any]:
    val = fold.train[-1]
    inner = [c for c in fold.train if c + horizon * DAY <= val + EPS]
    return (st.rows(inner), st.rows([val])) if inner else (None, None)


def blend(X: pd.DataFrame, y: Any, tr: Any, te: Any, st: Stacked, fold: Fold, cfg: BacktestConfig, _t: str) -> Any:
    def scores(train: Any, test: Any) -> tuple[Any, Any]:
        m = fit_lightgbm(X[train], y[train], cfg.lightgbm)
        lr = RecencyFrequencyLogit().fit(st.X[train], y[train])
        return rankdata(positive_scores(m, X[test])), rankdata(positive_scores(lr, st.X[test]))

    w = 0.5
    im, vm = _inner(st, fold, cfg.horizon_days)
    if im is not None and 0 < y[im].sum() < im.sum() and y[vm].sum() > 0:
        pm, pl = scores(im, vm)
        w = max((roc_auc(y[vm], a * pm + (1 - a) * pl) or 0.0, a) for a in np.linspace(0, 1, 11))[1]
    pm, pl = scores(tr, te)
    return np.asarray(w * pm + (1 - w) * pl, dtype=float)


def monotone(X: pd.DataFrame, y: Any, tr: Any, te: Any, st: Stacked, fold: Fold, cfg: BacktestConfig, t: str) -> Any:
    import lightgbm

    sign = {"recency_days": -1, "purchase_recency_days": -1, "active_days_total": 1, "orders_total": 1}
    flip = -1 if t == "churn" else 1
    constraints = [flip * sign.get(c, 0) for c in X.columns]
    m = lightgbm.LGBMClassifier(objective="binary", monotone_constraints=constraints, **cfg.lightgbm.kwargs())
    return positive_scores(m.fit(X[tr], y[tr]), X[te])


def spline(X: pd.DataFrame, y: Any, tr: Any, te: Any, st: Stacked, fold: Fold, cfg: BacktestConfig, _t: str) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import SplineTransformer, StandardScaler

    raw = X.to_numpy(float)
    signed = np.nan_to_num(raw, nan=0.0).min(axis=0) < 0
    Z = np.where(signed, raw, np.log1p(np.clip(raw, 0, None)))
    D = np.hstack([Z, np.isnan(Z[:, np.isnan(Z[tr]).any(axis=0)]).astype(float)])
    pipe = make_pipeline(
        SimpleImputer(strategy="median"),
        SplineTransformer(n_knots=5, degree=3),
        StandardScaler(),
        LogisticRegression(C=0.05, max_iter=2000),
    )
    return np.asarray(pipe.fit(D[tr], y[tr]).predict_proba(D[te])[:, 1], dtype=float)


VARIANTS: dict[str, Variant] = {"blend": blend, "monotone": monotone, "spline": spline}


def evaluate(
    panel: Panel,
    raw: Raw,
    dataset: str,
    target: str,
    horizon: float,
    groups: list[str],
    variants: list[str],
    schedule: dict[str, Any] | None = None,
) -> dict[str, list[float]]:
    """Per-fold AUCs: ``logistic``, ``lightgbm`` (default features), ``+groups`` and each variant."""
    setup = SETUPS[dataset]
    cfg = (setup.purchase if target == "purchase" else setup.churn).model_copy(
        update={"horizon_days": horizon, **(schedule or {})}
    )
    cutoffs = cutoff_schedule(panel.log, horizon, cfg)
    st = stack(panel, cutoffs, _labeller(target, horizon))  # type: ignore[arg-type]
    builders = groups_for(dataset)
    extra = [
        pd.concat([builders[g](raw, c).add_prefix(f"{g}_") for g in groups], axis=1).reindex(panel.features(c).index)
        if groups
        else pd.DataFrame(index=panel.features(c).index)
        for c in cutoffs
    ]
    X = pd.concat([st.X, pd.concat(extra, ignore_index=True)], axis=1)
    y = st.y["y"].to_numpy()
    out: dict[str, list[float]] = {"logistic": [], "lightgbm": [], "+groups": [], **{v: [] for v in variants}}
    for fold in plan_folds(cutoffs, horizon, cfg.n_folds):
        tr, te = st.rows(fold.train), st.rows([fold.test])

        def auc(p: Any, te: Any = te) -> float:
            return float(roc_auc(y[te], p) or float("nan"))

        out["logistic"].append(auc(positive_scores(RecencyFrequencyLogit().fit(st.X[tr], y[tr]), st.X[te])))
        out["lightgbm"].append(auc(positive_scores(fit_lightgbm(st.X[tr], y[tr], cfg.lightgbm), st.X[te])))
        out["+groups"].append(auc(positive_scores(fit_lightgbm(X[tr], y[tr], cfg.lightgbm), X[te])))
        for v in variants:
            out[v].append(auc(VARIANTS[v](X, y, tr, te, st, fold, cfg, target)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="retail", choices=sorted(SETUPS))
    ap.add_argument("--target", default="purchase", choices=("purchase", "churn"))
    ap.add_argument("--horizons", default="30", help="label horizons in days, comma-separated")
    ap.add_argument("--groups", default="", help="extra feature groups: catalogue,attributes,cycles")
    ap.add_argument("--variants", default="", help="model variants: blend,monotone,spline")
    ap.add_argument("--windows", default="", help="feature windows in days (default: the dataset's)")
    ap.add_argument("--step", type=float, help="days between cutoffs (default: the dataset's)")
    ap.add_argument("--max-cutoffs", type=int, help="cutoffs at most (default: the dataset's)")
    ap.add_argument("--folds", type=int, help="test cutoffs, the last ones (default: 3)")
    args = ap.parse_args()
    groups = [g for g in args.groups.split(",") if g]
    variants = [v for v in args.variants.split(",") if v]
    setup = SETUPS[args.dataset]
    features = setup.features
    if args.windows:
        features = features.model_copy(update={"windows_days": tuple(float(w) for w in args.windows.split(","))})
    started = time.perf_counter()
    panel = Panel(load(args.dataset), setup.spec, features)
    raw = retail_lines() if args.dataset == "retail" else taobao_lines(panel)
    print(f"{setup.name}, {args.target}, windows {features.windows_days}, load {os.getloadavg()[0]:.1f}")
    print("| horizon | model | AUC per fold | mean AUC | lift over the logistic |")
    print("|---|---|---|---:|---:|")
    for h in (float(x) for x in args.horizons.split(",")):
        schedule = {
            k: v for k, v in (("step_days", args.step), ("max_cutoffs", args.max_cutoffs), ("n_folds", args.folds)) if v
        }
        res = evaluate(panel, raw, args.dataset, args.target, h, groups, variants, schedule)
        base = float(np.mean(res["logistic"]))
        for name, aucs in res.items():
            label = f"LightGBM +{','.join(groups)}" if name == "+groups" else name
            if name == "+groups" and not groups:
                continue
            per_fold = " / ".join(f"{a:.3f}" for a in aucs)
            print(f"| {h:g}d | {label} | {per_fold} | {np.mean(aucs):.3f} | {np.mean(aucs) - base:+.3f} |")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
