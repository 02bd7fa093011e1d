"""Normalisation of values at ingestion: identifiers before pseudonymisation, countries, dates, currencies and
categorical text. Each function returns the normalised value, or None when the value cannot be parsed (the caller
keeps the value as sent and counts it as unparseable): nothing valid is lost.

>>> email("  Ann.Lee@Example.COM "), phone("06 12 34 56 78", "FR"), phone("+1 (415) 555-2671", "FR")
('ann.lee@example.com', '+33612345678', '+14155552671')
>>> [country(v) for v in ("france", "FRA", "France ", "fr", "UK", "Atlantis")]
['FR', 'FR', 'FR', 'FR', 'GB', None]
>>> [currency(v) for v in ("eur", "Euro", "$", "usd ", "doubloons")]
['EUR', 'EUR', 'USD', 'USD', None]
>>> [date(v) for v in ("1990-07-14", "14 July 1990", "07/14/1990", "1990-07-14T10:00:00+02:00", "someday")]
['1990-07-14', '1990-07-14', '1990-07-14', '1990-07-14T08:00:00+00:00', None]
>>> categorical("  Gold   Member ")
'gold member'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry
from dateutil import parser as dateparser

# Names pycountry does not know that people commonly write (ISO 3166 has "GB", not "UK").
_COUNTRY_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "great britain": "GB",
    "scotland": "GB",
    "wales": "GB",
    "deutschland": "DE",
    "allemagne": "DE",
    "espana": "ES",
    "españa": "ES",
    "italia": "IT",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "america": "US",
    "holland": "NL",
    "the netherlands": "NL",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "vietnam": "VN",
    "iran": "IR",
    "czech republic": "CZ",
    "turkey": "TR",
}
_CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "us$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "fr": "CHF"}
_HAS_TIME = re.compile(r"\d:\d")


def email(value: str) -> str:
    """An email address trimmed and lower-cased (the pseudonym of equal addresses is then equal)."""
    return value.strip().lower()


@lru_cache(maxsize=65536)
def phone(value: str, region: str) -> str | None:
    """A phone number in E.164 (``+33612345678``); ``region`` is assumed when the number has no ``+<code>``.
    None when it is not a possible number."""
    try:
        parsed = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def country(value: str) -> str | None:
    """ISO 3166-1 alpha-2 code of a country name, alpha-2 or alpha-3 code (any case and spacing)."""
    text = " ".join(value.split())
    if not text:
        return None
    alias = _COUNTRY_ALIASES.get(text.lower())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        pass
    try:  # "Korea" style names: the best fuzzy match only when it is unique
        found = pycountry.countries.search_fuzzy(text)
    except LookupError:
        return None
    return str(found[0].alpha_2) if len(found) == 1 else None


@lru_cache(maxsize=1024)
def currency(value: str) -> str | None:
    """ISO 4217 code of a currency code, name or common symbol."""
    text = " ".join(value.split())
    if not text:
        return None
    symbol = _CURRENCY_SYMBOLS.get(text.lower())
    if symbol:
        return symbol
    try:
        return str(pycountry.currencies.lookup(text).alpha_3)
    except LookupError:
        return None


@lru_cache(maxsize=16384)
def date(value: str) -> str | None:
    """ISO 8601: a date (``1990-07-14``) when no time is given, else the UTC date-time."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed: datetime = dateparser.parse(text)
    except (ValueError, OverflowError):
        return None
    if not _HAS_TIME.search(text):
        return parsed.date().isoformat()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def categorical(value: str) -> str:
    """Free text of a categorical field: inner whitespace collapsed, trimmed, lower-cased."""
    return " ".join(value.split()).lower()


def date_value(value: Any) -> str | None:
    """A date from a string, or from epoch seconds (a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return date(value) if isinstance(value, str) else None


KINDS: dict[str, Callable[[Any], str | None]] = {
    "country": lambda v: country(v) if isinstance(v, str) else None,
    "date": date_value,
    "currency": lambda v: currency(v) if isinstance(v, str) else None,
    "categorical": lambda v: categorical(v) if isinstance(v, str) else None,
}


def identifier(trait: str, value: Any, region: str) -> Any:
    """A PII trait's value normalised before it is pseudonymised: emails trimmed and lower-cased, phone numbers in
    E.164 (kept as sent when unparseable). Other values unchanged.

    >>> identifier("email", " A@B.org", "FR"), identifier("phone", "01 23 45 67 89", "FR"), identifier("age", 3, "FR")
    ('a@b.org', '+33123456789', 3)
    """
    if not isinstance(value, str):
        return value
    key = trait.lower()
    if key == "email" or key.endswith("email"):
        return email(value)
    if key in ("phone", "mobile", "phonenumber", "phone_number"):
        return phone(value, region) or value.strip()
    return value
