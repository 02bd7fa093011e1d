"""What the database records about how it is served, checked by every process that opens it.

One thing today: **a database served with the Redis hot store** (``storage/hot.py``) must never be written by a
process without it. Such a process (started without ``PERTINENT_REDIS_URL``, or with ``hot_store_ttl_s = 0``)
commits consent withdrawals, erasures, merges and profile changes without deleting the keys the other nodes serve
from Redis, and without setting the identity directory's bits: the other nodes would go on deciding with the old
consent and profile until the keys expire (``hot_store_ttl_s``, an hour by default).

So the first process that opens the database with the hot store records it (the ``hot_store`` row of
``deployment_settings``), and a process without the hot store that finds that row refuses to start
(:class:`HotStoreRequired`, naming ``PERTINENT_REDIS_URL``), whether it is ``pertinent serve``, ``pertinent
worker`` or any CLI command that builds the services. Taking a database off Redis is deliberate:
``pertinent hot-store detach`` with every node stopped (docs/deploy.md) deletes the row and, given the Redis URL,
the hot store's keys there, so that a later return to Redis starts from an empty hot store.

The check runs when the process starts: a node without Redis that was already running when the first Redis node
marked the database is not stopped by it (docs/deploy.md: stop the single node before starting the cluster).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from pertinent.storage.base import Store

HOT_STORE = "hot_store"


class HotStoreRequired(RuntimeError):
    """This process has no hot store, and the database is served with one."""


def hot_store_mark(store: Store) -> dict[str, Any] | None:
    """The database's ``hot_store`` record (who marked it, when), or None when it is not served with one."""
    with store.transaction(write=False) as tx:
        return tx.deployment_setting(HOT_STORE)


def check_hot_store(store: Store, hot: bool, now: float | None = None) -> None:
    """Mark the database as served with the hot store (``hot``), or refuse a process without it when it is."""
    mark = hot_store_mark(store)
    if hot:
        if mark is None:
            with store.transaction() as tx:
                at = time.time() if now is None else now
                tx.put_deployment_setting(HOT_STORE, {"by": socket.gethostname(), "at": at}, at)
        return
    if mark is not None:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(mark.get("at", 0))))
        raise HotStoreRequired(
            "this database is served with the Redis hot store (marked by a node on "
            f"{mark.get('by', '?')} at {since}), and this process has none: set PERTINENT_REDIS_URL to the "
            "cluster's Redis (and leave PERTINENT_HOT_STORE_TTL_S above 0). Its writes would leave the other nodes "
            "serving stale consent and profiles from Redis. To take the database off Redis for good, stop every "
            "node and run `pertinent hot-store detach` (docs/deploy.md)."
        )


def detach(store: Store, client: Any = None) -> tuple[bool, int]:
    """Take the database off the hot store: delete its record and, given a Redis client, every hot-store key
    there (``pertinent:hot:*``). Returns (whether it was marked, keys deleted)."""
    from pertinent.storage.hot_keys import PREFIX

    deleted = 0
    if client is not None:
        batch: list[Any] = []
        for key in client.scan_iter(match=PREFIX + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
    with store.transaction() as tx:
        marked = tx.deployment_setting(HOT_STORE) is not None
        tx.delete_deployment_setting(HOT_STORE)
    return marked, deleted
