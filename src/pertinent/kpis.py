"""Product KPIs from raw events: sessions, click-through, conversion, dwell time, bounce and repeat visits.

Definitions (the dashboard shows them per segment and per experiment variant):

* **session** — a run of one profile's page events (``page``/``screen``) with no gap longer than
  ``session_timeout_s`` (a gap of exactly the timeout stays in the session);
* **dwell time** — the mean time between consecutive page events of a session (the last page of a session
  has no measurable dwell and is not counted);
* **bounce rate** — single-page sessions / sessions;
* **repeat-visit rate** — profiles with more than one session / profiles with at least one session;
* **click-through** — click events / impression events (names in :class:`KpiConfig`);
* **conversion** — profiles with a conversion event / profiles with any event.

Thin data gives ``None`` values and a ``message``, never an exception.

>>> events = KpiEvents.from_records([("u1", "page", None, 0.0), ("u1", "page", None, 30.0),
...     ("u1", "page", None, 10_000.0), ("u2", "page", None, 5.0), ("u2", "track", "Order Completed", 9.0)])
>>> k = compute_kpis(events)
>>> k.sessions, k.bounce_rate, k.dwell_s, k.repeat_visit_rate, k.conversion_rate
(3, 0.6666666666666666, 30.0, 0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

PAGE, CLICK, IMPRESSION, CONVERSION, OTHER = 1, 2, 3, 4, 0


class KpiConfig(BaseModel):
    """Which events are pages, clicks, impressions and conversions, and the session timeout.

    >>> KpiConfig().session_timeout_s
    1800.0
    """

    model_config = ConfigDict(extra="forbid")

    session_timeout_s: float = Field(default=1800.0, gt=0)
    page_types: list[str] = Field(default_factory=lambda: ["page", "screen"])
    click_events: list[str] = Field(
        default_factory=lambda: ["Slot Clicked", "Recommendation Clicked", "Product Clicked", "Promotion Clicked"]
    )
    impression_events: list[str] = Field(
        default_factory=lambda: [
            "Slot Viewed",
            "Recommendation Viewed",
            "Recommendations Viewed",
            "Product List Viewed",
            "Promotion Viewed",
        ]
    )
    conversion_events: list[str] = Field(default_factory=lambda: ["Order Completed"])

    def kind(self, type_: str, name: str | None) -> int:
        if type_ in self.page_types:
            return PAGE
        if name is None:
            return OTHER
        if name in self.click_events:
            return CLICK
        if name in self.impression_events:
            return IMPRESSION
        if name in self.conversion_events:
            return CONVERSION
        return OTHER


@dataclass(frozen=True)
class KpiEvents:
    """Events reduced to what KPIs need: profile, kind (page/click/impression/conversion/other), time.

    >>> KpiEvents.from_records([("u", "page", None, 1.0)]).size
    1
    """

    profile: np.ndarray  # object (str)
    kind: np.ndarray  # int8
    ts: np.ndarray  # float64

    @property
    def size(self) -> int:
        return int(self.ts.size)

    def _codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct profiles, index of each event's profile among them), computed once."""
        cached = self.__dict__.get("_profile_codes")
        if cached is None:
            cached = np.unique(self.profile.astype(str), return_inverse=True)
            object.__setattr__(self, "_profile_codes", cached)
        return cached

    @classmethod
    def from_records(
        cls, records: Iterable[tuple[str, str, str | None, float]], config: KpiConfig | None = None
    ) -> KpiEvents:
        """From (profile_id, type, event name, timestamp) tuples; non-finite times are dropped."""
        config = config or KpiConfig()
        rows = [(p, config.kind(t, n), float(ts)) for p, t, n, ts in records]
        profile = np.array([r[0] for r in rows], dtype=object)
        kind = np.array([r[1] for r in rows], dtype=np.int8)
        ts = np.array([r[2] for r in rows], dtype=np.float64)
        keep = np.isfinite(ts)
        return cls(profile[keep], kind[keep], ts[keep])

    def select(self, since_by_profile: Mapping[str, float]) -> KpiEvents:
        """Only the events of these profiles, each from its own start time (e.g. first exposure) on."""
        if not since_by_profile or not self.size:
            return KpiEvents(self.profile[:0], self.kind[:0], self.ts[:0])
        uniques, codes = self._codes()
        start = np.array([since_by_profile.get(p, np.inf) for p in uniques.tolist()], dtype=np.float64)
        keep = self.ts >= start[codes]
        return KpiEvents(self.profile[keep], self.kind[keep], self.ts[keep])


