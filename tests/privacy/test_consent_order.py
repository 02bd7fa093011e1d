"""Consent statements are ordered by their time (issue 17, item 9): the latest statement per purpose wins, times
outside a sane window are refused, and no statement dated in the future locks consent."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pertinent.errors import InvalidInput
from pertinent.services import Services
from tests.support.common import ADMIN, make_settings


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def in_force(client, user: str) -> dict[str, bool]:
    return client.get(f"/v1/profiles/{user}", headers=ADMIN).json()["consent"]["effective"]


def test_a_grant_dated_2020_does_not_override_todays_denial(any_client):
    now = time.time()
    deny = any_client.post("/v1/consent", json={"userId": "u1", "purposes": {"personalization": False}})
    assert deny.json()["consent"]["personalization"] is False
    old = {"userId": "u1", "purposes": {"personalization": True}, "timestamp": "2020-03-01T12:00:00Z"}
    r = any_client.post("/v1/consent", json=old)
    assert r.status_code == 200 and r.json()["consent"]["personalization"] is False  # the later one stays
    assert in_force(any_client, "u1")["personalization"] is False
    later = {"userId": "u1", "purposes": {"personalization": True}, "timestamp": iso(now + 60)}
    assert any_client.post("/v1/consent", json=later).json()["consent"]["personalization"] is True
    history = any_client.get("/v1/users/u1/export", headers=ADMIN).json()["consent_history"]
    assert [h["granted"] for h in history] == [False, True]  # the stale statement changed nothing
    assert history[1]["at"] <= time.time()  # a time a little ahead of the server's counts as now


@pytest.mark.parametrize(
    "stamp",
    ["9999-12-31T23:59:59-23:59", "1999-12-31T23:59:59Z", "0001-01-01T00:00:00+23:59", "+3 days", "1970-01-01"],
)
def test_statement_times_outside_the_window_are_refused_naming_timestamp(client, stamp):
    if stamp == "+3 days":
        stamp = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    r = client.post("/v1/consent", json={"anonymousId": "a1", "purposes": {"analytics": True}, "timestamp": stamp})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "timestamp"


def test_timestamps_without_an_offset_are_utc(client, sqlite_services):
    stamp = (datetime.now(UTC) - timedelta(hours=5)).replace(tzinfo=None).isoformat()
    client.post("/v1/consent", json={"anonymousId": "a2", "purposes": {"analytics": False}, "timestamp": stamp})
    history = client.get("/v1/users/a2/export", headers=ADMIN).json()["consent_history"]
    assert abs(history[0]["at"] - (time.time() - 5 * 3600)) < 60


def test_a_statement_dated_9999_does_not_lock_consent(any_client, services):
    """A statement stored with a far-future time (before times were bounded, or through an event) counts as made
    when it was recorded: the next statement replaces it."""
    any_client.post("/v1/track", json={"userId": "u2", "event": "E"})
    with services.store.transaction() as tx:
        pid = services.profiles.find(tx, "u2")
        row = tx.lock_profiles([pid], 1.0)[pid]
        row.consent["personalization"] = {"granted": False, "at": 253402300799.0, "source": "event"}
        tx.put_profiles([row])
    assert in_force(any_client, "u2")["personalization"] is False
    grant = {"consent": {"categoryPreferences": {"personalization": True}}}
    any_client.post("/v1/track", json={"userId": "u2", "event": "E", "context": grant})  # an event, dated now
    assert in_force(any_client, "u2")["personalization"] is True
    r = any_client.post("/v1/consent", json={"userId": "u2", "purposes": {"personalization": False}})
    assert r.json()["consent"]["personalization"] is False


def test_an_event_dated_in_the_future_states_consent_as_of_its_arrival(any_client):
    deny = {"consent": {"categoryPreferences": {"personalization": False}}}
    future = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    r = any_client.post("/v1/track", json={"userId": "u3", "event": "E", "timestamp": future, "context": deny})
    assert r.status_code in (200, 400), r.text  # an input window may refuse the time itself
    grant = {"consent": {"categoryPreferences": {"personalization": True}}}
    any_client.post("/v1/track", json={"userId": "u3", "event": "E", "context": grant})
    assert in_force(any_client, "u3")["personalization"] is True


def test_the_service_refuses_times_outside_the_window(sqlite_services):
    now = time.time()
    for at in (now + 2 * 86400, 0.0, float("nan")):
        with pytest.raises(InvalidInput) as err:
            sqlite_services.privacy.set_consent({"analytics": True}, anonymous_id="x", at=at)
        assert err.value.errors[0]["field"] == "timestamp"


_DAY = 86400.0
_USERS = itertools.count()


@pytest.fixture(scope="module")
def consent_services(tmp_path_factory):
    svc = Services.build(make_settings(tmp_path_factory.mktemp("order")))
    yield svc
    svc.close()


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    statements=st.lists(
        st.tuples(
            st.booleans(),
            st.one_of(st.floats(-3000 * _DAY, 0.0), st.floats(3600.0, 0.9 * _DAY), st.sampled_from([0.0, -1.0])),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_the_latest_statement_by_time_wins_in_any_arrival_order(consent_services, statements):
    """Statements arrive in any order, through the consent API or in events; the one in force is the latest by
    its time (a later arrival wins a tie), a time ahead of the server's clock counting as the arrival's."""
    now = time.time()
    uid = f"u-{next(_USERS)}"  # a person of its own per example
    for granted, offset, by_event in statements:
        at = now + offset
        if by_event:
            prefs = {"consent": {"categoryPreferences": {"personalization": granted}}}
            msg = {"userId": uid, "event": "E", "timestamp": iso(at), "context": prefs}
            consent_services.ingest.ingest([msg], "track")
        else:
            consent_services.privacy.set_consent({"personalization": granted}, user_id=uid, at=at)

    def made_at(i: int) -> tuple[float, ...]:  # what the server takes the statement's time to be
        _, offset, by_event = statements[i]
        at = datetime.fromisoformat(iso(now + offset)).timestamp() if by_event else now + offset
        return (1.0, i) if at > now + 1 else (0.0, at, i)  # ahead of the clock (offsets: 0 or >= 1 h): its arrival

    latest = max(range(len(statements)), key=made_at)
    with consent_services.store.transaction(write=False) as tx:
        pid = consent_services.profiles.find(tx, uid)
        row = tx.get_profiles([pid])[pid]
    assert row.consent["personalization"]["granted"] is statements[latest][0], (statements, row.consent)
