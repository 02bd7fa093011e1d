"""Outliers and bots: profiles whose activity no person produces, flagged by hard caps and by IsolationForest over
their rate features (:mod:`pertinent.quality.features`).

A hard cap (events per day, events per session) flags on its own; IsolationForest flags the ``contamination``
share of profiles that are easiest to isolate, and only among profiles that are also far from the median (a
robust z-score of at least 3.5 on the suspicious side of some feature: more events, fewer kinds), so an ordinary
population yields no flags.

>>> import random
>>> rng = random.Random(0)
>>> people = [{"id": f"p{i}", "events_per_day": rng.uniform(1, 30), "events_per_session": rng.uniform(2, 15),
...   "max_day_events": rng.uniform(1, 60), "top_event_share": rng.uniform(0.3, 0.8), "event_kinds": 4.0,
...   "events_total": rng.uniform(5, 300), "active_days": rng.uniform(1, 20)} for i in range(300)]
>>> bot = {"id": "bot", "events_per_day": 9000.0, "events_per_session": 9000.0, "max_day_events": 9000.0,
...   "top_event_share": 1.0, "event_kinds": 1.0, "events_total": 9000.0, "active_days": 1.0}
>>> flags = detect([dict(p) for p in people + [bot]], OutlierSettings(max_events_per_day=2000))
>>> [f.profile_id for f in flags], flags[0].reasons[0]
(['bot'], 'events per day 9000 above the cap of 2000')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest

from pertinent.quality.features import RATE_FEATURES

MIN_PROFILES = 50  # IsolationForest needs a population; below it only the hard caps apply
FAR = 3.5  # robust z-score (median, MAD on log scale) from which a feature is "far" on its suspicious side
# which side of each feature is suspicious: +1 more than people do, -1 fewer, 0 never on its own
_SIDE = np.array([{"event_kinds": -1.0, "active_days": 0.0}.get(f, 1.0) for f in RATE_FEATURES])
_LABELS = {
    "events_total": "events in all",
    "events_per_day": "events per active day",
    "events_per_session": "events per session",
    "max_day_events": "events in one day",
    "top_event_share": "share of the most frequent event",
    "event_kinds": "distinct events",
    "active_days": "active days",
}


@dataclass(frozen=True)
class OutlierSettings:
    max_events_per_day: float = 2000.0
    max_events_per_session: float = 500.0
    contamination: float = 0.01
    seed: int = 0


@dataclass(frozen=True)
class Flag:
    """A flagged profile: ``score`` (higher is stranger, hard caps score 1) and the reasons in words."""

    profile_id: str
    score: float
    reasons: list[str]


def _caps(row: dict[str, float], cfg: OutlierSettings) -> list[str]:
    out = []
    if row["max_day_events"] > cfg.max_events_per_day:
        out.append(f"events per day {row['max_day_events']:.0f} above the cap of {cfg.max_events_per_day:.0f}")
    if row["events_per_session"] > cfg.max_events_per_session:
        out.append(
            f"events per session {row['events_per_session']:.0f} above the cap of {cfg.max_events_per_session:.0f}"
        )
    return out


def detect(rows: list[dict[str, float | str]], cfg: OutlierSettings) -> list[Flag]:
    """Flag the profiles among ``rows`` (each ``{"id": ..., <RATE_FEATURES>}``), strangest first."""
    flags: dict[str, Flag] = {}
    for row in rows:
        reasons = _caps(row, cfg)  # type: ignore[arg-type]
        if reasons:
            flags[str(row["id"])] = Flag(str(row["id"]), 1.0, reasons)
    if len(rows) >= MIN_PROFILES:
        x = np.log1p(np.array([[float(r[f]) for f in RATE_FEATURES] for r in rows]))
        median = np.median(x, axis=0)
        mad = np.median(np.abs(x - median), axis=0) * 1.4826
        z = (x - median) / np.where(mad > 1e-9, mad, np.maximum(np.std(x, axis=0), 1e-9))
        forest = IsolationForest(n_estimators=200, contamination=cfg.contamination, random_state=cfg.seed)
        forest.fit(x)
        outlying = forest.predict(x) == -1
        scores = -forest.score_samples(x)  # higher: easier to isolate
        for i, row in enumerate(rows):
            pid = str(row["id"])
            far = z[i] * _SIDE
            if not outlying[i] or far.max() < FAR or pid in flags:
                continue
            j = int(np.argmax(far))
            name = RATE_FEATURES[j]
            side = "high" if z[i, j] > 0 else "low"
            reason = f"isolation forest: {_LABELS[name]} {float(row[name]):.3g} unusually {side}"
            flags[pid] = Flag(pid, round(float(scores[i]), 4), [reason])
    return sorted(flags.values(), key=lambda f: (-f.score, f.profile_id))
