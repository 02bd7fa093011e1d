"""A versioned model registry on the filesystem.

Layout: ``<root>/<name>/<version>/`` holds ``config.json``, ``state.npz`` (learned state),
``metrics.json`` (offline metrics) and ``meta.json``; ``<root>/<name>/latest`` names the version
served (the *promoted* one). Versions are written to a temporary folder and renamed, and ``latest`` is
replaced atomically, so a server polling ``has_newer`` never sees a half-written model. In a cluster
``<root>`` (``<data_dir>/models``) is a folder every node mounts (docs/deploy.md).

Promotion: a new version is served at once (auto-promotion) until an operator promotes a version or rolls
back (``promote``, ``rollback``); that pins the choice, so retraining adds versions without serving them,
until ``resume`` returns to serving the newest. ``<root>/<name>/promotions.json`` keeps every promotion.

>>> import tempfile, pandas as pd
>>> from pertinent.recommend import Interactions, PopularityRecommender
>>> reg = ModelRegistry(tempfile.mkdtemp())
>>> data = Interactions.from_frame(pd.DataFrame({"user": ["u"], "item": ["a"]}))
>>> v1 = reg.save("home", PopularityRecommender().fit(data), metrics={"ndcg": 0.1})
>>> reg.latest_version("home") == v1, reg.has_newer("home", v1)
(True, False)
>>> reg.load("home").recommend(k=1)[0].item
'a'
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pertinent.recommend.models import load_model

if TYPE_CHECKING:
    from pertinent.recommend.base import Recommender

PER_USER_PREFIX = "per_user/"
"""State arrays under this key (``{"per_user": {...}}`` in ``_get_state``) have one row per saved user id: a
person's export lists their row, erasure zeroes it."""
DAMAGED = (ValueError, KeyError, EOFError, zipfile.BadZipFile)
"""What reading a damaged ``state.npz`` raises (truncated, not a zip, a missing array): erasure deletes such a
state. An ``OSError`` (a shared volume away for a moment) is not damage: the erasure fails and is retried."""
UNREADABLE = (OSError, *DAMAGED)
"""What export reports as an unreadable version instead of failing."""
log = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RegistryError(ValueError):
    """An unknown model or version (:class:`InvalidModelName` for a bad name): ``field`` (``name`` or
    ``version``) says which, ``reason`` why, so callers map it to an answer without reading the message.

    >>> e = RegistryError("version", "no model 'home' version 'v9'"); (str(e), e.field)
    ("version: no model 'home' version 'v9'", 'version')
    """

    def __init__(self, field: Literal["name", "version"], reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class InvalidModelName(RegistryError):
    """A name that cannot be a model's folder (not 1-64 letters, digits, '_', '-' or '.')."""

    def __init__(self, name: str) -> None:
        super().__init__("name", f"{name[:100]!r} must be 1-64 letters, digits, '_', '-' or '.'")


class ModelRegistry:
    """Save, list and load model versions; ``has_newer`` is one small file read."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_data_dir(cls, data_dir: str | Path) -> ModelRegistry:
        return cls(Path(data_dir) / "models")

    def _dir(self, name: str) -> Path:
        if not _NAME.match(name):
            raise InvalidModelName(name)
        return self.root / name

    def versions(self, name: str) -> list[str]:
        folder = self._dir(name)
        if not folder.exists():
            return []
        # only v<digits>: a stray folder (a copy named "v2-old") is no version, and rollback reads the numbers
        return sorted(
            (p.name for p in folder.iterdir() if p.is_dir() and p.name[:1] == "v" and p.name[1:].isdigit()),
            key=lambda v: int(v[1:]),
        )

    def names(self) -> list[str]:
        """Every model name with saved versions."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    # -- personal data in saved models: every version keeps its users' ids and training rows ------------------
    def _states(self) -> Iterator[tuple[str, str, Path]]:
        for name in self.names():
            for version in self.versions(name):
                state = self._dir(name) / version / "state.npz"
                if state.exists():
                    yield name, version, state

    def user_rows(self, user_id: str) -> list[dict[str, Any]]:
        """What each saved version holds about one user (for data export): the items and weights of its row."""
        out = []
        for name, version, path in self._states():
            try:
                out.extend(self._user_row(name, version, path, user_id))
            except UNREADABLE as exc:  # say so rather than fail the whole export
                out.append({"model": name, "version": version, "unreadable": f"{type(exc).__name__}: {exc}"})
        return out

    @staticmethod
    def _user_row(name: str, version: str, path: Path, user_id: str) -> list[dict[str, Any]]:
        """The export entry of one version for one user ([] when the version does not hold them)."""
        with np.load(path, allow_pickle=False) as z:
            users = z["__user_ids"]
            hits = np.flatnonzero(users == user_id)
            if not hits.size:
                return []
            row = int(hits[0])
            items = z["__item_ids"]
            entry: dict[str, Any] = {"model": name, "version": version, "items": [], "weights": []}
            if "__train@indptr" in z.files:
                start, end = z["__train@indptr"][row], z["__train@indptr"][row + 1]
                entry["items"] = [str(items[i]) for i in z["__train@indices"][start:end]]
                entry["weights"] = [float(w) for w in z["__train@data"][start:end]]
            if "__times@indptr" in z.files and row + 1 < len(z["__times@indptr"]):
                start, end = z["__times@indptr"][row], z["__times@indptr"][row + 1]
                entry["times"] = {
                    str(items[i]): float(t)
                    for i, t in zip(z["__times@indices"][start:end], z["__times@data"][start:end], strict=True)
                }
            for key in z.files:  # arrays with one row per saved user (e.g. learned user factors)
                if key.startswith(PER_USER_PREFIX):
                    entry.setdefault("per_user", {})[key[len(PER_USER_PREFIX) :]] = z[key][row].tolist()
        return [entry]

    def forget_user(self, user_id: str) -> int:
        """Remove a user from every saved version (erasure); returns how many versions held them.

        The id is blanked, the training row emptied and any ``per_user/`` row zeroed in place (rewritten
        atomically); rows are not removed so that per-user arrays keep their alignment.
        """
        changed = 0
        for name, version, path in self._states():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
                users = arrays["__user_ids"]
            except DAMAGED as exc:
                # A damaged state cannot be served (loading it fails with a clear error) and cannot be cleaned
                # of this person: it is deleted, so that it never blocks an erasure nor outlives one.
                log.warning("model %s version %s: unreadable state deleted on erasure (%s)", name, version, exc)
                path.unlink(missing_ok=True)
                changed += 1
                continue
            hits = np.flatnonzero(users == user_id)
            if not hits.size:
                continue
            users = users.copy()
            users[hits] = ""
            arrays["__user_ids"] = users
            for key in [k for k in arrays if k.startswith(PER_USER_PREFIX)]:  # per-user rows are zeroed
                values = arrays[key].copy()
                values[hits] = 0
                arrays[key] = values
            for name in ("__train", "__times"):  # the training row and its interaction times
                if f"{name}@indptr" not in arrays:
                    continue
                indptr = arrays[f"{name}@indptr"].copy()
                data, indices = arrays[f"{name}@data"], arrays[f"{name}@indices"]
                for row in sorted(hits, reverse=True):
                    if row + 1 >= len(indptr):
                        continue
                    start, end = int(indptr[row]), int(indptr[row + 1])
                    data = np.concatenate([data[:start], data[end:]])
                    indices = np.concatenate([indices[:start], indices[end:]])
                    indptr[row + 1 :] -= end - start
                arrays.update({f"{name}@data": data, f"{name}@indices": indices, f"{name}@indptr": indptr})
            tmp = path.with_name("state.tmp.npz")
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
            changed += 1
        return changed

    # -- promotion -------------------------------------------------------------------------------------------------
    def newest_version(self, name: str) -> str | None:
        """The most recently saved version (served unless an operator pinned another)."""
        versions = self.versions(name)
        return versions[-1] if versions else None

    def promotions(self, name: str) -> dict[str, Any]:
        """``{"pinned": bool, "history": [{"version", "at", "by", "how"}, ...]}`` (oldest first)."""
        try:
            loaded: dict[str, Any] = json.loads((self._dir(name) / "promotions.json").read_text())
            return loaded
        except (FileNotFoundError, ValueError):
            return {"pinned": False, "history": []}

    def _point(self, name: str, version: str, how: str, by: str, pinned: bool) -> None:
        folder = self._dir(name)
        log = self.promotions(name)
        log["pinned"] = pinned
        log["history"] = [*log["history"], {"version": version, "at": time.time(), "by": by, "how": how}][-200:]
        tmp = folder / f".promotions-{os.getpid()}"
        tmp.write_text(json.dumps(log, indent=1))
        os.replace(tmp, folder / "promotions.json")
        pointer_tmp = folder / f".latest-{os.getpid()}"
        pointer_tmp.write_text(version)
        os.replace(pointer_tmp, folder / "latest")

    def promote(self, name: str, version: str, by: str = "system") -> str | None:
        """Serve ``version`` on every node and pin it (retraining no longer moves ``latest``); returns the version
        served before."""
        if version not in self.versions(name):  # "../other/v1" names a folder, but no version of this model
            raise RegistryError("version", f"model {name!r} has no version {version[:100]!r}")
        self.path(name, version)  # raises RegistryError naming the version when its files are not there
        before = self.latest_version(name)
        self._point(name, version, "promote", by, pinned=True)
        return before

    def rollback(self, name: str, by: str = "system") -> tuple[str | None, str]:
        """Serve the version served before the current one (pinned); returns (before, after)."""
        current = self.latest_version(name)
        earlier = [h["version"] for h in self.promotions(name)["history"] if h["version"] != current]
        candidates = [v for v in reversed(earlier) if (self._dir(name) / v / "config.json").exists()]
        if not candidates:
            versions = [v for v in self.versions(name) if v != current]
            older = [v for v in versions if current is None or int(v[1:]) < int(current[1:])]
            candidates = list(reversed(older))
        if not candidates:
            raise RegistryError("version", f"model {name!r} has no earlier version to roll back to")
        self._point(name, candidates[0], "rollback", by, pinned=True)
        return current, candidates[0]

    def resume(self, name: str, by: str = "system") -> str:
        """Unpin: serve the newest version, and each new one as it is saved."""
        newest = self.newest_version(name)
        if newest is None:
            raise RegistryError("name", f"no saved version of model {name!r}")
        self._point(name, newest, "resume", by, pinned=False)
        return newest

    def latest_version(self, name: str) -> str | None:
        pointer = self._dir(name) / "latest"
        try:
            return pointer.read_text().strip() or None
        except FileNotFoundError:
            return None

    def has_newer(self, name: str, version: str | None) -> bool:
        """True when ``latest`` names a different version than ``version`` (cheap: one file read)."""
        latest = self.latest_version(name)
        return latest is not None and latest != version

    def save(
        self, name: str, model: Recommender, metrics: dict[str, Any] | None = None, meta: dict[str, Any] | None = None
    ) -> str:
        """Write a new version and serve it (point ``latest`` at it) unless a promotion is pinned; returns the
        version (``v1``, ``v2``, ...)."""
        folder = self._dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        try:
            model.save(tmp)
            (tmp / "metrics.json").write_text(json.dumps(metrics or {}, indent=2, default=float))
            (tmp / "meta.json").write_text(
                json.dumps({"kind": model.kind, "created_at": time.time(), **(meta or {})}, indent=2, default=str)
            )
            while True:
                existing = self.versions(name)
                number = int(existing[-1][1:]) + 1 if existing else 1
                version = f"v{number}"
                try:
                    tmp.rename(folder / version)
                    break
                except OSError:  # another writer took that number: try the next one
                    continue
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if not self.promotions(name)["pinned"]:  # auto-promotion, unless an operator pinned a version
            self._point(name, version, "saved", "system", pinned=False)
        return version

    def path(self, name: str, version: str = "latest") -> Path:
        resolved = self.latest_version(name) if version == "latest" else version
        if resolved is None or not (self._dir(name) / resolved / "config.json").exists():
            raise RegistryError("version", f"no model {name!r} version {version!r} in {self.root}")
        return self._dir(name) / resolved

    def load(self, name: str, version: str = "latest") -> Recommender:
        return load_model(self.path(name, version))

    def metrics(self, name: str, version: str = "latest") -> dict[str, Any]:
        metrics: dict[str, Any] = json.loads((self.path(name, version) / "metrics.json").read_text())
        return metrics

    def meta(self, name: str, version: str = "latest") -> dict[str, Any]:
        """What ``save`` recorded about a version: kind, ``created_at`` and the caller's extra fields."""
        meta: dict[str, Any] = json.loads((self.path(name, version) / "meta.json").read_text())
        return meta
