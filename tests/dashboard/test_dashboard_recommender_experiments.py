"""The recommendations page's section on recommender experiments: per variant, the model version its decisions
name, impressions, clicked and converted impressions (``recommender_experiments``); and its empty state."""

from __future__ import annotations

from pertinent.dashboard.pages.recommendations import recommender_experiments
from pertinent.kpis import KpiConfig
from pertinent.storage.base import DecisionRow, OutcomeRow
from tests.support.common import dashboard_login


def decision(n: int, variant: str, experiment: str = "rec-ab", version: str = "v1") -> DecisionRow:
    detail = {"model": "ease", "model_ref": version, "model_version": version, "source": "model"}
    return DecisionRow(f"d{n}", f"p{n}", "home.recs", variant, "experiment", 0.0, experiment, 0.5, detail)


def test_clicks_and_conversions_are_counted_per_version() -> None:
    rows = [decision(n, "a", version="v1") for n in range(4)] + [decision(n, "b", version="v2") for n in range(4, 10)]
    rows.append(decision(10, "a", experiment="other"))
    outcomes = [
        OutcomeRow("d0", "p0", "Slot Clicked", "m0", 1.0),
        OutcomeRow("d0", "p0", "Recommendation Clicked", "m1", 1.0),  # one impression clicked twice
        OutcomeRow("d4", "p4", "Slot Clicked", "m2", 1.0),
        OutcomeRow("d5", "p5", "Order Completed", "m3", 2.0, 25.0),
        OutcomeRow("d6", "p6", "Page Viewed", "m4", 2.0),  # neither a click nor a conversion
    ]
    [other, ab] = recommender_experiments(rows, outcomes, KpiConfig())
    assert other.experiment == "other" and [v.impressions for v in other.versions] == [1]
    a, b = ab.versions
    assert (a.variant, a.model, a.version, a.impressions, a.clicked, a.converted) == ("a", "ease", "v1", 4, 1, 0)
    assert (b.variant, b.version, b.impressions, b.clicked, b.converted, b.revenue) == ("b", "v2", 6, 1, 1, 25.0)
    assert a.ctr == 0.25 and b.served_versions == {"v2": 6} and b.conversion_rate == 1 / 6


def test_the_section_says_when_there_is_no_experiment(client) -> None:
    assert dashboard_login(client).status_code == 303
    html = client.get("/dashboard/recommendations").text
    assert 'data-testid="recommender-experiments"' in html and 'data-testid="rec-experiments-empty"' in html
