"""What ingestion keeps from attaching to anyone: the suppression list (erased people) and, in opt-in mode, the
visitors who never consented.

>>> from pertinent.events.schema import validate_message
>>> msg, _ = validate_message({"type": "alias", "previousId": "d1", "userId": "u1"})
>>> ids_of(msg)
[('user', 'u1'), ('user', 'd1'), ('anonymous', 'd1')]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pertinent.events.schema import Alias
from pertinent.privacy.consent import effective
from pertinent.privacy.pseudonym import Pseudonymizer
from pertinent.storage.base import FailedEventRow, ProfileRow
from pertinent.storage.protocols import SuppressionRepo


class Item(Protocol):
    """A message being ingested: its validated message, the profile it resolved to and its outcome."""

    msg: Any
    profile_id: str
    outcome: str


T = TypeVar("T", bound=Item)


@dataclass(slots=True)
class Blocked:
    """A message the tracking plan blocked and its row for the failed-events store: kept, unless it is about an
    erased person (then, like their events, it is dropped)."""

    msg: Any
    row: FailedEventRow
    profile_id: str = ""
    outcome: str = ""


def ids_of(m: Any) -> list[tuple[str, str]]:
    """The (kind, raw id) pairs a message names."""
    ids = [("user", m.userId)] if m.userId else []
    if m.anonymousId:
        ids.append(("anonymous", m.anonymousId))
    if isinstance(m, Alias):
        ids += [("user", m.previousId), ("anonymous", m.previousId)]
    return ids


def unsuppressed(tx: SuppressionRepo, pseudo: Pseudonymizer, items: Sequence[T]) -> list[T]:
    """The items about nobody erased; the others' outcome becomes ``suppressed``. One read of the list per call,
    under every pseudonymisation key in use (an erasure before a key rotation still suppresses)."""
    keys_of = []
    for p in items:
        keys = set()
        for kind, raw in ids_of(p.msg):
            keys.add(pseudo.key(kind, raw))
            keys.update(pseudo.previous_keys(kind, raw))
        keys_of.append(keys)
    listed = tx.suppressed(set().union(*keys_of)) if keys_of else set()
    if not listed:
        return list(items)
    out = []
    for p, keys in zip(items, keys_of, strict=True):
        if keys & listed:
            p.outcome = "suppressed"
        else:
            out.append(p)
    return out


def left_empty(
    items: Sequence[Item],
    profiles: dict[str, ProfileRow],
    stored_before: set[str],
    final: Callable[[str], str],
    default_consent: str,
) -> set[str]:
    """Profiles new in this transaction that keep nothing: no event stored and a consent in force that is only the
    default (in opt-in mode, ``default_consent=denied``: a visitor who never consented). The caller writes
    neither them nor their identities."""
    existing = {final(pid) for pid in stored_before}
    default = effective({}, default_consent)
    kept = {p.profile_id for p in items if p.outcome in ("stored", "duplicate")}
    return {
        pid
        for pid in {p.profile_id for p in items}
        if pid not in existing
        and pid not in kept
        and pid in profiles
        and effective(profiles[pid].consent, default_consent) == default
    }
