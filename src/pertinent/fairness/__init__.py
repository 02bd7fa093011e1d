"""Fairness audit of recommendations, decisions and predictive traits across groups of profiles.

:mod:`~pertinent.fairness.metrics` holds the statistics (Wilson intervals, Newcombe differences, parity and
exposure), :mod:`~pertinent.fairness.groups` says which group a profile is in, :mod:`~pertinent.fairness.service`
reads the stored data and returns a typed :class:`~pertinent.fairness.metrics.FairnessAudit`.
"""
