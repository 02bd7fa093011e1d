"""The registry of predictive-trait models: versions, metrics and the score distribution at training.

The recommender's layout (``recommend/registry.py``): ``<root>/<trait>/<version>/`` holds ``model.pkl`` (the
fitted :class:`~pertinent.predict.models.BinaryModel` or :class:`~pertinent.predict.timing.TimingModel`),
``metrics.json`` (the backtest report), ``meta.json`` (model version, when, how many events and profiles it saw)
and ``reference.json`` (101 quantiles of the scores it gave the training population: what prediction drift is
measured against); ``<root>/<trait>/latest`` names the newest. A version is written to a temporary folder and
renamed, ``latest`` replaced atomically. Nothing here is per person: trees, population parameters, quantiles.

>>> import tempfile
>>> reg = PredictionRegistry(tempfile.mkdtemp())
>>> v = reg.save("churn_risk", {"w": 1}, {"auc": 0.7}, {"model_version": "churn-x"}, [0.1, 0.5, 0.9])
>>> reg.latest_version("churn_risk") == v, reg.load("churn_risk"), reg.meta("churn_risk")["model_version"]
(True, {'w': 1}, 'churn-x')
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

TRAITS = ("purchase_propensity", "churn_risk", "days_to_next_purchase")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class PredictionRegistry:
    """Save, list and load the trait models (cached by version)."""

    def __init__(self, root: str | Path, keep: int = 5) -> None:
        self.root = Path(root)
        self.keep = keep
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _dir(self, trait: str) -> Path:
        if not _NAME.match(trait):
            raise ValueError(f"trait: {trait!r} is not a model name")
        return self.root / trait

    def versions(self, trait: str) -> list[str]:
        folder = self._dir(trait)
        if not folder.exists():
            return []
        found = [p.name for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def latest_version(self, trait: str) -> str | None:
        try:
            return (self._dir(trait) / "latest").read_text().strip() or None
        except FileNotFoundError:
            return None

    def save(
        self,
        trait: str,
        model: Any,
        metrics: dict[str, Any],
        meta: dict[str, Any],
        reference_scores: Any,
    ) -> str:
        """Write a new version, point ``latest`` at it and prune beyond ``keep``; returns ``v<n>``."""
        folder = self._dir(trait)
        folder.mkdir(parents=True, exist_ok=True)
        scores = np.asarray(reference_scores, dtype=float)
        scores = scores[np.isfinite(scores)]
        quantiles = np.quantile(scores, np.linspace(0, 1, 101)).tolist() if scores.size else []
        with self._lock:
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
            try:
                (tmp / "model.pkl").write_bytes(pickle.dumps(model))
                (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
                body = {"created_at": time.time(), **meta}
                (tmp / "meta.json").write_text(json.dumps(body, indent=1, default=str))
                (tmp / "reference.json").write_text(json.dumps({"quantiles": quantiles, "n": int(scores.size)}))
                existing = self.versions(trait)
                version = f"v{int(existing[-1][1:]) + 1 if existing else 1}"
                tmp.rename(folder / version)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            pointer = folder / f".latest-{os.getpid()}"
            pointer.write_text(version)
            os.replace(pointer, folder / "latest")
            for old in self.versions(trait)[: -self.keep]:
                shutil.rmtree(folder / old, ignore_errors=True)
        return version

    def _path(self, trait: str, version: str) -> Path:
        resolved = self.latest_version(trait) if version == "latest" else version
        if resolved is None or not (self._dir(trait) / resolved / "meta.json").exists():
            raise LookupError(f"no {trait} model version {version!r} in {self.root}")
        return self._dir(trait) / resolved

    def load(self, trait: str, version: str = "latest") -> Any:
        path = self._path(trait, version)
        key = (trait, path.name)
        if key not in self._cache:
            self._cache[key] = pickle.loads((path / "model.pkl").read_bytes())  # our own data dir only
        return self._cache[key]

    def metrics(self, trait: str, version: str = "latest") -> dict[str, Any]:
        out: dict[str, Any] = json.loads((self._path(trait, version) / "metrics.json").read_text())
        return out

    def meta(self, trait: str, version: str = "latest") -> dict[str, Any]:
        out: dict[str, Any] = json.loads((self._path(trait, version) / "meta.json").read_text())
        return out

    def reference(self, trait: str, version: str = "latest") -> list[float]:
        """The 101 quantiles of the training scores (empty when unknown)."""
        path = self._path(trait, version) / "reference.json"
        return list(json.loads(path.read_text()).get("quantiles", [])) if path.exists() else []
