"""Predictive traits from an event history: purchase propensity, churn risk and days to the next purchase.

A library (numpy, pandas, scikit-learn, scipy, LightGBM; nothing of the product's services or storage).
Input is an events frame (columns ``user``, ``timestamp``, ``event``, optional ``revenue`` and ``item``;
see :mod:`pertinent.predict.events`); :class:`~pertinent.predict.config.EventSpec` names the purchase events.

- :mod:`~pertinent.predict.features`: per-user features at a cutoff, from events before it only.
- :mod:`~pertinent.predict.labels`: purchase within N days, churn (no activity in N days), days to next purchase.
- :mod:`~pertinent.predict.propensity`: LightGBM vs a recency/frequency logistic baseline, rolling time-series
  backtest, AUC / PR-AUC / F1 / Brier / calibration, importance-based feature selection in plain words.
- :mod:`~pertinent.predict.timing`: days to the next purchase with a p10-p90 interval (naive mean interval,
  empirical-Bayes gamma-exponential, LightGBM quantiles), chosen by backtest.

Thin data gives results with a ``message``; malformed input raises ``ValueError`` naming the column.
"""
