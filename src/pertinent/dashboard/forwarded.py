"""What a request relayed by a reverse proxy says about its client: the client's address, whether it came
over TLS, and the host it asked for; and whether a form was posted from this server's own pages.

``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are believed only when the direct peer is
one of the trusted proxies (``PERTINENT_TRUSTED_PROXIES``: addresses or CIDR networks), since anyone else can
write them. Of a list of hops the rightmost untrusted one is the client (the ones to its left were written
by the client itself); of ``-Proto`` and ``-Host`` the last value, written by the proxy next to us.

>>> proxies = TrustedProxies(["10.0.0.0/8"])
>>> proxies.client("10.0.0.2", "198.51.100.7, 203.0.113.9, 10.0.0.7"), proxies.client("192.0.2.1", "203.0.113.9")
('203.0.113.9', '192.0.2.1')
>>> proxies.scheme("10.0.0.2", "http", "https"), proxies.scheme("192.0.2.1", "http", "https")
('https', 'http')
>>> TrustedProxies([]).scheme("127.0.0.1", "http", "https")
'http'
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class TrustedProxies:
    """The proxies whose ``X-Forwarded-*`` headers are believed (see the module docstring)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]

    def trusts(self, host: str | None) -> bool:
        """Whether ``host`` (an address) is one of the trusted proxies.

        >>> TrustedProxies(["::1", "10.0.0.0/8"]).trusts("::1"), TrustedProxies(["10.0.0.0/8"]).trusts("x")
        (True, False)
        """
        if not host or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host.strip())
        except ValueError:
            return False
        return any(address in n for n in self.networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address: the peer, or behind a trusted proxy the rightmost untrusted hop."""
        fallback = (peer or "unknown")[:100]
        if not forwarded_for or not self.trusts(peer):
            return fallback
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop[:100]
        return hops[0][:100] if hops else fallback

    def scheme(self, peer: str | None, scheme: str, forwarded_proto: str | None) -> str:
        """``https`` when the request came over TLS: to this server, or to a trusted proxy that says so."""
        if forwarded_proto and self.trusts(peer):
            last = forwarded_proto.split(",")[-1].strip().lower()
            if last in DEFAULT_PORTS:
                return last
        return scheme

    def host(self, peer: str | None, host: str | None, forwarded_host: str | None) -> str | None:
        """The host (and port) the client asked for: the Host header, or a trusted proxy's X-Forwarded-Host."""
        if forwarded_host and self.trusts(peer):
            return forwarded_host.split(",")[-1].strip() or host
        return host


def same_origin(origin: str | None, referer: str | None, host: str | None) -> tuple[bool, str]:
    """Whether a form post comes from a page of ``host`` (the host and port the browser asked for), by its
    ``Origin`` header, else its ``Referer``; with neither, it does not (browsers send ``Origin`` with every
    form post). Only the host and port are compared: a scheme the server cannot see behind an untrusted
    proxy would otherwise refuse every form. Returns (ok, why not).

    >>> same_origin("https://dash.example.com", None, "dash.example.com")
    (True, '')
    >>> same_origin("http://127.0.0.1:8000", None, "127.0.0.1:8000"), same_origin(None, "http://h:81/x", "h:81")[0]
    ((True, ''), True)
    >>> same_origin("https://evil.test", None, "dash.example.com")[1]
    "the form was posted from https://evil.test, not from this server's pages"
    >>> same_origin("null", None, "h")[0], same_origin(None, None, "h")[0], same_origin("http://h:8000", None, "h")[0]
    (False, False, False)
    """
    if not host:
        return False, "the request names no host"
    claimed = origin if origin is not None else referer
    if claimed is None:
        return False, "neither an Origin nor a Referer header says where the form was posted from"
    mine = _host_port(host)
    theirs = _origin_host_port(claimed)
    if theirs is None or mine is None:
        return False, f"the form was posted from {claimed[:100]!r}, not from this server's pages"
    host_ok = theirs[0] == mine[0]
    port_ok = theirs[1] == mine[1] if mine[1] is not None else theirs[1] in DEFAULT_PORTS.values()
    if host_ok and port_ok:
        return True, ""
    return False, f"the form was posted from {_shown(claimed)}, not from this server's pages"


def _shown(url: str) -> str:
    parts = urlsplit(url[:300])
    return f"{parts.scheme}://{parts.netloc}"[:100] if parts.netloc else repr(url[:100])


def _host_port(value: str) -> tuple[str, int | None] | None:
    """``host[:port]`` (as in a Host header) as (lower-case host, port or None)."""
    try:
        parts = urlsplit("//" + value.strip())
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def _origin_host_port(url: str) -> tuple[str, int] | None:
    """An Origin or Referer URL as (lower-case host, port, the scheme's default when none is written)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[parts.scheme]
