"""What ingestion asks of data quality: normalise a validated message, check it against the tracking plan, and
count both per event and field (the counts are written with the ingest transaction).

The ingest service calls :meth:`IngestQuality.normalise` on each valid message before it is prepared (so the
stored event, the profile's context and the rules see ``FR``, not ``france``), :meth:`IngestQuality.check` once
its identity proof is known, and :meth:`IngestQuality.take_counts` inside the write transaction.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.quality import normalize
from pertinent.quality.config import QualityConfig
from pertinent.quality.tracking import IDENTIFY, CompiledPlan, compile_plan
from pertinent.storage.base import FailedEventRow, Store

CountKey = tuple[str, str, str]  # kind, event, field

_ROOTS = ("context", "properties", "traits")
PROOFS = ("userHash", "previousIdHash")  # identity proofs: checked, never stored


def event_label(msg: Any) -> str:
    """The name counts are kept under: the track event, the page/screen name, else the message type."""
    fields = msg.__dict__
    return str(fields.get("event") or fields.get("name") or f"({msg.type})")[:200]


def _get(root: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(root, dict):
            return None
        root = root.get(key)
    return root


def _set(root: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``root`` with ``path`` set (each dict on the way copied: the sender's dicts stay as they were)."""
    out = dict(root)
    node = out
    for key in path[:-1]:
        node[key] = dict(node[key])
        node = node[key]
    node[path[-1]] = value
    return out


class IngestQuality:
    """Normalisation and tracking-plan checks for the ingest service (thread-safe; plans re-read every
    ``reload_s`` seconds so that every process sees an upload)."""

    def __init__(self, store: Store, config: QualityConfig, reload_s: float = 2.0) -> None:
        self.store = store
        self.config = config
        self.reload_s = reload_s
        self._fields: list[tuple[str, list[str], str]] = []
        for kind, paths in (
            ("country", config.country_fields),
            ("date", config.date_fields),
            ("currency", config.currency_fields),
            ("categorical", config.categorical_fields),
        ):
            for dotted in paths:
                root, *rest = dotted.split(".")
                if root in _ROOTS and rest:
                    self._fields.append((root, rest, kind))
        self._plans: dict[str, CompiledPlan] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self._counts: Counter[CountKey] = Counter()

    # -- normalisation --------------------------------------------------------------
    def normalise(self, msg: Any) -> None:
        """Normalise the configured fields of a validated message in place (values that cannot be parsed are kept
        as sent and counted as ``unparseable``)."""
        if not self.config.normalize or not self._fields:
            return
        fields = msg.__dict__
        counts: list[CountKey] = []
        label = ""
        for root, path, kind in self._fields:
            container = fields.get(root)
            value = _get(container, path)
            if value is None or value == "" or not isinstance(container, dict):
                continue
            label = label or event_label(msg)
            name = f"{root}.{'.'.join(path)}"
            fixed = normalize.KINDS[kind](value)
            if fixed is None:
                counts.append(("unparseable", label, name))
            elif fixed != value:
                setattr(msg, root, _set(container, path, fixed))
                counts.append(("normalised", label, name))
        if counts:
            with self._lock:
                self._counts.update(counts)

    def identifier(self, trait: str, value: Any) -> Any:
        """A PII trait normalised before pseudonymisation (email lower-cased, phone in E.164)."""
        return normalize.identifier(trait, value, self.config.phone_region)

    # -- the tracking plan --------------------------------------------------------------
    def plans(self) -> dict[str, CompiledPlan]:
        now = time.monotonic()
        if now - self._loaded_at >= self.reload_s:
            with self.store.transaction(write=False) as tx:
                rows = tx.tracking_plans()
            self._plans = {r.event: compile_plan(r.event, r.schema, r.mode) for r in rows}
            self._loaded_at = now
        return self._plans

    def invalidate(self) -> None:
        """Re-read the plans on the next message (after an upload in this process)."""
        self._loaded_at = float("-inf")

    def check(self, msg: Any) -> tuple[str | None, list[dict[str, str]]]:
        """The plan's mode for a track event (its properties) or an identify call (its traits, the plan named
        ``identify``) and its violations; (None, []) when no plan applies."""
        if msg.type == "track":
            plan, data, root = self.plans().get(msg.event), msg.properties, "properties"
        elif msg.type == "identify":
            plan, data, root = self.plans().get(IDENTIFY), msg.traits, "traits"
        else:
            return None, []
        if plan is None:
            return None, []
        found = plan.violations(data or {}, root)
        if found:
            kind = "blocked" if plan.mode == "block" else "violation"
            with self._lock:
                self._counts.update((kind, plan.event, v["field"]) for v in found)
            if plan.mode == "flag":  # the stored event says what is wrong with it
                msg.context = {**(msg.context or {}), "violations": sorted({v["field"] for v in found})}
        return plan.mode, found

    @staticmethod
    def blocked_errors(found: list[dict[str, str]], index: int, where: str, indexed: bool) -> list[dict[str, Any]]:
        """The errors a request reports for a blocked message, naming each field."""
        out: list[dict[str, Any]] = []
        for v in found:
            e = {"field": f"{where}{v['field']}", "message": f"{v['message']} (blocked by the tracking plan)"}
            out.append({"index": index, **e} if indexed else e)
        return out

    # -- counts ------------------------------------------------------------------------
    def take_counts(self) -> Counter[CountKey]:
        """The counts gathered since the last call (the caller writes them, or gives them back on failure)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts

    def give_back(self, counts: Counter[CountKey]) -> None:
        with self._lock:
            self._counts.update(counts)

    @staticmethod
    def failed_row(
        raw: dict[str, Any],
        msg: Any,
        verified: bool,
        violations: list[dict[str, str]],
        at: float,
        pseudo: Pseudonymizer,
        anonymize_ip: Callable[[str], str | None] | None,
        scrub: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> FailedEventRow:
        """A blocked message as kept in the failed-events store: as sent (so that a replay normalises and checks it
        again), less its identity proofs and the host part of its IP. An unproven userId is dropped (the message
        counts as anonymous) or, without an anonymousId, its consent statement is, as ingestion would have done:
        a replay (trusted) must not do more than the original message could."""
        payload = dict(raw)
        ctx = {k: v for k, v in (payload.get("context") or {}).items() if k not in PROOFS}
        if anonymize_ip is not None and isinstance(ctx.get("ip"), str):
            ctx["ip"] = anonymize_ip(ctx["ip"])
        if not verified:
            if msg.anonymousId:
                payload.pop("userId", None)
            else:
                ctx.pop("consent", None)
        if scrub is not None:  # PII traits kept as pseudonyms (a replay keeps a pseudonym as it is)
            if isinstance(payload.get("traits"), dict):
                payload["traits"] = scrub(payload["traits"])
            if isinstance(ctx.get("traits"), dict):
                ctx["traits"] = scrub(ctx["traits"])
        payload["context"] = ctx
        user = msg.userId if payload.get("userId") else None
        return FailedEventRow(
            at=at,
            event=event_label(msg),
            user_key=pseudo.key("user", user) if user else None,
            anonymous_key=pseudo.key("anonymous", msg.anonymousId) if msg.anonymousId else None,
            errors=violations,
            payload=payload,
        )
