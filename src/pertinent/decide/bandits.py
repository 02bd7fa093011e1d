"""Bandit slots: a policy of the bandit library per slot rule, learning from logged decisions and outcomes.

Every server process rebuilds the same state from storage: a decision is learned from once its reward
window has closed (``reward.window_s`` after it was made), with reward 1 when it got an outcome of the
reward events (or the sum of the outcomes' values with ``reward.value``), else 0. So the state follows the
logs exactly, in every process, at the price of learning ``window_s`` late. Non-contextual policies
compute their arm probabilities once per update (Thompson sampling's are a Monte-Carlo estimate); each
request draws from them, and the drawn arm's probability is logged as the decision's propensity.

>>> from pertinent.decide.slots import RunBandit
>>> arm = SlotBandit("home.hero", 0, RunBandit(policy="ucb1", min_share=0.1), ["a", "b"])
>>> choice = arm.choose()
>>> choice.arm in ("a", "b"), round(sum(choice.probabilities), 6), min(choice.probabilities) >= 0.1
(True, 1.0, True)
>>> arm.learn([("a", 1.0, None), ("b", 0.0, None), ("a", 1.0, None), ("b", 0.0, None)])
>>> round(arm.choose().probabilities[0], 2)   # UCB1 now prefers a: 1 - min_share
0.9

:class:`Bandits` holds the live policies of a server process (one per bandit rule and configuration) and
teaches them from storage; ``DecideService.bandit_states`` answers their :class:`BanditState`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict

from pertinent.bandits.base import Decision, Policy
from pertinent.bandits.registry import make_policy
from pertinent.decide.config import DecideConfig
from pertinent.decide.log import DecisionLog
from pertinent.decide.slots import RunBandit, Slot
from pertinent.decide.snapshot import Snapshot
from pertinent.errors import NotFound
from pertinent.storage.base import DecisionRow, OutcomeRow, Store

Features = Sequence[float]

N_FEATURES = 7
_DEVICES = ("mobile", "tablet", "desktop")


def context_features(context: Mapping[str, Any], now: float) -> list[float]:
    """LinUCB features from the request context: bias, device one-hot, local hour (sin, cos), weekend.

    >>> context_features({"device_type": "mobile", "timezone": "UTC"}, 0.0)
    [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    """
    device = context.get("device_type")
    tz = context.get("timezone")
    try:
        local = datetime.fromtimestamp(now, ZoneInfo(tz)) if isinstance(tz, str) and tz else None
    except Exception:  # unknown zone: treat as UTC
        local = None
    if local is None:
        local = datetime.fromtimestamp(now, ZoneInfo("UTC"))
    angle = 2 * math.pi * (local.hour + local.minute / 60) / 24
    return [
        1.0,
        *(1.0 if device == d else 0.0 for d in _DEVICES),
        round(math.sin(angle), 6),
        round(math.cos(angle), 6),
        1.0 if local.weekday() >= 5 else 0.0,
    ]


def bandit_key(slot_id: str, rule: int, action: RunBandit, arms: Sequence[str]) -> str:
    """Identifies a bandit's configuration: a change (arms, policy, parameters) starts a new policy."""
    return orjson.dumps([slot_id, rule, action.model_dump(mode="json"), list(arms)]).decode()


class BanditState(BaseModel):
    """What one bandit rule of a slot has learned: policy state, arm probabilities (None for a contextual
    policy, whose probabilities depend on the request), and up to when it learned from how many decisions."""

    model_config = ConfigDict(frozen=True)

    slot: str
    rule: int
    policy: str
    arms: list[str]
    learned_from: int
    learned_until: float
    probabilities: list[float] | None
    state: dict[str, Any]


class SlotBandit:
    """The policy of one bandit rule of one slot, with the cursor of what it has learned from.

    >>> SlotBandit("s", 0, RunBandit(policy="epsilon_greedy"), ["a", "b"]).state().learned_from
    0
    """

    def __init__(
        self, slot_id: str, rule: int, action: RunBandit, arms: Sequence[str], seed: int | None = None
    ) -> None:
        self.slot_id, self.rule, self.action, self.arms = slot_id, rule, action, list(arms)
        self.key = bandit_key(slot_id, rule, action, arms)
        params = dict(action.params)
        if action.policy == "thompson" and action.reward.value:
            params.setdefault("reward", "gaussian")
        if action.policy == "linucb":
            params.setdefault("n_features", N_FEATURES)
        self.policy: Policy = make_policy(
            action.policy, {"seed": seed, **params, "arms": self.arms, "min_share": action.min_share}
        )
        self.contextual = action.policy == "linucb"
        self.cursor = 0.0  # decisions made before this time have been learned from
        self.learned = 0
        self._lock = threading.Lock()
        self._probabilities: np.ndarray | None = None

    def choose(self, x: Features | None = None) -> Decision:
        """Draw an arm; the propensity is its probability in the distribution it was drawn from."""
        with self._lock:
            if self.contextual:
                return self.policy.choose(np.asarray(x if x is not None else [1.0] + [0.0] * (N_FEATURES - 1)))
            if self._probabilities is None:
                self._probabilities = self.policy.probabilities()
            p = self._probabilities
            i = int(self.policy.rng.choice(len(p), p=p))
            return Decision(self.arms[i], i, float(p[i]), tuple(float(v) for v in p))

    def learn(self, rewards: Iterable[tuple[str, float, Features | None]]) -> None:
        """Update the policy with (arm, reward, context features) triples; unknown arms are skipped."""
        with self._lock:
            for arm, reward, x in rewards:
                if arm not in self.arms:
                    continue
                if self.contextual and x is None:
                    continue
                if self.action.policy == "thompson" and not self.action.reward.value:
                    reward = 1.0 if reward > 0 else 0.0
                self.policy.update(arm, reward, np.asarray(x) if self.contextual else None)
                self.learned += 1
            self._probabilities = None

    def state(self) -> BanditState:
        """Policy state, cursor and how many decisions it learned from."""
        with self._lock:
            probs = None if self.contextual else self.policy.probabilities().tolist()
            return BanditState(
                slot=self.slot_id,
                rule=self.rule,
                policy=self.action.policy,
                arms=self.arms,
                learned_from=self.learned,
                learned_until=self.cursor,
                probabilities=probs,
                state=self.policy.learned_state(),
            )


def reward_of(
    decision: DecisionRow, outcomes: Sequence[OutcomeRow], events: set[str], value: bool, window_s: float
) -> float:
    """The reward of one decision: 0/1 for any outcome of ``events`` within the window, or their summed values.

    >>> d = DecisionRow("d", "p", "s", "a", "bandit", 0.0)
    >>> reward_of(d, [OutcomeRow("d", "p", "Slot Clicked", "m", 10.0)], {"Slot Clicked"}, False, 60)
    1.0
    >>> reward_of(d, [OutcomeRow("d", "p", "Slot Clicked", "m", 100.0)], {"Slot Clicked"}, False, 60)
    0.0
    """
    total, hit = 0.0, False
    for o in outcomes:
        if o.kind in events and o.at - decision.at <= window_s:
            hit = True
            total += 1.0 if o.value is None else float(o.value)
    return total if value else (1.0 if hit else 0.0)


class Bandits:
    """The live bandits of this server process, by configuration (:func:`bandit_key`), taught from storage.

    A bandit is created when a decision first needs it and learns its history on the next refresh; refreshes
    run on the decision log's thread every ``bandit_refresh_s`` (``maybe_refresh`` is one of its
    ``after_drain`` jobs). A bandit whose rule changed or whose slot is gone is dropped at the next refresh.
    """

    def __init__(self, store: Store, config: DecideConfig, snapshot: Callable[[], Snapshot], log: DecisionLog) -> None:
        self.store = store
        self.config = config
        self.snapshot = snapshot
        self.log = log
        self._bandits: dict[str, SlotBandit] = {}
        self._lock = threading.Lock()
        self._refreshed = float("-inf")

    def get(self, spec: Slot, rule: int, action: RunBandit) -> SlotBandit:
        """The bandit of a slot's rule, created on first use."""
        arms = action.arms or list(spec.variants)
        key = bandit_key(spec.id, rule, action, arms)
        bandit = self._bandits.get(key)
        if bandit is None:
            with self._lock:
                bandit = self._bandits.get(key)
                if bandit is None:
                    bandit = SlotBandit(spec.id, rule, action, arms)
                    self._bandits[key] = bandit
                    self._refreshed = float("-inf")  # learn its history on the next drain
                    self.log._ensure_thread()
        return bandit

    def maybe_refresh(self, now: float) -> None:
        if time.monotonic() - self._refreshed >= self.config.bandit_refresh_s and self._bandits:
            self.refresh(now)

    def refresh(self, now: float | None = None) -> dict[str, int]:
        """Teach every bandit the decisions whose reward window has closed since its last refresh."""
        now = time.time() if now is None else now
        self._refreshed = time.monotonic()
        live = set()
        for s in self.snapshot().slots.values():
            for i, r in enumerate(s.rules):
                if isinstance(r.then, RunBandit):
                    live.add(bandit_key(s.id, i, r.then, r.then.arms or list(s.variants)))
        learned = {}
        for key, bandit in list(self._bandits.items()):
            if key not in live:  # configuration changed or slot deleted
                self._bandits.pop(key, None)
                continue
            learned[f"{bandit.slot_id}#{bandit.rule}"] = self._teach(bandit, now)
        return learned

    def _teach(self, bandit: SlotBandit, now: float) -> int:
        reward = bandit.action.reward
        until = now - reward.window_s
        if until <= bandit.cursor:
            return 0
        events = {e[:32] for e in (reward.events or self.config.click_events)}
        with self.store.transaction(write=False) as tx:
            decisions = [
                d
                for d in tx.iter_decisions(bandit.slot_id, since=bandit.cursor, until=until)
                if d.reason == "bandit" and (d.detail or {}).get("rule") == bandit.rule
            ]
            decisions = decisions[-self.config.max_bandit_history :]
            outcomes: dict[str, list[OutcomeRow]] = {}
            for o in tx.outcomes_of([d.decision_id for d in decisions]):
                outcomes.setdefault(o.decision_id, []).append(o)
        batch: list[tuple[str, float, Features | None]] = []
        for d in decisions:
            r = reward_of(d, outcomes.get(d.decision_id, []), events, reward.value, reward.window_s)
            batch.append((d.variant or "", r, (d.detail or {}).get("x")))
        bandit.learn(batch)
        bandit.cursor = until
        return len(batch)

    def states(self, slot: str) -> list[BanditState]:
        """The live bandits of a slot (policy state, probabilities, how much they learned)."""
        spec = self.snapshot().slots.get(slot)
        if spec is None:
            raise NotFound.of("slot", "slot", slot)
        return [self.get(spec, i, r.then).state() for i, r in enumerate(spec.rules) if isinstance(r.then, RunBandit)]
