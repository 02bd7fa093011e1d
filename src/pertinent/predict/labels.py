"""Labels over the window ``[cutoff, cutoff + horizon)`` for a given set of users (events from the cutoff on).

- purchase: 1 if the user buys in the window;
- churn: 1 if the user has no activity (purchases and ``EventSpec.activity_events``) in the window;
- days to the next purchase: observed when the first purchase at or after the cutoff falls inside the
  window, else censored at the horizon (``days`` = horizon, ``observed`` = False).

When ``observed_until`` is given, a window that runs past it raises ``ValueError`` (the label is unknown).

>>> import pandas as pd
>>> ev = pd.DataFrame({"user": ["a", "a", "b"], "timestamp": [0, 3 * 86400, 86400],
...                    "event": ["order", "order", "view"]})
>>> users = pd.Index(["a", "b"])
>>> purchase_labels(ev, 2 * 86400, 7, users).tolist(), churn_labels(ev, 2 * 86400, 7, users).tolist()
([1, 0], [0, 1])
>>> days_to_next_purchase(ev, 2 * 86400, 7, users).to_dict("list")
{'days': [1.0, 7.0], 'observed': [True, False]}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pertinent.predict.config import DAY, EventSpec
from pertinent.predict.events import EventLog, to_seconds


def _window(
    events: pd.DataFrame | EventLog,
    cutoff: float | pd.Timestamp,
    horizon_days: float,
    spec: EventSpec | None,
    observed_until: float | pd.Timestamp | None,
) -> tuple[EventLog, float, float]:
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    log = EventLog.from_frame(events, spec)
    start = to_seconds(cutoff)
    stop = start + horizon_days * DAY
    if observed_until is not None and stop > to_seconds(observed_until):
        raise ValueError(
            f"the label window ends {(stop - to_seconds(observed_until)) / DAY:.2f} days after the data "
            "(observed_until); labels there are unknown"
        )
    return log, start, stop


def _index(users: pd.Index | list[str]) -> pd.Index:
    return pd.Index(users, dtype=object, name="user")


def purchase_labels(
    events: pd.DataFrame | EventLog,
    cutoff: float | pd.Timestamp,
    horizon_days: float,
    users: pd.Index | list[str],
    spec: EventSpec | None = None,
    observed_until: float | pd.Timestamp | None = None,
) -> pd.Series:
    """1 where the user buys within ``horizon_days`` of ``cutoff``, else 0 (index ``users``)."""
    log, start, stop = _window(events, cutoff, horizon_days, spec, observed_until)
    window = log.between(start, stop)
    buyers = set(window.loc[window["purchase"].to_numpy(dtype=bool), "user"])
    idx = _index(users)
    return pd.Series(idx.isin(list(buyers)).astype(int), index=idx, name="purchase")


def churn_labels(
    events: pd.DataFrame | EventLog,
    cutoff: float | pd.Timestamp,
    horizon_days: float,
    users: pd.Index | list[str],
    spec: EventSpec | None = None,
    observed_until: float | pd.Timestamp | None = None,
) -> pd.Series:
    """1 where the user has no activity within ``horizon_days`` of ``cutoff``, else 0 (index ``users``)."""
    log, start, stop = _window(events, cutoff, horizon_days, spec, observed_until)
    active = set(log.activity(log.between(start, stop))["user"])
    idx = _index(users)
    return pd.Series((~idx.isin(list(active))).astype(int), index=idx, name="churn")


def days_to_next_purchase(
    events: pd.DataFrame | EventLog,
    cutoff: float | pd.Timestamp,
    horizon_days: float,
    users: pd.Index | list[str],
    spec: EventSpec | None = None,
    observed_until: float | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Columns ``days`` (to the first purchase at or after ``cutoff``, capped at the horizon) and
    ``observed`` (False = no purchase in the window: censored at ``horizon_days``)."""
    log, start, stop = _window(events, cutoff, horizon_days, spec, observed_until)
    window = log.between(start, stop)
    first = window[window["purchase"].to_numpy(dtype=bool)].groupby("user")["ts"].min()
    idx = _index(users)
    ts = first.reindex(idx)
    observed = ts.notna().to_numpy()
    days = np.where(observed, (ts.to_numpy(dtype=float, na_value=np.nan) - start) / DAY, float(horizon_days))
    return pd.DataFrame({"days": days.astype(float), "observed": observed}, index=idx)
