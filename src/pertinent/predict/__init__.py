"""Predictive traits from an event history: purchase propensity, churn risk and days to the next purchase.

A library (numpy, pandas, scikit-learn, scipy, LightGBM; nothing of the product's services or storage).
Input is an events frame (columns ``user``, ``timestamp``, ``event``, optional ``revenue`` and ``item``;
see :mod:`pertinent.predict.events`); :class:`~pertinent.predict.config.EventSpec` names the purchase events.

- :mod:`~pertinent.predict.features`: per-user features at a cutoff, from events before it only
  (:mod:`~pertinent.predict.behaviour` adds rhythm, intent, diversity and trend features when asked).
- :mod:`~pertinent.predict.labels`: purchase within N days, churn (no activity in N days), days to next purchase.
- :mod:`~pertinent.predict.propensity`: LightGBM vs a recency/frequency logistic baseline, rolling time-series
  backtest, AUC / PR-AUC / F1 / Brier / calibration, importance-based feature selection in plain words.
- :mod:`~pertinent.predict.timing`: days to the next purchase with a p10-p90 interval (naive mean interval,
  credibility-shrunk intervals, BG/NBD from :mod:`~pertinent.predict.btyd`, LightGBM quantiles), chosen by
  backtest.
- :mod:`~pertinent.predict.backtest` (cutoffs, folds, a per-cutoff feature cache), :mod:`~pertinent.predict.metrics`
  (numpy AUC / PR-AUC / Brier / F1 / calibration), :mod:`~pertinent.predict.models` (the estimators and the
  storable :class:`~pertinent.predict.models.BinaryModel`), :mod:`~pertinent.predict.datasets` (Online Retail and
  Taobao as events frames). ``benchmarks/predict.py`` runs the backtests; docs/benchmarks.md has the results.

Thin data gives results with a ``message``; malformed input raises ``ValueError`` naming the column.
"""
