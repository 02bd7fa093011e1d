"""DecideService: the facade of decisions, composing

* ``documents.py`` — blocks, slots and experiments as versioned documents (CRUD with validation) and the cached
  snapshot of them that serving reads (``snapshot.py``);
* ``serve.py`` — ``decide``: what one slot shows to one user now, why, and with what propensity;
* ``bandits.py`` — the live bandit policies, taught from the logged decisions;
* ``log.py`` — the background writer of decisions and exposure events, and attribution of outcomes;
* ``results.py`` — experiment results (``analysis.py``) and off-policy evaluation.

Documents are cached in memory: a change made through this process is seen at once, and every
``cache_check_s`` the service asks storage for a change counter (``documents_version``), so changes made by
another server process are seen within that time. A decision reads the user's identity, profile (consent,
features), segments and first exposures in one read transaction; the decision row and the exposure event
are written by a background thread (``log.py``).

>>> import tempfile
>>> from pertinent.services import Services
>>> from pertinent.settings import Settings
>>> svc = Services.build(Settings(database_url="sqlite://", data_dir=tempfile.mkdtemp(), write_key="w",
...                               admin_key="a", pseudonym_keys=["k"])); svc.store.migrate()
>>> _ = svc.decide.put_block({"id": "hero-a", "type": "headline", "content": {"title": "Hello"}})
>>> _ = svc.decide.put_slot({"id": "home.hero", "variants": {"a": "hero-a"},
...                          "default": {"kind": "variant", "variant": "a"}})
>>> d = svc.decide.decide("home.hero", anonymous_id="visitor-1")
>>> d["variant"], d["block"], d["reason"]["kind"]
('a', {'type': 'headline', 'content': {'title': 'Hello'}}, 'default')
>>> svc.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pertinent.decide.analysis import ExperimentResults
from pertinent.decide.bandits import Bandits, BanditState
from pertinent.decide.comparison import VersionComparison
from pertinent.decide.config import DecideConfig
from pertinent.decide.documents import DecideDocuments, Deleted, Document, DocumentVersion
from pertinent.decide.log import DecisionLog
from pertinent.decide.results import OpeReport, Results
from pertinent.decide.serve import Decider, Decision
from pertinent.privacy.audit import SYSTEM, Actor
from pertinent.storage.base import Store

if TYPE_CHECKING:
    from pertinent.events.service import Committed, IngestService
    from pertinent.profiles.service import ProfileService
    from pertinent.recommend.service import RecommendService
    from pertinent.settings import Settings


class DecideService:
    """Slots, blocks and experiments (CRUD with validation), decisions, results and off-policy evaluation
    (built by ``Services.build``; the module docstring has a worked example). Its parts share one
    ``config`` (changing it at run time reaches all of them)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        ingest: IngestService,
        profiles: ProfileService,
        recommend: RecommendService,
        config: DecideConfig | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.config = config or settings.decide.model_copy(deep=True)
        self.documents = DecideDocuments(store, self.config, recommend.check_version)
        self.documents.max_window_days = max(settings.count_windows_days)
        self.log = DecisionLog(store, self.config)
        self.bandits = Bandits(store, self.config, self.documents.snapshot, self.log)
        self.log.after_drain.append(self.bandits.maybe_refresh)
        self.serving = Decider(
            store,
            settings,
            self.config,
            self.documents.snapshot,
            self.bandits,
            self.log,
            ingest.clean_context,
            profiles,
            recommend,
        )
        self.log.after_write.append(self.serving.pending.written)
        self.measuring = Results(store, self.config, self.documents.experiment, self.flush)
        ingest.subscribe(self._on_commit)

    # ================================================================ lifecycle
    def close(self) -> None:
        self.log.close()

    def flush(self, now: float | None = None) -> None:
        """Write queued decisions and exposures and attribute queued events now (tests, shutdown)."""
        self.log.flush(now)

    # ================================================================ personal data (privacy.derived)
    def user_rows(self, profile_id: str) -> list[dict[str, Any]]:
        """Decisions of the profile still queued for writing (stored ones are exported from storage)."""
        return self.log.pending_for(profile_id)

    def forget_user(self, profile_id: str) -> int:
        """Erasure: queued decisions of the profile are dropped (stored ones are deleted by the erasure), and so
        are its first exposures not stored yet and the exposures this process remembers for it; returns how many
        decisions were queued."""
        self.serving.pending.forget(profile_id)
        self.serving.forget(profile_id)
        return self.log.forget(profile_id)

    def forget_cached(self, profile_id: str) -> None:
        """Another node erased the profile (``runtime/bus.py``): drop what this process holds for it."""
        self.forget_user(profile_id)  # everything it drops is this process's memory

    # ================================================================ documents
    def list_documents(self, kind: str) -> list[Document]:
        """Every current document of a kind (block, slot, experiment)."""
        return self.documents.docs.list_of(kind)

    def get(self, kind: str, doc_id: str) -> Document:
        return self.documents.docs.get(kind, doc_id)

    def history(self, kind: str, doc_id: str) -> list[DocumentVersion]:
        """Every version (a deleted document has a last version with body null)."""
        return self.documents.docs.history(kind, doc_id)

    # changes are audited under ``actor`` (who asked: the admin key, the CLI...; see pertinent.privacy.audit)
    def put_block(self, data: Any, block_id: str | None = None, actor: Actor = SYSTEM) -> Document:
        return self.documents.put_block(data, block_id, actor)

    def delete_block(self, block_id: str, actor: Actor = SYSTEM) -> Deleted:
        return self.documents.delete_block(block_id, actor)

    def put_slot(self, data: Any, slot_id: str | None = None, actor: Actor = SYSTEM) -> Document:
        return self.documents.put_slot(data, slot_id, actor)

    def delete_slot(self, slot_id: str, actor: Actor = SYSTEM) -> Deleted:
        return self.documents.delete_slot(slot_id, actor)

    def put_experiment(self, data: Any, key: str | None = None, actor: Actor = SYSTEM) -> Document:
        return self.documents.put_experiment(data, key, actor)

    def start_experiment(self, key: str, actor: Actor = SYSTEM) -> Document:
        return self.documents.start_experiment(key, actor)

    def stop_experiment(self, key: str, actor: Actor = SYSTEM) -> Document:
        return self.documents.stop_experiment(key, actor)

    def delete_experiment(self, key: str, actor: Actor = SYSTEM) -> Deleted:
        return self.documents.delete_experiment(key, actor)

    # ================================================================ deciding
    def decide(
        self,
        slot: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        context: dict[str, Any] | None = None,
        now: float | None = None,
        raw_context: dict[str, Any] | None = None,
    ) -> Decision:
        """What ``slot`` shows to this user now (``serve.Decider.decide``)."""
        return self.serving.decide(slot, user_id, anonymous_id, context, now, raw_context)

    # ================================================================ bandits
    def refresh_bandits(self, now: float | None = None) -> dict[str, int]:
        """Teach every bandit the decisions whose reward window has closed; learned decisions per slot#rule."""
        return self.bandits.refresh(now)

    def bandit_states(self, slot: str) -> list[BanditState]:
        return self.bandits.states(slot)

    # ================================================================ measuring
    def results(self, key: str) -> ExperimentResults:
        return self.measuring.results(key)

    def versions(self, key: str) -> VersionComparison:
        """A recommender experiment's impressions, CTR and conversions per model version (``comparison.py``)."""
        return self.measuring.versions(key, self.documents.cache.fresh().slots)

    def ope(
        self,
        slot: str,
        target: str = "uniform",
        since: float = 0.0,
        reward_events: list[str] | None = None,
        value: bool = False,
        alpha: float = 0.05,
    ) -> OpeReport:
        return self.measuring.ope(slot, target, since, reward_events, value, alpha)

    # ================================================================ attribution (ingest listener)
    def _on_commit(self, committed: Committed) -> None:
        if self.documents.snapshot().slots:  # nothing was ever decided (e.g. a history import): nothing to attribute
            self.log.add_committed(committed)
        if committed.merged or any(e.type in ("identify", "alias") for e in committed.events):
            self._link_pending()

    def _link_pending(self) -> None:
        """Identities were linked or merged: first exposures not stored yet follow them to their profile now,
        before the ingesting request is answered (``sticky.py``)."""
        keys = self.serving.pending.unwritten_keys()
        if not keys:
            return
        with self.store.transaction(write=False) as tx:
            found = tx.get_identities(keys)
        self.serving.pending.link({key: row.profile_id for key, row in found.items()})
