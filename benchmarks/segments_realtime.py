"""Real-time segments benchmark: 100k profiles, 50 active segments, ingest load.

1. Store: 100,000 profiles made by ingesting a compact synthetic history (views, adds to cart, orders with
   revenue, campaigns, countries, devices; 1-8 events per user over 30 days) in process into a fresh SQLite data
   directory; then 50 segment definitions (the 7 templates with varied thresholds, context/affinity/combined
   rules and a probe segment) are saved and evaluated over every profile in one pass (``reconcile``).
2. Rule evaluation throughput, one thread: every stored profile against the 50 compiled segments (profiles x
   segments per second), and the interpreted path (``rules.make_view`` + ``rules.evaluate``) on a sample.
3. The time sweep (segments that change with time alone) over the 100k profiles one day later, then again at the
   current time (which puts the memberships back before the load runs).
4. ``pertinent serve`` on that data directory (1 and 2 workers), 4 client threads posting /v1/batch bodies of 100
   events of existing users for ``--duration`` seconds, with the real-time evaluator off
   (``PERTINENT_SEGMENTS__REALTIME=false``) and on. With it on, a probe sends one ``Probe`` event for a new user
   and polls ``GET /v1/profiles/{id}`` (10 ms apart) until the probe segment shows: the delay from the ingest
   response (the commit) to the membership being visible through the API. The sweep and size snapshots are off
   during the load runs (measured separately in 3).

    .venv/bin/python benchmarks/segments_realtime.py --profiles 100000 --duration 20 --repeat 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from base64 import b64encode
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as bench  # noqa: E402  (benchmarks/ingest.py: server start-up, load threads, machine description)

DAY = 86400.0
COUNTRIES = ["FR", "DE", "US", "GB", "ES"]
LOCALES = {"FR": "fr-FR", "DE": "de-DE", "US": "en-US", "GB": "en-GB", "ES": "es-ES"}
CAMPAIGNS = ["spring_sale", "newsletter", "promo_code", "brand", "black_friday_deal"]
AGENTS = {
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1",
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
}
EVENTS = ["Product Viewed", "Product Added", "Order Completed"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _context(rng: np.random.Generator, user: int) -> dict[str, Any]:
    """A user's country and device stay the same across sessions; a quarter of sessions come from a campaign."""
    country = COUNTRIES[user % len(COUNTRIES)]
    ctx: dict[str, Any] = {"locale": LOCALES[country], "userAgent": AGENTS["mobile" if user % 20 < 11 else "desktop"]}
    if rng.random() < 0.25:
        ctx["campaign"] = {"name": CAMPAIGNS[int(rng.integers(len(CAMPAIGNS)))], "source": "email", "medium": "email"}
    return ctx


