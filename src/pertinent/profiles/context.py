"""Turn a Segment ``context`` into the flat facts profiles and targeting use.

User agents go through ``ua-parser`` (the maintained uap-core rules, Rust accelerated), cached.

>>> c = parse_context({"userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
...     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
...     "locale": "en-GB", "page": {"referrer": "https://www.google.com/search?q=x",
...     "url": "https://shop.example/?utm_campaign=spring_sale&utm_source=newsletter"}})
>>> c["device_type"], c["browser"], c["os"], c["country"], c["referrer"], c["utm_campaign"]
('mobile', 'Mobile Safari', 'iOS', 'GB', 'www.google.com', 'spring_sale')
>>> parse_context({"location": {"country": "SE", "region": "AB", "city": "Tumba"}})
{'country': 'SE', 'region': 'AB', 'city': 'Tumba'}
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ua_parser import parse as _ua_parse

_TABLET_HINTS = ("ipad", "tablet", "kindle", "playbook", "nexus 7", "nexus 9", "nexus 10")


@lru_cache(maxsize=8192)
def parse_user_agent(ua: str) -> tuple[str | None, str | None, str]:
    """(browser, os, device_type) where device_type is desktop, mobile, tablet or bot."""
    result = _ua_parse(ua[:1000])
    browser = result.user_agent.family if result.user_agent else None
    os_name = result.os.family if result.os else None
    device = result.device
    family = (device.family if device else "") or ""
    brand = (device.brand if device else "") or ""
    lowered = ua.lower()
    if family == "Spider" or "bot" in lowered or "crawler" in lowered or "spider" in lowered:
        kind = "bot"
    elif any(h in family.lower() or h in brand.lower() for h in _TABLET_HINTS) or (
        os_name == "Android" and "mobile" not in lowered
    ):
        kind = "tablet"
    elif "mobi" in lowered or os_name in ("iOS", "Android", "Windows Phone", "BlackBerry OS"):
        kind = "mobile"
    else:
        kind = "desktop"
    return browser, os_name, kind


def _host(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host or None


def _utm_from_url(url: Any) -> dict[str, str]:
    if not isinstance(url, str) or "utm_" not in url:
        return {}
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return {}
    return {k[4:]: v[0] for k, v in query.items() if k.startswith("utm_") and v}


def utm_facts(campaign: dict[str, Any], url: Any = None) -> dict[str, str]:
    """``utm_*`` facts from a campaign object (``context.campaign``), over those of a URL's query string.

    >>> utm_facts({"source": "mail"}, "https://x.test/?utm_campaign=spring&utm_source=ads")
    {'utm_campaign': 'spring', 'utm_source': 'mail'}
    """
    utm = {**_utm_from_url(url), **{k: v for k, v in campaign.items() if isinstance(v, str)}}
    out: dict[str, str] = {}
    for key in ("name", "campaign", "source", "medium", "term", "content"):
        if key in utm:
            out["utm_campaign" if key in ("name", "campaign") else f"utm_{key}"] = utm[key][:200]
    return out


def _country(context: dict[str, Any]) -> str | None:
    location = context.get("location")
    country = location.get("country") if isinstance(location, dict) else None
    if isinstance(country, str):
        return country[:64]
    locale = context.get("locale")
    if isinstance(locale, str):
        parts = locale.replace("_", "-").split("-")
        if len(parts) >= 2 and len(parts[-1]) == 2 and parts[-1].isalpha():
            return parts[-1].upper()
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_context(context: dict[str, Any]) -> dict[str, Any]:
    """Flat, bounded facts from a Segment context (missing facts are left out)."""
    out: dict[str, Any] = {}
    ua = context.get("userAgent")
    if isinstance(ua, str) and ua:
        out["browser"], out["os"], out["device_type"] = parse_user_agent(ua)
    device = context.get("device")
    if isinstance(device, dict) and isinstance(device.get("type"), str) and "device_type" not in out:
        out["device_type"] = device["type"][:32]
    country = _country(context)
    if country:
        out["country"] = country
    location = _dict(context.get("location"))
    for key in ("region", "city"):  # sent by the client, or found from the IP at ingestion (geo/locate.py)
        if isinstance(location.get(key), str) and location[key]:
            out[key] = location[key][:100]
    page = _dict(context.get("page"))
    ref = _host(page.get("referrer")) or _host(_dict(context.get("referrer")).get("url"))
    if ref:
        out["referrer"] = ref
    out.update(utm_facts(_dict(context.get("campaign")), page.get("url")))
    for key in ("locale", "timezone"):
        if isinstance(context.get(key), str):
            out[key] = context[key][:64]
    return out
