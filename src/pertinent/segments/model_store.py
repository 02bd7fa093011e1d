"""Versioned ML segment models under the data directory: ``<root>/<definition id>/v<N>/`` (``model.json`` +
``arrays.npz``, see :meth:`pertinent.segments.ml.SegmentModel.save`).

A version is written to a temporary folder and renamed, so a reader never sees half a model. Saved models hold the
training profiles' ids and segments (for stable ids and stability across retrains), which is personal data:
:meth:`ModelStore.user_rows` lists a profile's rows for export and :meth:`ModelStore.forget` removes them.

>>> import tempfile, numpy as np, pandas as pd
>>> from pertinent.segments.ml import discover
>>> from pertinent.segments.pipeline import ClusteringConfig, SegmentationConfig
>>> df = pd.DataFrame({"x": np.r_[np.zeros(20), np.ones(20) * 5] + np.arange(40) * 0.01},
...                   index=[f"p{i}" for i in range(40)])
>>> model = discover(df, SegmentationConfig(clustering=ClusteringConfig(k=2))).model
>>> store = ModelStore(tempfile.mkdtemp())
>>> store.save("clusters", model)
1
>>> store.load("clusters", 1).assign({"x": 5.0}) == model.assign({"x": 5.0})
True
>>> [r["version"] for r in store.user_rows("p3")], store.forget("p3"), store.user_rows("p3")
([1], 1, [])
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from pertinent.segments.ml import SegmentModel

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelStore:
    """Save, load (cached) and prune the model versions of ML segment definitions (example: module docstring).

    >>> import tempfile
    >>> ModelStore(tempfile.mkdtemp()).versions("clusters")
    []
    """

    def __init__(self, root: str | Path, keep: int = 3) -> None:
        self.root = Path(root)
        self.keep = keep
        self._cache: dict[tuple[str, int], SegmentModel] = {}
        # reentrant: forget() holds it while it loads versions, and load() takes it to fill the cache (with a
        # plain Lock a version not cached yet, as after a restart, deadlocked the erasure that asked)
        self._lock = threading.RLock()

    def _dir(self, definition_id: str) -> Path:
        if not _ID.match(definition_id):
            raise ValueError(f"bad segment definition id {definition_id!r}")
        return self.root / definition_id

    def versions(self, definition_id: str) -> list[int]:
        folder = self._dir(definition_id)
        if not folder.exists():
            return []
        return sorted(int(p.name[1:]) for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name))

    def save(self, definition_id: str, model: SegmentModel) -> int:
        """Write a new version; return its number. Older versions beyond ``keep`` are removed."""
        folder = self._dir(definition_id)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            version = max(self.versions(definition_id), default=0) + 1
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
            model.save(tmp)
            tmp.rename(folder / f"v{version}")
            self._cache[(definition_id, version)] = model
            for old in self.versions(definition_id)[: -self.keep]:
                shutil.rmtree(folder / f"v{old}", ignore_errors=True)
                self._cache.pop((definition_id, old), None)
        return version

    def load(self, definition_id: str, version: int) -> SegmentModel:
        key = (definition_id, version)
        model = self._cache.get(key)
        if model is None:
            model = SegmentModel.load(self._dir(definition_id) / f"v{version}")
            with self._lock:
                self._cache[key] = model
        return model

    def latest(self, definition_id: str) -> SegmentModel | None:
        versions = self.versions(definition_id)
        return self.load(definition_id, versions[-1]) if versions else None

    def remove(self, definition_id: str) -> None:
        """Forget every version of a deleted definition."""
        with self._lock:
            shutil.rmtree(self._dir(definition_id), ignore_errors=True)
            self._cache = {k: v for k, v in self._cache.items() if k[0] != definition_id}

    # -- personal data ------------------------------------------------------------------------------------------
    def _all(self) -> list[tuple[str, int]]:
        if not self.root.exists():
            return []
        return [
            (p.name, v)
            for p in sorted(self.root.iterdir())
            if p.is_dir() and _ID.match(p.name)
            for v in self.versions(p.name)
        ]

    def user_rows(self, profile_id: str) -> list[dict[str, Any]]:
        """The segment each saved version assigned the profile to when it was trained (for data export)."""
        out = []
        for definition_id, version in self._all():
            model = self.load(definition_id, version)
            hits = np.flatnonzero(model.training_ids.astype(str) == profile_id)
            for i in hits:
                out.append({"definition": definition_id, "version": version, "segment": int(model.training_labels[i])})
        return out

    def forget(self, profile_id: str) -> int:
        """Remove a profile from every saved version's training rows; return how many versions held it."""
        changed = 0
        with self._lock:
            for definition_id, version in self._all():
                model = self.load(definition_id, version)
                keep = model.training_ids.astype(str) != profile_id
                if keep.all():
                    continue
                model.training_ids = model.training_ids[keep]
                model.training_labels = model.training_labels[keep]
                path = self._dir(definition_id) / f"v{version}"
                tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
                model.save(tmp)
                shutil.rmtree(path)
                tmp.rename(path)
                changed += 1
        return changed
