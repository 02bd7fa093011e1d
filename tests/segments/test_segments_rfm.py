"""RFM scores and segments, checked against an independent pandas qcut computation; retail features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertinent.segments.retail import NON_PRODUCT_CODES, clean_invoice_lines, customer_features
from pertinent.segments.rfm import SEGMENT_ORDER, RFMConfig, rfm_scores, rfm_segment
from tests.support.common import DATASETS

RETAIL = DATASETS / "online-retail" / "online_retail.parquet"


def qcut_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """The textbook recipe: quintiles of the first-come rank, ties ordered by profile id."""
    ordered = values.sort_index(kind="stable")
    ranks = (ordered if higher_is_better else -ordered).rank(method="first")
    return pd.qcut(ranks, 5, labels=[1, 2, 3, 4, 5]).astype(int).reindex(values.index)


def random_customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "recency_days": rng.integers(0, 365, n),
            "frequency": rng.geometric(0.35, n),
            "monetary": np.round(rng.lognormal(5.5, 1.2, n), 2),
        },
        index=pd.Index(rng.permutation(np.arange(10_000, 10_000 + n)), name="customer_id"),
    )


@pytest.mark.parametrize("n,seed", [(5, 0), (37, 1), (1000, 2), (4334, 3)])
def test_scores_match_independent_qcut(n, seed):
    frame = random_customers(n, seed)
    scores = rfm_scores(frame).scores
    pd.testing.assert_series_equal(scores["r_score"], qcut_score(frame["recency_days"], False), check_names=False)
    pd.testing.assert_series_equal(scores["f_score"], qcut_score(frame["frequency"]), check_names=False)
    pd.testing.assert_series_equal(scores["m_score"], qcut_score(frame["monetary"]), check_names=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 400), st.integers(1, 50), st.floats(0, 1e5, allow_nan=False)),
        min_size=5,
        max_size=80,
    )
)
def test_scores_property_based(rows):
    frame = pd.DataFrame(rows, columns=["recency_days", "frequency", "monetary"])
    scores = rfm_scores(frame).scores
    for column, source, better in [
        ("r_score", "recency_days", False),
        ("f_score", "frequency", True),
        ("m_score", "monetary", True),
    ]:
        assert scores[column].between(1, 5).all()
        pd.testing.assert_series_equal(scores[column], qcut_score(frame[source], better), check_names=False)
        # monotone: a strictly better value never gets a lower score
        ordered = scores.assign(v=frame[source] * (1 if better else -1)).sort_values("v")
        assert (ordered.groupby("v")[column].min().diff().dropna() >= 0).all()
    assert set(scores["segment"]) <= set(SEGMENT_ORDER)


def test_scores_do_not_depend_on_row_order():
    frame = random_customers(500, 4)
    first = rfm_scores(frame).scores
    again = rfm_scores(frame.sample(frac=1.0, random_state=1)).scores.loc[first.index]
    pd.testing.assert_frame_equal(first, again)


def test_min_ties_give_equal_values_equal_scores():
    frame = random_customers(800, 5)
    scores = rfm_scores(frame, RFMConfig(ties="min")).scores
    assert (scores.groupby("frequency")["f_score"].nunique() == 1).all()


def test_segment_map_covers_every_score_pair_once():
    pairs = {(r, f): rfm_segment(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert set(pairs.values()) == set(SEGMENT_ORDER)
    assert pairs[(5, 5)] == "champions" and pairs[(1, 1)] == "lost" and pairs[(1, 5)] == "cant_lose_them"
    assert pairs[(5, 1)] == "new_customers" and pairs[(4, 1)] == "promising"
    assert pairs[(2, 2)] == "hibernating" and pairs[(2, 3)] == "at_risk" and pairs[(3, 3)] == "need_attention"
    with pytest.raises(ValueError, match="R=0"):
        rfm_segment(0, 3)


def test_summary_adds_up():
    frame = random_customers(1000, 6)
    result = rfm_scores(frame)
    assert result.ok
    assert result.summary["customers"].sum() == 1000
    assert result.summary["share"].sum() == pytest.approx(1.0)
    assert result.summary["revenue_share"].sum() == pytest.approx(1.0)
    champions = result.scores[result.scores["segment"] == "champions"]
    assert result.summary.loc["champions", "median_monetary"] == pytest.approx(champions["monetary"].median())


def test_thin_and_bad_input():
    small = random_customers(4, 7)
    result = rfm_scores(small)
    assert not result.ok and "at least 5" in result.message
    with pytest.raises(ValueError, match="monetary column 'spend'"):
        rfm_scores(small, RFMConfig(monetary="spend"))
    bad = random_customers(20, 8).astype({"frequency": str})
    with pytest.raises(ValueError, match="frequency column 'frequency' must be numeric"):
        rfm_scores(bad)
    holes = random_customers(20, 9).astype(float)
    holes.iloc[0, 2] = np.nan
    result = rfm_scores(holes)
    assert result.ok and len(result.scores) == 19 and "left out" in result.notes[0]
    negative = random_customers(20, 10)
    negative.iloc[3, 0] = -5
    with pytest.raises(ValueError, match="must be >= 0"):
        rfm_scores(negative)


# ---- Online Retail features on a slice of the real file --------------------------------------------


@pytest.fixture(scope="module")
def retail_slice() -> pd.DataFrame:
    if not RETAIL.exists():
        pytest.skip(f"Online Retail data not found at {RETAIL}")
    return pd.read_parquet(RETAIL).iloc[:40_000]


def test_cleaning_rules_on_real_slice(retail_slice):
    clean, stats = clean_invoice_lines(retail_slice)
    assert not clean["InvoiceNo"].astype(str).str.startswith("C").any()
    assert (clean["Quantity"] > 0).all() and (clean["UnitPrice"] > 0).all()
    assert clean["CustomerID"].notna().all()
    assert not clean["StockCode"].astype(str).str.upper().isin(NON_PRODUCT_CODES).any()
    removed = (
        stats.cancellations
        + stats.non_positive_quantity
        + stats.non_positive_price
        + stats.missing_customer
        + stats.non_product_codes
    )
    assert stats.lines_in == len(retail_slice) and stats.lines_out == len(clean) == stats.lines_in - removed
    assert stats.cancellations == retail_slice["InvoiceNo"].astype(str).str.startswith("C").sum()


def test_customer_features_on_real_slice(retail_slice):
    clean, _ = clean_invoice_lines(retail_slice)
    features = customer_features(clean)
    assert features.index.is_unique and len(features) == clean["CustomerID"].nunique()
    last_day = clean["InvoiceDate"].max().normalize()
    for customer in features.index[:: max(1, len(features) // 25)]:
        rows = clean[clean["CustomerID"] == customer]
        row = features.loc[customer]
        assert row["frequency"] == rows["InvoiceNo"].nunique()
        assert row["monetary"] == pytest.approx((rows["Quantity"] * rows["UnitPrice"]).sum())
        assert row["distinct_products"] == rows["StockCode"].nunique()
        assert row["recency_days"] == (last_day - rows["InvoiceDate"].max().normalize()).days
        assert (
            row["tenure_days"] == (rows["InvoiceDate"].max().normalize() - rows["InvoiceDate"].min().normalize()).days
        )
        assert row["avg_basket_value"] == pytest.approx(row["monetary"] / row["frequency"])
    result = rfm_scores(features)
    assert result.ok and result.summary["customers"].sum() == len(features)
