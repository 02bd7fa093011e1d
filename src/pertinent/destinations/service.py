"""Destinations: events, traits and segment entries/exits forwarded to webhooks, durably and in the background.

Nothing is sent from the request path. Ingestion and segment evaluation write outbox rows in the very transaction
that stores the event or applies the segment change (``IngestService.subscribe_in_transaction``,
``Membership.change_hooks``), so a message is queued if and only if its cause committed, and survives a restart.
A background job (``runtime.jobs.JobRunner``) claims due rows, POSTs each one (webhook.py), deletes the delivered,
reschedules the failed with exponential backoff and, after ``max_attempts``, keeps them as ``dead``: the
dead-letter list, which the admin API and ``pertinent destinations`` list and replay. Outbox rows name a person
(``profile_id``, the payload): export lists them and erasure deletes them (``PrivacyService.export``,
``Tx.erase_profile``).

Only events stored with personalisation consent are forwarded; ``integrations`` on a message opts it out
(``{"All": false}``, ``{"Webhook": false}``: payload.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from pertinent.destinations.config import DestinationsConfig, WebhookConfig
from pertinent.destinations.models import (
    Delivery,
    DeliveryPage,
    DeliveryRound,
    DestinationList,
    DestinationStatus,
    Replayed,
)
from pertinent.destinations.payload import event_payload, segment_payload, wanted
from pertinent.destinations.webhook import backoff, post
from pertinent.errors import InvalidInput, NotFound
from pertinent.privacy.audit import SYSTEM, Actor, record
from pertinent.runtime.jobs import JobRunner
from pertinent.settings import Settings
from pertinent.storage.base import DeliveryRow, MembershipChange, Store
from pertinent.storage.claims import StoreClaims
from pertinent.storage.protocols import AuditRepo, OutboxRepo

log = logging.getLogger("pertinent.destinations")

MAX_ROUNDS = 50  # claim-send-finish passes per run of the job; the next run goes on


class UnknownDestination(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__([{"field": "name", "message": "no such destination"}], f"name: no destination '{name}'")


class DestinationService:
    """Queues messages for the configured webhooks and delivers them in the background."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
    ) -> None:
        self.store = store
        self.config: DestinationsConfig = settings.destinations
        self.hooks: dict[str, WebhookConfig] = {w.name: w for w in self.config.webhooks}
        self.clock = clock
        self.jobs = JobRunner(StoreClaims(store), clock, "pertinent-destinations")
        self._client = client
        self._client_lock = threading.Lock()
        self._started = False
        self._kicked = False  # a delivery job is queued

    # ------------------------------------------------------------------------------ queueing (in transactions)
    def on_ingest(self, tx: OutboxRepo, committed: Any) -> None:
        """Ingest transaction hook: queue each new event for the webhooks that want it."""
        if not self.hooks:
            return
        rows: list[DeliveryRow] = []
        now = committed.at
        for event in committed.events:
            if not event.personalize:
                continue  # stored for analytics only: not for marketing tools
            msg = committed.messages.get((event.profile_id, event.message_id))
            integrations = getattr(msg, "integrations", None)
            name = event.event if event.type == "track" else None
            for hook in self.hooks.values():
                if wanted(hook, event.type, name, integrations):
                    payload = event_payload(event, msg, hook.raw_traits)
                    rows.append(
                        DeliveryRow(hook.name, event.type, event.profile_id, payload, next_at=now, created_at=now)
                    )
        tx.enqueue_deliveries(rows)

    def on_segment_changes(self, tx: OutboxRepo, changes: Sequence[MembershipChange]) -> None:
        """Segment membership hook: queue entries and exits."""
        if not self.hooks or not changes:
            return
        now = self.clock()
        rows = [
            DeliveryRow(
                hook.name,
                "segment",
                c.profile_id,
                segment_payload(c.segment_id, c.profile_id, c.entered, c.at),
                next_at=now,
                created_at=now,
            )
            for c in changes
            for hook in self.hooks.values()
            if wanted(hook, "segment", c.segment_id, None)
        ]
        tx.enqueue_deliveries(rows)

    def after_commit(self, committed: Any) -> None:
        """Ingest listener (after the commit): deliver what was just queued without waiting for the next poll
        (one delivery job waits at a time, however many commits ask)."""
        if self._started and self.hooks and committed.events:
            self._kick()

    def _kick(self) -> None:
        with self._client_lock:
            if self._kicked:
                return
            self._kicked = True
        self.jobs.submit("deliver", self._deliver_kicked)

    def _deliver_kicked(self) -> DeliveryRound:
        with self._client_lock:
            self._kicked = False
        return self.deliver_due()

    # ------------------------------------------------------------------------------ delivering
    def start(self) -> None:
        """Poll for due deliveries (retries, segment changes) every ``poll_interval_s`` -- the server calls this."""
        if self._started or not self.hooks:
            return
        self._started = True
        self.jobs.every("deliver", self.config.poll_interval_s, self.deliver_due)

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=False)
            return self._client

    def deliver_due(self, now: float | None = None) -> DeliveryRound:
        """Send every due delivery once (a few passes of ``batch_size``); what fails is rescheduled or dead."""
        delivered = retried = dead = 0
        for _ in range(MAX_ROUNDS):
            at = self.clock() if now is None else now
            with self.store.transaction() as tx:
                batch = tx.claim_deliveries(at, self.config.batch_size, self.config.lease_s)
            if not batch:
                break
            done: list[int] = []
            again: list[DeliveryRow] = []
            for row in batch:
                assert row.id is not None
                hook = self.hooks.get(row.destination)
                if hook is None:  # a destination removed from the settings: keep its rows as dead letters
                    row.status, row.last_error = "dead", "destination no longer configured"
                    again.append(row)
                    continue
                result, error = post(self._http(), hook, row.payload, row.id, row.attempts + 1)
                if result == "delivered":
                    done.append(row.id)
                    continue
                row.attempts += 1
                row.last_error = error
                if result == "dead" or row.attempts >= hook.max_attempts:
                    row.status = "dead"
                    log.warning("delivery %s to %s is dead after %s tries: %s", row.id, hook.name, row.attempts, error)
                else:
                    row.next_at = self.clock() + backoff(hook, row.attempts)
                again.append(row)
            with self.store.transaction() as tx:
                tx.finish_deliveries(done, again)
            delivered += len(done)
            dead += sum(r.status == "dead" for r in again)
            retried += sum(r.status == "pending" for r in again)
            if len(batch) < self.config.batch_size:
                break
        return DeliveryRound(delivered=delivered, retried=retried, dead=dead)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return self.jobs.wait_idle(timeout)

    def close(self) -> None:
        self.jobs.close()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # ------------------------------------------------------------------------------ inspecting and replaying
    def _hook(self, name: str) -> WebhookConfig:
        hook = self.hooks.get(name)
        if hook is None:
            raise UnknownDestination(name)
        return hook

    def statuses(self) -> DestinationList:
        with self.store.transaction(write=False) as tx:
            counts = tx.count_deliveries()
        return DestinationList(
            destinations=[
                DestinationStatus(
                    name=h.name,
                    url=h.url,
                    pending=counts.get((h.name, "pending"), 0),
                    dead=counts.get((h.name, "dead"), 0),
                )
                for h in self.hooks.values()
            ]
        )

    def deliveries(self, name: str, status: str | None = "dead", after: int = 0, limit: int = 100) -> DeliveryPage:
        """A page of one destination's outbox (the dead-letter list by default)."""
        self._hook(name)
        if status not in (None, "pending", "dead"):
            raise InvalidInput.field("status", "pending or dead")
        if not 1 <= limit <= 1000:
            raise InvalidInput.field("limit", "between 1 and 1000")
        with self.store.transaction(write=False) as tx:
            rows = tx.deliveries(status, name, after, limit)
        items = [Delivery(**{k: getattr(r, k) for k in Delivery.model_fields}) for r in rows]
        return DeliveryPage(deliveries=items, next_after=items[-1].id if len(items) == limit else None)

    def replay(self, name: str, ids: list[int] | None = None, actor: Actor = SYSTEM) -> Replayed:
        """Make dead deliveries (these ``ids``, or all of the destination's) pending again, due now; audited."""
        self._hook(name)
        now = self.clock()
        with self.store.transaction() as tx:
            n = tx.requeue_deliveries(ids, name, now)
            _audit(tx, actor, name, ids, n, now)
        if self._started and n:
            self._kick()
        return Replayed(destination=name, requeued=n)


def _audit(tx: AuditRepo, actor: Actor, name: str, ids: list[int] | None, n: int, now: float) -> None:
    record(tx, actor, "destination.replay", f"destination:{name}", detail={"ids": ids, "requeued": n}, at=now)
