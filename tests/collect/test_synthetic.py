"""Synthetic generator: determinism, Segment shape, planted shares, recoverable tastes."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from pertinent.events.importing import message_problems
from pertinent.events.schema import validate_message
from pertinent.synthetic import USER_AGENTS, SyntheticConfig, SyntheticGenerator, generate

SMALL = SyntheticConfig(seed=11, n_users=150, n_items=120, n_articles=20, days=14)
MEDIUM = SyntheticConfig(seed=3, n_users=1500, n_items=300, n_articles=30, days=20, sessions_mean=3.0)


@pytest.fixture(scope="module")
def medium() -> tuple[SyntheticGenerator, list[dict[str, Any]]]:
    gen = SyntheticGenerator(MEDIUM)
    return gen, list(gen.messages())


def test_config_round_trips_and_rejects_bad_values() -> None:
    assert SyntheticConfig.model_validate_json(MEDIUM.model_dump_json()) == MEDIUM
    with pytest.raises(ValidationError, match="identified_later_share"):
        SyntheticConfig(identified_later_share=0.7, anonymous_share=0.5)
    with pytest.raises(ValidationError, match="n_users"):
        SyntheticConfig(n_users=0)
    with pytest.raises(ValidationError, match="unknown_field|Extra inputs"):
        SyntheticConfig(unknown_field=1)  # type: ignore[call-arg]
    naive = SyntheticConfig(start=datetime(2024, 1, 1))
    assert naive.start.tzinfo is not None


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a = list(SyntheticGenerator(SMALL).messages())
    b = list(SyntheticGenerator(SMALL).messages())
    assert a == b
    c = list(SyntheticGenerator(SMALL.model_copy(update={"seed": 12})).messages())
    assert a != c
    assert not {m["messageId"] for m in a} & {m["messageId"] for m in c}
    g1, g2 = SyntheticGenerator(SMALL), SyntheticGenerator(SMALL)
    assert g1.users().equals(g2.users())
    assert np.array_equal(g1.user_factors(), g2.user_factors())
    assert g1.catalogue().equals(g2.catalogue())


def test_batches_partition_the_stream() -> None:
    gen = SyntheticGenerator(SMALL)
    batches = list(gen.batches(batch_size=64))
    assert all(len(b) == 64 for b in batches[:-1]) and 1 <= len(batches[-1]) <= 64
    assert [m for b in batches for m in b] == list(gen.messages())
    assert [m for b in generate(SMALL, 64) for m in b] == list(gen.messages())
    with pytest.raises(ValueError, match="batch_size"):
        next(gen.batches(0))


def test_streams_large_populations_lazily() -> None:
    gen = SyntheticGenerator(SyntheticConfig(seed=1, n_users=1_000_000, n_items=200))
    first = next(gen.batches(batch_size=100))  # only the first block of users is generated
    assert len(first) == 100
    assert first[0]["anonymousId"] == gen.anonymous_id(0)


def test_every_message_is_valid_segment(medium: tuple[SyntheticGenerator, list[dict[str, Any]]]) -> None:
    gen, msgs = medium
    start = MEDIUM.start
    end = start + timedelta(days=MEDIUM.days)
    ids = set()
    uas = {ua: kind for kind, lst in USER_AGENTS.items() for ua in lst}
    for m in msgs:
        assert message_problems(m) == [], m
        assert validate_message(m)[1] == [], m
        ts = datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00"))
        assert start <= ts < end
        ctx = m["context"]
        assert uas[ctx["userAgent"]] == ctx["device"]["type"]
        assert set(ctx["consent"]["categoryPreferences"]) == {"analytics", "personalization"}
        assert ctx["page"]["url"].startswith(f"https://{MEDIUM.domain}{ctx['page']['path']}")
        if "campaign" in ctx and "referrer" in ctx["page"]:  # the landing page carries the utm parameters
            assert f"utm_campaign={ctx['campaign']['name']}" in ctx["page"]["url"]
        ids.add(m["messageId"])
    assert len(ids) == len(msgs)
    kinds = Counter(m.get("event", m["type"]) for m in msgs)
    for kind in (
        "Product Viewed",
        "Product Added",
        "Product Added to Wishlist",
        "Order Completed",
        "Order Refunded",
        "Product Reviewed",
        "page",
        "identify",
        "Signed Up",
    ):
        assert kinds[kind] > 0, kind


def test_each_users_messages_are_in_time_order(medium: tuple[SyntheticGenerator, list[dict[str, Any]]]) -> None:
    _, msgs = medium
    last: dict[str, str] = {}
    for m in msgs:
        a = m["anonymousId"]
        assert m["timestamp"] >= last.get(a, "")
        last[a] = m["timestamp"]


def test_orders_refunds_and_reviews_are_consistent(medium: tuple[SyntheticGenerator, list[dict[str, Any]]]) -> None:
    gen, msgs = medium
    prices = dict(zip(gen.catalogue()["item_id"], gen.catalogue()["price"], strict=True))
    orders: dict[str, tuple[str, dict[str, Any]]] = {}
    for m in msgs:
        props = m.get("properties", {})
        if m.get("event") == "Order Completed":
            total = sum(p["price"] * p["quantity"] for p in props["products"])
            assert props["revenue"] == pytest.approx(total, abs=0.011)
            for p in props["products"]:
                assert p["price"] <= prices[p["product_id"]] + 1e-9  # list price or discounted
            if "coupon" in props:
                assert props["discount"] > 0
            orders[props["order_id"]] = (m["anonymousId"], m)
        elif m.get("event") == "Order Refunded":
            owner, order = orders[props["order_id"]]  # refunds follow their own order
            assert owner == m["anonymousId"] and m["timestamp"] > order["timestamp"]
            assert props["revenue"] == order["properties"]["revenue"]
        elif m.get("event") == "Product Reviewed":
            assert props["rating"] in {1, 2, 3, 4, 5}


def test_planted_shares_hold(medium: tuple[SyntheticGenerator, list[dict[str, Any]]]) -> None:
    gen, msgs = medium
    n = MEDIUM.n_users
    tol = 4 * np.sqrt(0.25 / n)  # 4 standard errors at worst-case variance
    truth = gen.users()
    shares = truth["identity"].value_counts(normalize=True)
    assert abs(shares["anonymous"] - MEDIUM.anonymous_share) < tol
    assert abs(shares["identified_later"] - MEDIUM.identified_later_share) < tol
    assert abs(truth["deal_seeker"].mean() - MEDIUM.deal_seeker_share) < tol

    # The same shares, read from the messages alone.
    with_user = {m["anonymousId"] for m in msgs if "userId" in m}
    signed_up = {m["anonymousId"] for m in msgs if m.get("event") == "Signed Up"}
    anons = {m["anonymousId"] for m in msgs}
    assert len(anons) == n
    assert abs((n - len(with_user)) / n - MEDIUM.anonymous_share) < tol
    assert abs(len(signed_up) / n - MEDIUM.identified_later_share) < tol
    denied = {m["anonymousId"] for m in msgs if not m["context"]["consent"]["categoryPreferences"]["personalization"]}
    assert abs(len(denied) / n - MEDIUM.personalization_denied_share) < tol
    assert denied == set(truth.loc[~truth["personalization_consent"], "anonymous_id"])


def test_identified_later_users_stitch_anonymous_history(
    medium: tuple[SyntheticGenerator, list[dict[str, Any]]],
) -> None:
    gen, msgs = medium
    truth = gen.users().set_index("anonymous_id")
    by_anon: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in msgs:
        by_anon[m["anonymousId"]].append(m)
    checked = 0
    for anon, ms in by_anon.items():
        row = truth.loc[anon]
        identifies = [i for i, m in enumerate(ms) if m["type"] == "identify"]
        if row["identity"] == "anonymous":
            assert not identifies and all("userId" not in m for m in ms)
        elif row["identity"] == "known":
            assert identifies == [0] and all(m["userId"] == row["user_id"] for m in ms)
        else:
            first = identifies[0]
            assert first > 0  # browsed anonymously first
            assert ms[first]["userId"] == row["user_id"] and ms[first]["anonymousId"] == anon
            assert ms[first]["traits"]["email"].startswith(row["user_id"])
            assert all("userId" not in m for m in ms[: first - 1])  # before "Signed Up"
            checked += 1
    assert checked > 100


def test_latent_tastes_are_recoverable(medium: tuple[SyntheticGenerator, list[dict[str, Any]]]) -> None:
    gen, msgs = medium
    truth = gen.users().set_index("anonymous_id")
    bought: dict[str, Counter[str]] = defaultdict(Counter)
    viewed: dict[str, Counter[str]] = defaultdict(Counter)
    for m in msgs:
        if m.get("event") == "Order Completed":
            for p in m["properties"]["products"]:
                bought[m["anonymousId"]][p["category"]] += p["quantity"]
        elif m.get("event") == "Product Viewed":
            viewed[m["anonymousId"]][m["properties"]["category"]] += 1
    hits = [bought[a].most_common(1)[0][0] == truth.loc[a, "dominant_category"] for a in bought]
    chance = 1 / MEDIUM.n_categories
    assert len(hits) > 200 and np.mean(hits) > max(0.5, 3 * chance)
    view_hits = [viewed[a].most_common(1)[0][0] == truth.loc[a, "dominant_category"] for a in viewed]
    assert np.mean(view_hits) > 0.6

    # The taste vectors themselves: a user's vector is closest to their dominant category's vector.
    factors = gen.user_factors()
    closest = np.argmax(factors @ gen.category_factors.T, axis=1)
    dominant = truth.reset_index()["dominant_category"].map(gen.categories.index).to_numpy()
    assert np.mean(closest == dominant) > 0.9

    # Ratings follow affinity: reviews in the user's dominant category are better on average.
    own, other = [], []
    for m in msgs:
        if m.get("event") == "Product Reviewed":
            same = m["properties"]["category"] == truth.loc[m["anonymousId"], "dominant_category"]
            (own if same else other).append(m["properties"]["rating"])
    assert len(own) > 30 and len(other) > 10
    assert np.mean(own) > np.mean(other) + 0.5


def test_price_sensitivity_and_deal_seekers_show_in_behaviour(
    medium: tuple[SyntheticGenerator, list[dict[str, Any]]],
) -> None:
    gen, msgs = medium
    truth = gen.users().set_index("anonymous_id")
    deal_names = {c.name for c in MEDIUM.campaigns if c.deal}
    deal_sessions: Counter[bool] = Counter()
    all_sessions: Counter[bool] = Counter()
    cart_prices: dict[bool, list[float]] = {True: [], False: []}
    hi = truth["price_sensitivity"].quantile(0.75)
    lo = truth["price_sensitivity"].quantile(0.25)
    for m in msgs:
        seeker = bool(truth.loc[m["anonymousId"], "deal_seeker"])
        page = m["context"]["page"]
        if "referrer" in page or "utm_campaign" in page["url"] or m.get("event") == "Product Viewed":
            all_sessions[seeker] += 1
            if m["context"].get("campaign", {}).get("name") in deal_names:
                deal_sessions[seeker] += 1
        if m.get("event") == "Product Added" and not m["context"].get("campaign"):
            sens = truth.loc[m["anonymousId"], "price_sensitivity"]
            if sens >= hi or sens <= lo:
                cart_prices[bool(sens >= hi)].append(m["properties"]["price"])
    assert deal_sessions[True] / all_sessions[True] > 1.5 * deal_sessions[False] / all_sessions[False]
    assert np.median(cart_prices[True]) < np.median(cart_prices[False])


def test_catalogue_titles_carry_category_signal() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    gen = SyntheticGenerator(SyntheticConfig(seed=5, n_items=600, n_categories=10, n_users=1))
    cat = gen.catalogue()
    assert cat["item_id"].is_unique and (cat["price"] > 0).all()
    assert set(cat["category"]) <= set(gen.categories)
    x = TfidfVectorizer().fit_transform(cat["title"] + " " + cat["tags"].map(" ".join))
    accuracy = cross_val_score(LogisticRegression(max_iter=500), x, cat["category"], cv=3).mean()
    assert accuracy > 0.9
    arts = gen.articles()
    assert len(arts) == gen.config.n_articles and arts["path"].is_unique


def test_more_categories_than_the_built_in_vocabulary() -> None:
    gen = SyntheticGenerator(SyntheticConfig(seed=2, n_categories=20, n_items=100, n_users=30))
    assert len(set(gen.categories)) == 20
    msgs = list(gen.messages())
    assert msgs and all(message_problems(m) == [] for m in msgs)


def test_timestamps_start_where_configured() -> None:
    cfg = SyntheticConfig(seed=9, n_users=40, n_items=50, days=3, start=datetime(2023, 7, 1, tzinfo=UTC))
    stamps = sorted(m["timestamp"] for m in SyntheticGenerator(cfg).messages())
    assert stamps[0] >= "2023-07-01T00:00:00.000Z" and stamps[-1] < "2023-07-04T00:00:00.000Z"


def test_ingestion_service_accepts_the_stream_idempotently(sqlite_services: Any) -> None:
    gen = SyntheticGenerator(SyntheticConfig(seed=4, n_users=40, n_items=60, days=7))
    total = 0
    for batch in gen.batches(250):
        result = sqlite_services.ingest.ingest(batch)
        assert result.errors == [] and result.stored == len(batch)
        total += len(batch)
    again = sum(sqlite_services.ingest.ingest(b).duplicates for b in gen.batches(250))
    assert again == total


def test_planted_segments_partition_the_population() -> None:
    gen = SyntheticGenerator(SMALL)
    seg = gen.planted_segments()
    everyone = set(gen.users()["anonymous_id"])
    tastes = [v for k, v in seg.items() if k.startswith("taste:")]
    assert set().union(*tastes) == everyone and sum(map(len, tastes)) == len(everyone)
    assert seg["known"] | seg["identified_later"] | seg["anonymous"] == everyone
    assert seg["deal_seekers"] <= everyone and seg["price_sensitive"] <= everyone
    # Deal seekers were planted with a higher price sensitivity.
    # (a quarter of everyone is "price_sensitive"; about half of the deal seekers are)
    assert len(seg["deal_seekers"] & seg["price_sensitive"]) / max(len(seg["deal_seekers"]), 1) > 0.35


def test_progress_counts_users() -> None:
    gen = SyntheticGenerator(SyntheticConfig(seed=2, n_users=30, n_items=20))
    seen = []
    for _batch in gen.batches(50):
        seen.append(gen.users_done)
    assert seen == sorted(seen) and gen.users_done == 30
