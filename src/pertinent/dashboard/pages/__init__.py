"""The dashboard's pages, one module each: ``build(store, window, *, now, ...)`` reads what the page shows and
returns its typed model (frozen dataclasses built with keywords; the templates read them by attribute).

* :mod:`.overview` — events, profiles, consent, ingestion errors
* :mod:`.segments` — segment sizes and flows, ML definitions and the ML report
* :mod:`.recommendations` — model versions, offline metrics, online click-through
* :mod:`.experiments` — experiments (variants, comparisons, SRM) and bandit arm shares
* :mod:`.kpis` — KPIs per group, with the drift section in :mod:`.kpis_drift`

:mod:`.common` holds the windows (:class:`~.common.Span`) and the readers the pages share. Thin or missing
data gives empty lists and messages, never an exception.
"""