@dataclass(frozen=True)
class KpiResult:
    """KPIs of one group of profiles; ``None`` where the data cannot say, with ``message`` explaining why.

    >>> KpiResult.empty("no events").message
    'no events'
    """

    profiles: int
    sessions: int
    page_views: int
    clicks: int
    impressions: int
    converters: int
    click_through: float | None
    conversion_rate: float | None
    dwell_s: float | None
    bounce_rate: float | None
    repeat_visit_rate: float | None
    message: str = ""

    @classmethod
    def empty(cls, message: str) -> KpiResult:
        return cls(0, 0, 0, 0, 0, 0, None, None, None, None, None, message)


def compute_kpis(events: KpiEvents, config: KpiConfig | None = None) -> KpiResult:
    """Every KPI of the events (see the module docstring for the definitions)."""
    config = config or KpiConfig()
    if not events.size:
        return KpiResult.empty("no events in the window")
    notes: list[str] = []
    profiles = int(np.unique(events.profile).size)
    clicks = int(np.count_nonzero(events.kind == CLICK))
    impressions = int(np.count_nonzero(events.kind == IMPRESSION))
    converters = int(np.unique(events.profile[events.kind == CONVERSION]).size)
    ctr = clicks / impressions if impressions else None
    if ctr is None:
        notes.append("no impression events, so no click-through")

    pages = events.kind == PAGE
    page_profile, page_ts = events.profile[pages], events.ts[pages]
    n_pages = int(page_ts.size)
    sessions = 0
    dwell = bounce = repeat = None
    if n_pages:
        order = np.lexsort((page_ts, page_profile.astype(str)))
        who, ts = page_profile[order], page_ts[order]
        new = np.ones(n_pages, dtype=bool)
        new[1:] = (who[1:] != who[:-1]) | (np.diff(ts) > config.session_timeout_s)
        sessions = int(new.sum())
        session_id = np.cumsum(new) - 1
        pages_per_session = np.bincount(session_id)
        bounce = float(np.mean(pages_per_session == 1))
        gaps = np.diff(ts)[~new[1:]]
        dwell = float(gaps.mean()) if gaps.size else None
        if dwell is None:
            notes.append("every session has one page, so no dwell time")
        _, sessions_per_profile = np.unique(who[new].astype(str), return_counts=True)
        repeat = float(np.mean(sessions_per_profile > 1))
    else:
        notes.append("no page events, so no sessions")
    return KpiResult(
        profiles,
        sessions,
        n_pages,
        clicks,
        impressions,
        converters,
        ctr,
        converters / profiles,
        dwell,
        bounce,
        repeat,
        "; ".join(notes),
    )


def kpis_by_group(
    events: KpiEvents, groups: Mapping[str, Mapping[str, float]], config: KpiConfig | None = None
) -> dict[str, KpiResult]:
    """KPIs per group; a group maps its profiles to the time their events start counting (0 for all).

    Groups may overlap (a profile in two segments counts in both).

    >>> ev = KpiEvents.from_records([("a", "page", None, 1.0), ("b", "page", None, 2.0), ("b", "page", None, 3.0)])
    >>> {g: r.page_views for g, r in kpis_by_group(ev, {"x": {"a": 0.0}, "y": {"b": 2.5}}).items()}
    {'x': 1, 'y': 1}
    """
    return {name: compute_kpis(events.select(members), config) for name, members in groups.items()}
