"""Labels over [cutoff, cutoff + horizon), computed by hand on tiny frames."""

from __future__ import annotations

import pandas as pd
import pytest

from pertinent.predict.config import EventSpec
from pertinent.predict.labels import churn_labels, days_to_next_purchase, purchase_labels

DAY = 86_400.0

# a: buys on day 12 (inside a 7-day window from day 10) and day 30; b: views on day 16 only;
# c: buys exactly at day 17 (the window's end, excluded); d: buys exactly at the cutoff (included); e: nothing after
EVENTS = pd.DataFrame(
    {
        "user": ["a", "a", "a", "b", "b", "c", "c", "d", "e"],
        "timestamp": [d * DAY for d in (1, 12, 30, 2, 16, 3, 17, 10, 4)],
        "event": ["order", "order", "order", "view", "view", "view", "buy", "order", "view"],
    }
)
USERS = pd.Index(["a", "b", "c", "d", "e"])
SPEC = EventSpec(purchase_events=("order", "buy"))


def test_purchase_within_horizon():
    y = purchase_labels(EVENTS, 10 * DAY, 7, USERS, SPEC)
    assert y.to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1, "e": 0}
    assert purchase_labels(EVENTS, 10 * DAY, 7.01, USERS, SPEC)["c"] == 1


def test_churn_is_no_activity_within_horizon():
    y = churn_labels(EVENTS, 10 * DAY, 7, USERS, SPEC)
    assert y.to_dict() == {"a": 0, "b": 0, "c": 1, "d": 0, "e": 1}
    # only purchases and carts count as activity: b's views no longer keep them
    narrow = EventSpec(purchase_events=("order", "buy"), activity_events=("cart",))
    assert churn_labels(EVENTS, 10 * DAY, 7, USERS, narrow).to_dict()["b"] == 1


def test_days_to_next_purchase_observed_or_censored():
    t = days_to_next_purchase(EVENTS, 10 * DAY, 7, USERS, SPEC)
    assert t["days"].tolist() == pytest.approx([2.0, 7.0, 7.0, 0.0, 7.0])
    assert t["observed"].tolist() == [True, False, False, True, False]
    longer = days_to_next_purchase(EVENTS, 10 * DAY, 30, USERS, SPEC)
    assert longer.loc["c", "days"] == pytest.approx(7.0) and bool(longer.loc["c", "observed"])


def test_users_not_in_the_events_get_negative_labels():
    users = pd.Index(["zz"])
    assert purchase_labels(EVENTS, 0, 5, users, SPEC).tolist() == [0]
    assert churn_labels(EVENTS, 0, 5, users, SPEC).tolist() == [1]


def test_window_past_the_data_is_refused():
    with pytest.raises(ValueError, match="after the data"):
        purchase_labels(EVENTS, 25 * DAY, 10, USERS, SPEC, observed_until=30 * DAY)
    purchase_labels(EVENTS, 20 * DAY, 10, USERS, SPEC, observed_until=30 * DAY)
    with pytest.raises(ValueError, match="horizon_days"):
        churn_labels(EVENTS, 0, 0, USERS, SPEC)
