"""Engagement in a profile: active time and scroll depth per page (``Page Engaged`` events from /pertinent.js),
entry and exit pages of sessions, and campaign (UTM) facts from a page's URL.

Kept in the profile's state, bounded: sums for time and depth, the ``max_paths`` most frequent entry and exit
pages. A session's entry page is its first page; its exit page is its last, known once the session is over (the
next session starts, or ``session_timeout_s`` passes without an event).

>>> from pertinent.profiles.features import ProfileConfig
>>> cfg, state = ProfileConfig(), {}
>>> apply_page(state, "/", new_session=True, cfg=cfg)
>>> apply_page(state, "/shoes", new_session=False, cfg=cfg)
>>> apply_engaged(state, {"active_seconds": 42, "scroll_depth": 80})
>>> apply_page(state, "/blog", new_session=True, cfg=cfg)
>>> e = summarize_engagement(state, last_seen=100.0, now=100.0, cfg=cfg)
>>> e["pages"], e["active_seconds"], e["avg_scroll_depth"], e["entry_pages"], e["exit_pages"]
(1, 42.0, 80.0, {'/': 1, '/blog': 1}, {'/shoes': 1})
>>> summarize_engagement(state, last_seen=100.0, now=100.0 + 3600, cfg=cfg)["exit_pages"]  # the session is over
{'/blog': 1, '/shoes': 1}
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pertinent.profiles.features import ProfileConfig

MAX_ACTIVE_S = 86400.0  # one page's active time is at most a day (anything longer is bad input)


def _number(value: Any, high: float) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(v, 0.0), high) if math.isfinite(v) else None


def page_path(properties: dict[str, Any], name: str | None) -> str | None:
    """The path of a page event: ``properties.path``, else the path of ``properties.url``, else its name.

    >>> page_path({"url": "https://shop.test/a/b?x=1"}, None), page_path({}, "Home"), page_path({}, None)
    ('/a/b', 'Home', None)
    """
    path = properties.get("path")
    if not isinstance(path, str) or not path:
        url = properties.get("url")
        try:
            path = urlsplit(url).path or "/" if isinstance(url, str) and url else None
        except ValueError:
            path = None
    if not path:
        path = name
    return path[:200] if isinstance(path, str) and path else None


def _bump(table: dict[str, int], key: str, keep: int) -> None:
    table[key] = table.get(key, 0) + 1
    if len(table) > keep:
        del table[min((k for k in table if k != key), key=lambda k: table[k])]  # the rarest other page goes


def apply_page(state: dict[str, Any], path: str | None, new_session: bool, cfg: ProfileConfig) -> None:
    """A page view at the profile's newest time: the entry page of a new session, the previous session's exit."""
    if path is None:
        return
    paths = state.setdefault("paths", {"entry": {}, "exit": {}, "last": None})
    if new_session:
        if paths.get("last"):
            _bump(paths["exit"], paths["last"], cfg.max_paths)
        _bump(paths["entry"], path, cfg.max_paths)
    paths["last"] = path


def apply_engaged(state: dict[str, Any], properties: dict[str, Any]) -> None:
    """A ``Page Engaged`` event: its ``active_seconds`` and ``scroll_depth`` (percent) added to the sums. A
    ``continued`` one (the visitor came back to a page already reported) adds its time and ``scroll_depth_delta``
    to that page's."""
    active = _number(properties.get("active_seconds"), MAX_ACTIVE_S)
    depth = _number(properties.get("scroll_depth"), 100.0)
    if active is None and depth is None:
        return
    e = state.setdefault("engagement", {"pages": 0, "active_s": 0.0, "scroll_sum": 0.0, "scroll_pages": 0})
    if properties.get("continued") is True and e["pages"]:
        e["active_s"] = round(e["active_s"] + (active or 0.0), 3)
        delta = _number(properties.get("scroll_depth_delta"), 100.0)
        if delta is not None and e["scroll_pages"]:
            e["scroll_sum"] = round(e["scroll_sum"] + delta, 3)
        return
    e["pages"] += 1
    e["active_s"] = round(e["active_s"] + (active or 0.0), 3)
    if depth is not None:
        e["scroll_sum"] = round(e["scroll_sum"] + depth, 3)
        e["scroll_pages"] += 1


def merge_engagement(into: dict[str, Any], other: dict[str, Any], other_is_newer: bool, cfg: ProfileConfig) -> None:
    """Identity stitching: add the sums and the page counts; the newer profile's current page stays current."""
    if "engagement" in other:
        e = into.setdefault("engagement", {"pages": 0, "active_s": 0.0, "scroll_sum": 0.0, "scroll_pages": 0})
        for key, value in other["engagement"].items():
            e[key] = round(e.get(key, 0) + value, 3)
    if "paths" in other:
        paths = into.setdefault("paths", {"entry": {}, "exit": {}, "last": None})
        for kind in ("entry", "exit"):
            merged = dict(paths[kind])
            for path, n in other["paths"].get(kind, {}).items():
                merged[path] = merged.get(path, 0) + n
            paths[kind] = dict(sorted(merged.items(), key=lambda kv: -kv[1])[: cfg.max_paths])
        if other_is_newer or not paths.get("last"):
            paths["last"] = other["paths"].get("last")


def summarize_engagement(
    state: dict[str, Any], last_seen: float | None, now: float, cfg: ProfileConfig
) -> dict[str, Any]:
    """``features.engagement``: pages measured, active seconds (total and per page), average scroll depth, and the
    entry and exit pages by count (the current session's last page counts as an exit once the session is over)."""
    e = state.get("engagement") or {}
    pages, scroll_pages = e.get("pages", 0), e.get("scroll_pages", 0)
    paths = state.get("paths") or {}
    exits = dict(paths.get("exit", {}))
    last = paths.get("last")
    if last and last_seen is not None and now - last_seen > cfg.session_timeout_s:
        exits[last] = exits.get(last, 0) + 1
    return {
        "pages": pages,
        "active_seconds": round(float(e.get("active_s", 0.0)), 3),
        "avg_active_seconds": round(e["active_s"] / pages, 3) if pages else None,
        "avg_scroll_depth": round(e["scroll_sum"] / scroll_pages, 3) if scroll_pages else None,
        "entry_pages": dict(sorted(paths.get("entry", {}).items(), key=lambda kv: (-kv[1], kv[0]))),
        "exit_pages": dict(sorted(exits.items(), key=lambda kv: (-kv[1], kv[0]))),
        "current_page": last,
    }
