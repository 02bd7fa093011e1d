"""IP geolocation: lookup cost of the shipped database, and how far its December 2019 data has drifted.

Usage: .venv/bin/python benchmarks/geo.py [--n 200000] [--seed 7]   (needs the dev extra: geoip2fast)

Drift: the country the shipped GeoLite2 City build (2019-12-24) gives for random public IPv4 addresses, compared
with geoip2fast's GeoLite2 Country data of 2024-06-18 (the newer peer, a dev dependency), over the addresses both
place. Cost: ``Locator.locate`` per address (maxminddb's C reader, memory-mapped), against geoip2fast's lookup.
"""

from __future__ import annotations

import argparse
import ipaddress
import platform
import random
import time

from pertinent.geo.locate import Locator


def public_ipv4(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if addr.is_global:
            out.append(str(addr))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from geoip2fast import GeoIP2Fast  # dev dependency: the newer country data, as the peer

    ips = public_ipv4(random.Random(args.seed), args.n)
    shipped = Locator.shipped()
    peer = GeoIP2Fast()
    t0 = time.perf_counter()
    ours = [shipped.locate(ip) for ip in ips]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = [peer.lookup(ip).country_code for ip in ips]
    t_peer = time.perf_counter() - t0
    visits = [ip for ip in ips[: args.n // 20] for _ in range(20)]  # 20 events per visitor, as ingestion sees them
    fresh = Locator.shipped()
    t0 = time.perf_counter()
    for ip in visits:
        fresh.locate(ip)
    t_visits = time.perf_counter() - t0
    both = [(a.country, b) for a, b in zip(ours, theirs, strict=True) if a is not None and len(b) == 2]
    agree = sum(a == b for a, b in both)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"addresses: {len(ips)} random public IPv4 (seed {args.seed})")
    print(f"placed by the shipped 2019 database: {sum(o is not None for o in ours) / len(ips):.1%}")
    print(f"  with a region: {sum(o is not None and o.region is not None for o in ours) / len(ips):.1%}")
    print(f"  with a city:   {sum(o is not None and o.city is not None for o in ours) / len(ips):.1%}")
    print(f"country agrees with the 2024 data: {agree / len(both):.2%} of {len(both)} placed by both")
    print(f"lookup: {t_ours / len(ips) * 1e6:.2f} us/address (geoip2fast: {t_peer / len(ips) * 1e6:.2f} us)")
    print(f"20 events per visitor (cached per /24): {t_visits / len(visits) * 1e6:.2f} us/event")


if __name__ == "__main__":
    main()
