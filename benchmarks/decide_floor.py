"""The floor of a decision endpoint on this stack (uvicorn + Starlette + sqlite3), as a ratio to bare Starlette.

``/v1/decide`` is measured against a bare Starlette endpoint returning a constant body (``decide_serving.py``).
This asks how close any Python implementation could get: a Starlette endpoint doing only what every decision
must do, in three steps, each measured with wrk like ``decide_serving.py`` (1 worker, 1 wrk thread,
32 connections, 10 s, 100k random known users):

* ``parse``: parse the query, check the write key, pseudonymise the user id (HMAC-SHA256), new decision id,
  answer JSON. No storage, no rules, no templates, no validation beyond a dict lookup;
* ``+read``: also read the user's identity, profile and segment memberships with plain ``sqlite3`` (three
  indexed lookups, a per-thread connection: cheaper than ``Store.reader``);
* ``+write``: also queue the decision row for a thread that inserts the queue every 0.5 s with ``executemany``
  (what ``DecisionLog`` does, minus erasure and identity checks);
* ``parse+write``: ``+write`` without the reads, as if every profile's decision inputs were in memory.

It reads and writes the data directory of ``decide_serving.py`` (run that once first; the rows it adds are
decisions of profile ids that exist there).

Run: .venv/bin/python benchmarks/decide_floor.py --data /tmp/decide-bench --repeat 3
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decide_serving as bench  # noqa: E402

MODES = ("parse", "+read", "+write", "parse+write")
WRITE_KEY = base64.b64encode(f"{bench.WRITE_KEY}:".encode()).decode()


def make_app(db: str, mode: str):  # noqa: ANN201 - a Starlette app
    import sqlite3

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    local = threading.local()
    queue: list[tuple] = []

    def conn() -> sqlite3.Connection:
        c = getattr(local, "c", None)
        if c is None:
            c = local.c = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        return c

    def writer() -> None:
        w = sqlite3.connect(db, isolation_level=None, timeout=30)
        w.execute("PRAGMA synchronous=NORMAL")
        while True:
            time.sleep(0.5)
            batch = queue[:]
            del queue[: len(batch)]
            if batch:
                w.execute("BEGIN IMMEDIATE")
                w.executemany(
                    "INSERT INTO decisions (decision_id, profile_id, slot, variant, reason, experiment, "
                    "propensity, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    batch,
                )
                w.execute("COMMIT")

    writes = mode in ("+write", "parse+write")
    if writes:
        threading.Thread(target=writer, daemon=True).start()
    key = bench.PSEUDO.encode()

    async def decide(request):  # noqa: ANN001, ANN202
        q = dict(parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True))
        headers = dict(request.scope["headers"])
        if headers.get(b"authorization", b"").decode("latin-1")[6:] != WRITE_KEY:
            return Response(b'{"success":false}', 401, media_type="application/json")
        pid = "u_" + hmac.new(key, f"user:{q['user_id']}".encode(), hashlib.sha256).hexdigest()[:32]
        segments: dict[str, float] = {}
        if mode in ("+read", "+write"):
            c = conn()
            found = c.execute("SELECT profile_id FROM identities WHERE key = ?", (pid,)).fetchone()
            if found:
                pid = found[0]
                c.execute("SELECT consent, state FROM profiles WHERE profile_id = ?", (pid,)).fetchone()
                segments = dict(
                    c.execute(
                        "SELECT segment_id, entered_at FROM segment_members WHERE profile_id = ?", (pid,)
                    ).fetchall()
                )
        decision_id = f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
        variant = "vip" if "vip" in segments else "a"
        if writes:
            queue.append((decision_id, pid, q["slot"], variant, "rule", None, 1.0, '{"rule": 0}', time.time()))
        return Response(
            orjson.dumps(
                {
                    "decision_id": decision_id,
                    "slot": q["slot"],
                    "variant": variant,
                    "block": {"type": "headline", "content": {"title": "Hello"}},
                }
            ),
            media_type="application/json",
        )

    return Starlette(routes=[Route("/v1/decide", decide)])


def serve(db: str, mode: str, port: int) -> None:
    import uvicorn

    uvicorn.run(make_app(db, mode), port=port, log_level="warning", access_log=False)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("/tmp/pertinent-decide-bench"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--modes", default=",".join(MODES))
    a = p.parse_args()
    modes = a.modes.split(",")
    db = a.data / "pertinent.db"
    if not db.exists():
        raise SystemExit(f"{db} is missing: run benchmarks/decide_serving.py --data {a.data} first")
    path = "/v1/decide?slot=home.rules&user_id=u%d&timezone=Europe%%2FBerlin"
    ratios: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(a.repeat):
        bare, bare_port = bench.start_bare(1)
        try:
            bare_rps = bench.wrk(bare_port, None, 100_000)
        finally:
            bare.terminate()
            bare.wait(30)
        for mode in modes:
            port = bench.free_port()
            proc = subprocess.Popen(
                [sys.executable, __file__, "serve", str(db), mode, str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                bench.wait_ready(port)
                got = bench.wrk(port, path, 100_000)
            finally:
                proc.terminate()
                proc.wait(30)
            ratios[mode].append(got / bare_rps)
            print(
                f"run {r + 1} {mode}: {got:.0f} req/s, bare {bare_rps:.0f} req/s, ratio {got / bare_rps:.3f}",
                flush=True,
            )
    print(
        {
            m: {"ratio_median": round(statistics.median(v), 3), "ratios": [round(x, 3) for x in v]}
            for m, v in ratios.items()
        }
    )
    print(bench.machine())


if __name__ == "__main__":
    main()