def _event(rng: np.random.Generator, uid: str, ts: float | None, with_context: bool) -> dict[str, Any]:
    kind = EVENTS[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    cat = f"cat-{int(rng.integers(20))}"
    props: dict[str, Any] = {
        "product_id": f"p{int(rng.integers(5000))}",
        "category": cat,
        "price": round(float(rng.lognormal(3, 0.6)), 2),
    }
    if kind == "Order Completed":
        props["revenue"] = round(float(rng.lognormal(4, 0.8)), 2)
    msg: dict[str, Any] = {
        "type": "track",
        "event": kind,
        "userId": uid,
        "messageId": uuid.uuid4().hex,
        "properties": props,
    }
    if ts is not None:
        msg["timestamp"] = _iso(ts)
    if with_context:
        msg["context"] = _context(rng, int(uid.rsplit("-", 1)[1]))
    return msg


def history(n_users: int, seed: int = 1) -> Any:
    """Batches of 1,000 messages: each user's 1-8 events over the last 30 days, in time order."""
    rng = np.random.default_rng(seed)
    now = time.time()
    batch: list[dict[str, Any]] = []
    for i in range(n_users):
        n = int(min(1 + rng.poisson(2.0), 8))
        times = np.sort(now - rng.uniform(0, 30 * DAY, n))
        for j, ts in enumerate(times):
            batch.append(_event(rng, f"user-{i}", float(ts), with_context=j == 0))
        if len(batch) >= 1000:
            yield batch
            batch = []
    if batch:
        yield batch


def load_batches(n_users: int, n_events: int, size: int = 100, seed: int = 2, session: float = 4.0) -> list[bytes]:
    """Pre-built /v1/batch bodies of sessions: a random existing user sends 1-12 events in a row (geometric,
    mean ``session``; the first with its context), timestamped on arrival. ``session=1``: every event from
    another random user (the worst case for the evaluator, which evaluates each changed profile once per batch)."""
    rng = np.random.default_rng(seed)
    msgs: list[dict[str, Any]] = []
    while len(msgs) < n_events:
        uid = f"user-{int(rng.integers(n_users))}"
        n = min(int(rng.geometric(1.0 / session)), 12)
        msgs += [_event(rng, uid, None, with_context=j == 0) for j in range(n)]
    return [orjson.dumps({"batch": msgs[i : i + size]}) for i in range(0, n_events - size + 1, size)]


def definitions() -> list[dict[str, Any]]:
    """50 segments: template variations, context/affinity/combined rules and the probe."""
    out: list[dict[str, Any]] = []

    def tpl(name: str, **params: Any) -> None:
        out.append({"template": name, "params": params, "id": f"{name}_{len(out)}"})

    for orders in (2, 3, 4, 5, 6):
        for window in (7, 30):
            tpl("frequent_buyers", min_orders=orders, window_days=window)
    for views in (2, 3, 5):
        for window in (7, 30):
            tpl("browsers", min_views=views, window_days=window)
    for window in (1, 3, 7, 14):
        tpl("cart_abandoners", window_days=window)
    for days in (1, 3, 7, 14):
        tpl("new_visitors", days=days)
    for money, freq in ((100, 2), (200, 3), (500, 5), (1000, 8)):
        tpl("high_value_loyalists", min_monetary=money, min_frequency=freq)
    for days in (7, 14, 21, 28):
        tpl("at_risk", inactive_days=days)
    for words in (None, ["promo"], ["sale"], ["newsletter"]):
        tpl("deal_seekers", **({"words": words} if words else {}))

    def rule(rid: str, body: dict[str, Any]) -> None:
        out.append({"id": rid, "name": rid, "rule": body})

    for country in COUNTRIES:
        rule(f"country_{country}", {"type": "context", "field": "country", "op": "eq", "value": country})
    for device in ("mobile", "desktop"):
        rule(f"device_{device}", {"type": "context", "field": "device_type", "op": "eq", "value": device})
    for cat in range(4):
        rule(f"likes_cat_{cat}", {"type": "affinity", "label": f"cat-{cat}", "min_share": 0.3})
    rule(
        "fr_buyers",
        {
            "type": "and",
            "conditions": [
                {"type": "event_count", "event": "Order Completed", "window_days": 30, "value": 2},
                {"type": "context", "field": "country", "op": "eq", "value": "FR"},
            ],
        },
    )
    rule(
        "engaged",
        {
            "type": "or",
            "conditions": [
                {"type": "event_count", "event": "Product Viewed", "window_days": 7, "value": 3},
                {"type": "event_count", "event": "Product Added", "window_days": 1, "value": 1},
            ],
        },
    )
    rule("probe", {"type": "event_count", "event": "Probe", "window_days": 1, "value": 1})
    assert len(out) == 50, len(out)
    return out


def settings_for(data_dir: Path, **segments: Any) -> Any:
    from pertinent.settings import Settings

    return Settings(
        data_dir=data_dir,
        write_key=bench.WRITE_KEY,
        admin_key=bench.ADMIN_KEY,
        pseudonym_keys=["bench-key"],
        segments=segments,
    )


def build_store(data_dir: Path, n_users: int) -> dict[str, Any]:
    from pertinent.services import Services

    out: dict[str, Any] = {}
    svc = Services.build(settings_for(data_dir, realtime=False))
    try:
        t = time.perf_counter()
        events = 0
        for batch in history(n_users):
            svc.ingest.ingest(batch)
            events += len(batch)
        out["history_events"] = events
        out["history_ingest_s"] = round(time.perf_counter() - t, 1)
        with svc.store.transaction(write=False) as tx:
            out["profiles"] = tx.count_profiles()
        for d in definitions():
            svc.segments.create(d, backfill="none")
        t = time.perf_counter()
        totals = svc.segments.reconcile()
        out["reconcile_s"] = round(time.perf_counter() - t, 1)
        out["reconcile"] = totals
        with svc.store.transaction(write=False) as tx:
            sizes = tx.count_segment_members()
        out["memberships"] = sum(sizes.values())
        out["segments_non_empty"] = len(sizes)
    finally:
        svc.close()
    return out


def evaluation_throughput(data_dir: Path, interpreted_sample: int = 5000) -> dict[str, Any]:
    from pertinent.privacy.consent import effective
    from pertinent.rules import Moment, evaluate
    from pertinent.segments.rules import make_view
    from pertinent.services import Services

    svc = Services.build(settings_for(data_dir, realtime=False))
    try:
        seg = svc.segments
        active = seg.active()
        with svc.store.transaction(write=False) as tx:
            rows = list(tx.iter_profiles(batch_size=5000))
        runs = []
        for _ in range(3):
            moment = Moment(time.time())
            t = time.perf_counter()
            for row in rows:
                seg.memberships(row, active, moment)
            runs.append(time.perf_counter() - t)
        compiled_s = statistics.median(runs)
        # the interpreted path: a full view per profile, the pydantic rule tree per segment
        from pertinent.segments.definitions import RuleDefinition, SegmentDefinitionAdapter

        with svc.store.transaction(write=False) as tx:
            docs = tx.list_documents("segment")
        rules = [
            d.rule
            for d in (SegmentDefinitionAdapter.validate_python(doc.body) for doc in docs)
            if isinstance(d, RuleDefinition)
        ]
        sample = rows[:interpreted_sample]
        now = time.time()
        cfg = svc.ingest.profile_config
        t = time.perf_counter()
        for row in sample:
            view = make_view(row.state, now, cfg, row.traits, effective(row.consent, "granted"))
            for r in rules:
                evaluate(r, view, now)
        interpreted_s = time.perf_counter() - t
        n, k = len(rows), len(active)
        return {
            "profiles": n,
            "segments": k,
            "compiled_runs_s": [round(r, 2) for r in runs],
            "compiled_profiles_per_s": round(n / compiled_s),
            "compiled_profile_segments_per_s": round(n * k / compiled_s),
            "compiled_us_per_profile": round(compiled_s / n * 1e6, 1),
            "interpreted_sample": len(sample),
            "interpreted_profile_segments_per_s": round(len(sample) * len(rules) / interpreted_s),
            "interpreted_us_per_profile": round(interpreted_s / len(sample) * 1e6, 1),
        }
    finally:
        svc.close()


def sweep_time(data_dir: Path) -> dict[str, Any]:
    from pertinent.services import Services

    svc = Services.build(settings_for(data_dir, realtime=False))
    try:
        seg = svc.segments
        timed = sum(a.timed for a in seg.active())
        out: dict[str, Any] = {"timed_segments": timed}
        # a day later (windows roll, people become "at risk"), then back to now so the load runs start current
        for name, at in (("day_later", time.time() + DAY), ("now", time.time())):
            t = time.perf_counter()
            totals = seg.sweep(now=at)
            out[name] = {"sweep_s": round(time.perf_counter() - t, 1), **totals}
        return out
    finally:
        svc.close()


def probe_membership(port: int, stop: threading.Event, out: list[float], timeouts: list[int]) -> None:
    """One Probe event for a new user, then GET its profile every 10 ms until the probe segment shows."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    write = {
        "Content-Type": "application/json",
        "Authorization": "Basic " + b64encode(f"{bench.WRITE_KEY}:".encode()).decode(),
    }
    admin = {"Authorization": f"Bearer {bench.ADMIN_KEY}"}
    while not stop.is_set():
        uid = f"probe-{uuid.uuid4().hex[:12]}"
        conn.request("POST", "/v1/track", orjson.dumps({"userId": uid, "event": "Probe"}), write)
        resp = conn.getresponse()
        resp.read()
        t = time.perf_counter()
        while True:
            conn.request("GET", f"/v1/profiles/{uid}", headers=admin)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status == 200 and any(s["id"] == "probe" for s in orjson.loads(data)["segments"]):
                out.append(time.perf_counter() - t)
                break
            if time.perf_counter() - t > 10:
                timeouts.append(1)
                break
            time.sleep(0.01)
        stop.wait(0.1)


def server_run(
    data_dir: Path, batches: list[bytes], args: argparse.Namespace, workers: int, realtime: bool
) -> dict[str, Any]:
    env = {
        "PERTINENT_SEGMENTS__REALTIME": "true" if realtime else "false",
        "PERTINENT_SEGMENTS__SWEEP_INTERVAL_S": "0",
        "PERTINENT_SEGMENTS__SIZES_INTERVAL_S": "0",
        "PERTINENT_RECOMMEND__RETRAIN_INTERVAL_S": "0",
    }
    port = bench.free_port()
    proc = bench.start_pertinent(port, env, data_dir, workers)
    try:
        stop, delays, timeouts = threading.Event(), [], []
        prober = threading.Thread(target=probe_membership, args=(port, stop, delays, timeouts)) if realtime else None
        if prober:
            prober.start()
        result = bench.Load(port, batches, args.threads, args.duration).run(100)
        stop.set()
        if prober:
            prober.join()
        if delays:
            delays.sort()
            result["membership_delay_p50_ms"] = round(1000 * statistics.median(delays), 1)
            result["membership_delay_p99_ms"] = round(1000 * delays[min(len(delays) - 1, int(len(delays) * 0.99))], 1)
            result["membership_delay_max_ms"] = round(1000 * delays[-1], 1)
            result["probes"] = len(delays)
            result["probe_timeouts"] = len(timeouts)
        return result
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--events", type=int, default=300_000, help="pre-built load events (upper bound per run)")
    ap.add_argument(
        "--session",
        type=float,
        default=4.0,
        help="mean events per user session in the load (1 = every event from another random user)",
    )
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeat", type=int, default=2, help="server runs per configuration (alternating off/on)")
    ap.add_argument("--data-dir", type=Path, help="reuse a data directory built by an earlier run")
    ap.add_argument("--skip", default="", help="comma-separated phases to skip: throughput,sweep,server")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    results: dict[str, Any] = {"machine": bench.machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    print(f"machine: {results['machine']}", flush=True)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="pertinent-bench-segments-"))
    if not (data_dir / "pertinent.db").exists():
        results["store"] = build_store(data_dir, args.profiles)
        print("store", json.dumps(results["store"]), flush=True)
    print(f"data directory: {data_dir}", flush=True)
    if "throughput" not in skip:
        results["evaluation"] = evaluation_throughput(data_dir)
        print("evaluation", json.dumps(results["evaluation"]), flush=True)
    if "sweep" not in skip:
        results["sweep"] = sweep_time(data_dir)
        print("sweep", json.dumps(results["sweep"]), flush=True)
    if "server" not in skip:
        batches = load_batches(args.profiles, args.events, session=args.session)
        runs: dict[str, list[dict[str, Any]]] = {}
        for workers in (int(w) for w in args.workers.split(",")):
            for _ in range(args.repeat):
                for realtime in (False, True):
                    name = f"{workers} worker(s), evaluator {'on' if realtime else 'off'}"
                    r = server_run(data_dir, batches, args, workers, realtime)
                    runs.setdefault(name, []).append(r)
                    print(name, json.dumps(r), flush=True)
        results["server"] = runs
        print("\n| configuration | events/s (runs) | request p50 / p99 ms | membership delay p50 / p99 / max ms |")
        print("|---|---:|---:|---:|")
        for name, rs in runs.items():
            eps = ", ".join(f"{r['events_per_s']:,.0f}" for r in rs)
            req = ", ".join(f"{r['latency_p50_ms']:.0f} / {r['latency_p99_ms']:.0f}" for r in rs)
            delay = ", ".join(
                f"{r['membership_delay_p50_ms']:.0f} / {r['membership_delay_p99_ms']:.0f} / "
                f"{r['membership_delay_max_ms']:.0f}"
                for r in rs
                if "membership_delay_p50_ms" in r
            )
            print(f"| {name} | {eps} | {req} | {delay or '-'} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
