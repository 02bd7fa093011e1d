"""IP geolocation: the shipped database, ingestion filling ``context.location`` before the IP is anonymised, and
segment rules and slot targeting on country, region and city.

The addresses are those of MaxMind's own test data (GeoIP2 test databases); the expected places are what the
shipped GeoLite2 City build (2019-12-24) says of them, so these tests run offline.
"""

from __future__ import annotations

import pytest

from pertinent.decide.targeting import parse_condition, target_view
from pertinent.geo.config import GeoConfig
from pertinent.geo.locate import Location, Locator, open_locator, with_location
from pertinent.services import Services
from tests.support.common import ADMIN, api_client, make_settings

KNOWN = {
    "81.2.69.142": Location("GB", "ENG", "Gamlingay"),
    "89.160.20.112": Location("SE", "AB", "Tumba"),
    "216.160.83.56": Location("US", "WA", "Poulsbo"),
    "2.125.160.216": Location("GB", "NIR", "Belfast"),
    "1.1.1.1": Location("AU"),
    "2001:480::1": Location("US"),
}


@pytest.fixture(scope="module")
def geo() -> Locator:
    return Locator.shipped()


def test_shipped_database_is_the_documented_build(geo):
    assert geo.database_type == "GeoLite2-City"
    assert geo.build_epoch == 1577209301  # 2019-12-24 17:41:41 UTC, as docs/integrations.md says


@pytest.mark.parametrize("ip", sorted(KNOWN))
def test_known_public_addresses(geo, ip):
    assert geo.locate(ip) == KNOWN[ip]


@pytest.mark.parametrize("ip", ["10.0.0.1", "192.168.1.5", "127.0.0.1", "::1", "fe80::1", "", "x", "300.1.1.1"])
def test_private_and_invalid_addresses_have_no_location(geo, ip):
    assert geo.locate(ip) is None
    assert with_location({"ip": ip}, geo) == {"ip": ip}


def test_a_location_the_client_sent_wins(geo):
    sent = {"ip": "81.2.69.142", "location": {"country": "France", "city": "Lyon"}}
    assert with_location(sent, geo) is sent
    # an empty location object is no location
    assert with_location({"ip": "81.2.69.142", "location": {}}, geo)["location"]["country"] == "GB"


def test_off_and_unreadable_database(tmp_path):
    assert open_locator(GeoConfig(enabled=False)) is None
    bad = tmp_path / "broken.mmdb"
    bad.write_bytes(b"not a database")
    assert open_locator(GeoConfig(mmdb_path=bad)) is None  # logged; ingestion goes on without locations
    assert open_locator(GeoConfig(mmdb_path=tmp_path / "missing.mmdb")) is None


def test_own_mmdb_file_is_used(tmp_path):
    from pathlib import Path

    import _geoip_geolite2  # type: ignore[import-untyped]

    own = tmp_path / "own.mmdb"
    own.symlink_to(Path(_geoip_geolite2.__file__).parent / "GeoLite2-City.mmdb")
    locator = open_locator(GeoConfig(mmdb_path=own))
    assert locator is not None and locator.path == own
    assert locator.locate("89.160.20.112") == KNOWN["89.160.20.112"]


def test_ingestion_locates_before_anonymising(client, sqlite_services):
    ctx = {"ip": "81.2.69.142", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"}
    assert client.post("/v1/track", json={"userId": "u1", "event": "Viewed", "context": ctx}).status_code == 200
    sent = {"ip": "89.160.20.112", "location": {"country": "Norway", "city": "Oslo"}}
    assert client.post("/v1/track", json={"userId": "u2", "event": "Viewed", "context": sent}).status_code == 200
    with sqlite_services.store.transaction(write=False) as tx:
        (row,) = tx.events_of(sqlite_services.profiles.find(tx, "u1"))
        (kept,) = tx.events_of(sqlite_services.profiles.find(tx, "u2"))
    assert row.context["ip"] == "81.2.69.0"  # the full address was used for the lookup, never stored
    assert row.context["location"] == {"country": "GB", "region": "ENG", "city": "Gamlingay"}
    # the client's own location, kept (its country normalised to ISO 3166 by data quality)
    assert kept.context["location"] == {"country": "NO", "city": "Oslo"}
    last = client.get("/v1/profiles/u1", headers=ADMIN).json()["features"]["context"]
    assert (last["country"], last["region"], last["city"]) == ("GB", "ENG", "Gamlingay")


def test_geolocation_off_stores_no_location(tmp_path):
    svc = Services.build(make_settings(tmp_path, geo={"enabled": False}))
    try:
        for c in api_client(svc):
            c.post("/v1/track", json={"userId": "u1", "event": "Viewed", "context": {"ip": "81.2.69.142"}})
        with svc.store.transaction(write=False) as tx:
            (row,) = tx.events_of(svc.profiles.find(tx, "u1"))
        assert "location" not in row.context and row.context["ip"] == "81.2.69.0"
    finally:
        svc.close()


def test_segment_rule_on_region_and_city(client, sqlite_services):
    for user, ip in (("u-se", "89.160.20.112"), ("u-gb", "81.2.69.142"), ("u-us", "216.160.83.56")):
        client.post("/v1/track", json={"userId": user, "event": "Viewed", "context": {"ip": ip}})
    rule = {
        "type": "or",
        "conditions": [
            {"type": "context", "field": "city", "op": "eq", "value": "Tumba"},
            {"type": "context", "field": "region", "op": "in", "value": ["WA", "OR"]},
        ],
    }
    r = client.post("/v1/segments/preview", json={"id": "north", "name": "north", "rule": rule}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["size"] == 2 and r.json()["evaluated"] == 3


def test_slot_targeting_reads_the_stored_location():
    cond, errors = parse_condition(
        {
            "type": "and",
            "conditions": [
                {"type": "context", "field": "country", "op": "eq", "value": "GB"},
                {"type": "context", "field": "city", "op": "eq", "value": "Belfast"},
            ],
        }
    )
    assert errors == [] and cond is not None
    stored = {"context": {"country": "GB", "region": "NIR", "city": "Belfast"}}
    assert cond.holds(target_view(stored, {}, None, now=0.0))
    assert not cond.holds(target_view(stored, {"country": "IE"}, None, now=0.0))  # the request's context wins
