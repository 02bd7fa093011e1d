"""The one ``Recommender`` interface every model implements, plus shared ranking, persistence and the registry
of model kinds.

A recommender scores *history rows* (users x items, the same item index as its training data), so
recommending works by fold-in: a user's newest events, or a brand-new user's first clicks, change
the next list without retraining.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions, PopularityRecommender
>>> data = Interactions.from_frame(pd.DataFrame({"user": ["u1", "u2", "u2"], "item": ["a", "a", "b"]}))
>>> model = PopularityRecommender().fit(data)
>>> [r.item for r in model.recommend(history=data.vector(["b"]), k=1)]
['a']
"""

from __future__ import annotations

import json
import logging
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ValidationError

from pertinent.recommend.filters import Filters, rank, top_k_matrix
from pertinent.recommend.primitives import Context, NotFittedError, Recommendation

if TYPE_CHECKING:
    import pandas as pd

    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions

log = logging.getLogger("pertinent.recommend")

_KINDS: dict[str, type[Recommender]] = {}


class ModelFileError(ValueError):
    """A saved model that this version cannot read (another version's format, a missing or damaged file)."""


def registered_kinds() -> Mapping[str, type[Recommender]]:
    """Every model kind defined so far, by name (a read-only view that follows new registrations).

    A subclass that sets its own ``kind`` registers itself when its class is defined; importing
    ``pertinent.recommend.models`` defines the built-in kinds.
    """
    return MappingProxyType(_KINDS)


class Recommender(ABC):
    """Base of all models: ``fit`` / ``score`` / ``recommend`` / ``similar_items`` / ``save`` / ``load``.

    Subclasses implement ``_fit``, ``score`` and the state accessors; ranking, filtering, reasons and
    persistence are shared here. Models that combine others (hybrid, EASE fallback) hold them as
    members rather than subclassing them. A subclass with a ``kind`` of its own is registered under that
    name (:func:`registered_kinds`), which is how :meth:`load` finds the class of a saved model.
    """

    kind: ClassVar[str] = "base"
    config_class: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" not in cls.__dict__:  # e.g. a test's subclass of a model: not a kind of its own
            return
        known = _KINDS.get(cls.kind)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"kind: {cls.kind!r} is already the kind of {known.__module__}.{known.__qualname__}")
        _KINDS[cls.kind] = cls  # the same class defined again (a reloaded module) replaces itself

    def __init__(self, config: BaseModel | None = None, **kwargs: Any) -> None:
        if config is None:
            config = self.config_class(**kwargs)
        elif kwargs:
            config = config.model_copy(update=kwargs)
        self.config = self.config_class.model_validate(config.model_dump())
        self.item_ids: np.ndarray | None = None
        self.item_index: dict[str, int] = {}
        self.user_index: dict[str, int] = {}
        self._train_rows: sp.csr_matrix | None = None
        self._train_times: sp.csr_matrix | None = None  # each training pair's newest timestamp (None: no times)
        self._titles: dict[str, str] = {}
        self.catalogue: Catalogue | None = None

    # ---------------------------------------------------------------- to implement
    @abstractmethod
    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None: ...

    @abstractmethod
    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        """Scores (n_rows x n_items, float32) for each history row; higher is better."""

    @abstractmethod
    def _get_state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None: ...

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        """A short reason for each recommended item index (default: generic)."""
        return ["recommended for you"] * len(items)

    def forget_recent(self) -> None:
        """Drop what the model keeps of the requests it answered (``last_request.LastRequest``: a thread's last
        one-row scores, kept for its ``because``), in every thread; called when a user is erased. Default:
        nothing is kept."""
        return

    def _similar_to(self, sources: list[int], default: str = "recommended for you") -> list[str]:
        out = []
        for j in sources:
            if j < 0:
                out.append(default)
            else:
                item = str(self.fitted_item_ids[j])
                out.append(f"similar to {self._titles.get(item, item)}")
        return out

    def item_similarity(self, item: int) -> np.ndarray | None:
        """Similarity of one item to all items, or None when the model has no item-item notion."""
        onehot = sp.csr_matrix(([1.0], ([0], [item])), shape=(1, self.n_items), dtype=np.float32)
        return np.asarray(self.score(onehot)[0])

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        """Similarity among ``items`` (len x len; row i = item i's similarity to each), or None without an
        item-item notion. Models with an item x item matrix override this to read only the sub-block."""
        rows = []
        for j in np.asarray(items).tolist():
            v = self.item_similarity(int(j))
            if v is None:
                return None
            rows.append(np.asarray(v, dtype=np.float32)[items])
        return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def wants_times(self) -> bool:
        """Whether ``score`` reads the history's interaction times (``Context.times``); ``recommend`` and
        ``recommend_batch`` then pass them (the training data's, and "now" for a request's new items)."""
        return False

    def times_for(self, user: str | None = None, items: list[str] | None = None, now: float | None = None) -> Any:
        """The 1 x n_items CSR of a user's newest interaction times (training data), with ``items`` at ``now``
        (default: just after the newest training time), or None when the model was trained without times."""
        self._check()
        t = self._train_times
        if t is None:
            return None
        row = sp.csr_matrix((1, self.n_items), dtype=np.float64)
        idx = self.user_index.get(str(user)) if user is not None else None
        if idx is not None and idx < t.shape[0]:
            row = sp.csr_matrix(t[idx], dtype=np.float64)
        if items:
            at = float(now) if now is not None else self.reference_time + 1.0
            cols = sorted({self.item_index[str(i)] for i in items if str(i) in self.item_index})
            extra = sp.csr_matrix((np.full(len(cols), at), (np.zeros(len(cols), int), cols)), shape=row.shape)
            row = row.maximum(extra).tocsr()
        return row

    @property
    def reference_time(self) -> float:
        """The newest training timestamp (epoch seconds; 0 without times): "now" for the training data."""
        t = self._train_times
        return float(t.data.max()) if t is not None and t.nnz else 0.0

    def _time_context(self, context: Context | None, times: Any) -> Context | None:
        if times is None:
            return context
        if context is None:
            return Context(times=times)
        return Context(group=context.group, times=times, now=context.now)

    # ---------------------------------------------------------------- shared API
    def fit(self, data: Interactions, catalogue: Catalogue | None = None) -> Self:
        """Learn from ``data`` (and the catalogue for content models). Returns self."""
        if data.n_items == 0:
            raise ValueError("data: no items to learn from")
        self.item_ids = np.asarray(data.item_ids, dtype=object)
        self.item_index = dict(data.item_index)
        self.user_index = dict(data.user_index)
        self._train_rows = data.matrix
        from pertinent.recommend.recency import last_times

        self._train_times = last_times(data.events, data.shape)
        if catalogue is not None:
            self._titles = catalogue.titles()
        self.catalogue = catalogue
        self._fit(data, catalogue)
        return self

    @property
    def n_items(self) -> int:
        return len(self.fitted_item_ids)

    @property
    def fitted_item_ids(self) -> np.ndarray:
        """``item_ids`` of a fitted model (NotFittedError before ``fit`` or ``load``)."""
        ids = self.item_ids
        if ids is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")
        return ids

    def _check(self) -> None:
        if self.item_ids is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")

    def history_for(self, user: str | None = None, items: list[str] | None = None) -> sp.csr_matrix:
        """The history row for a known user (training data) plus any extra ``items`` (new events)."""
        self._check()
        row = sp.csr_matrix((1, self.n_items), dtype=np.float32)
        if user is not None and self._train_rows is not None:
            idx = self.user_index.get(str(user))
            if idx is not None:
                t = self._train_rows
                start, end = t.indptr[idx], t.indptr[idx + 1]
                row = sp.csr_matrix(
                    (t.data[start:end].astype(np.float32), t.indices[start:end].copy(), np.asarray([0, end - start])),
                    shape=(1, self.n_items),
                )
        if items:
            cols = [self.item_index[str(i)] for i in items if str(i) in self.item_index]
            extra = sp.csr_matrix(
                (np.ones(len(cols), np.float32), (np.zeros(len(cols), int), cols)), shape=(1, self.n_items)
            )
            row = row.maximum(extra).tocsr()
        return row

    def recommend(
        self,
        user: str | None = None,
        *,
        history: sp.csr_matrix | None = None,
        items: list[str] | None = None,
        k: int = 10,
        filters: Filters | None = None,
        context: Context | None = None,
    ) -> list[Recommendation]:
        """Top-``k`` items for a user id, an explicit ``history`` row, and/or recent ``items`` (fold-in).

        Items in the history are excluded unless ``filters.exclude_seen`` is False.
        """
        if k < 1:
            raise ValueError("k: must be >= 1")
        row = history if history is not None else self.history_for(user, items)
        if history is not None and items:
            row = row.maximum(self.history_for(None, items)).tocsr()
        if self.wants_times() and (context is None or context.times is None) and row.shape[0] == 1:
            now = context.now if context is not None else None
            context = self._time_context(context, self.times_for(user if history is None else None, items, now))
        scores = self.score(row, context)[0]
        return rank(self, scores, row, k=k, filters=filters or Filters(), context=context)

    def recommend_batch(
        self, users: list[str], k: int = 10, filters: Filters | None = None, batch_size: int = 512
    ) -> pd.DataFrame:
        """``user,item,rank,score`` rows for many users; unknown users get the cold-start ranking."""
        import pandas as pd

        self._check()
        filters = filters or Filters()
        out: list[pd.DataFrame] = []
        for start in range(0, len(users), batch_size):
            chunk = [str(u) for u in users[start : start + batch_size]]
            rows = sp.vstack([self.history_for(u) for u in chunk]).tocsr()
            context = None
            if self.wants_times() and self._train_times is not None:
                context = Context(times=sp.vstack([self.times_for(u) for u in chunk]).tocsr())
            scores = self.score(rows, context)
            idx, vals = top_k_matrix(self, scores, rows, k, filters)
            n = idx.shape[1]
            valid = np.isfinite(vals)
            frame = pd.DataFrame(
                {
                    "user": np.repeat(np.asarray(chunk, dtype=object), n),
                    "item": self.fitted_item_ids[idx.ravel()],
                    "rank": np.tile(np.arange(1, n + 1), len(chunk)),
                    "score": vals.ravel(),
                }
            )
            out.append(frame[valid.ravel()])
        if not out:
            return pd.DataFrame(columns=["user", "item", "rank", "score"])
        return pd.concat(out, ignore_index=True)

    def similar_items(self, item: str, k: int = 10, filters: Filters | None = None) -> list[Recommendation]:
        """Items most similar to ``item`` ("viewed this, also viewed"); empty if the item is unknown."""
        self._check()
        j = self.item_index.get(str(item))
        if j is None:
            return []
        sims = self.item_similarity(j)
        if sims is None:
            return []
        sims = np.asarray(sims, dtype=np.float32).copy()
        row = sp.csr_matrix(([1.0], ([0], [j])), shape=(1, self.n_items), dtype=np.float32)
        title = self._titles.get(str(item), str(item))
        recs = rank(self, sims, row, k=k, filters=filters or Filters(), with_reasons=False)
        return [
            Recommendation(r.item, r.score, r.rank, r.reason if r.rule == "pin" else f"similar to {title}", r.rule)
            for r in recs
        ]

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``state.npz`` under the folder ``path``."""
        self._check()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(
            json.dumps({"kind": self.kind, "config": self.config.model_dump(mode="json")}, indent=2)
        )
        state = self._get_state()
        state["__item_ids"] = np.asarray(self.item_ids, dtype=str)
        state["__user_ids"] = np.asarray(sorted(self.user_index, key=self.user_index.__getitem__), dtype=str)
        if self._train_rows is not None:
            state["__train"] = self._train_rows
        if self._train_times is not None:
            state["__times"] = self._train_times
        arrays: dict[str, np.ndarray] = {}
        _flatten(state, "", arrays)
        # numpy >= 2.1 checks **kwds against its own allow_pickle flag: no state key is named so
        np.savez(folder / "state.npz", **arrays)  # type: ignore[arg-type]
        (folder / "titles.json").write_text(json.dumps(self._titles))
        if self.catalogue is not None:
            self.catalogue.frame.to_parquet(folder / "catalogue.parquet")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load any model saved with ``save``: its kind is read from ``config.json`` and must be registered
        (``pertinent.recommend.models.load_model`` registers every built-in kind first)."""
        folder = Path(path)
        try:
            meta = json.loads((folder / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"config: no readable model in {folder} ({type(exc).__name__})") from exc
        if not (folder / "state.npz").exists():
            raise ModelFileError(f"state: the model in {folder} has no state.npz; retrain it")
        model_cls = _KINDS.get(meta.get("kind"))
        if model_cls is None:
            raise ModelFileError(f"kind: unknown model kind {meta.get('kind')!r} in {folder / 'config.json'}")
        try:
            model = model_cls(model_cls.config_class.model_validate(meta["config"]))
        except ValidationError as exc:
            raise ModelFileError(
                f"config: the saved {meta.get('kind')!r} model in {folder} does not match this version of "
                f"Pertinent ({exc.error_count()} field error(s), first: {exc.errors()[0]['loc']}); retrain it"
            ) from exc
        try:
            with np.load(folder / "state.npz", allow_pickle=False) as z:
                state = _unflatten({k: z[k] for k in z.files})
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ModelFileError(
                f"state: {folder / 'state.npz'} is damaged ({type(exc).__name__}); retrain it"
            ) from exc
        try:
            model._restore(folder, state)
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(
                f"state: the saved {meta.get('kind')!r} model in {folder} was written by another version of "
                f"Pertinent and cannot be read ({type(exc).__name__}: {exc}); retrain it"
            ) from exc
        return model

    def _restore(self, folder: Path, state: dict[str, Any]) -> None:
        model = self
        model.item_ids = state.pop("__item_ids").astype(object)
        model.item_index = {t: i for i, t in enumerate(model.item_ids)}
        users = state.pop("__user_ids").astype(object)
        model.user_index = {u: i for i, u in enumerate(users) if u}  # "" = a user erased from this version
        model._train_rows = state.pop("__train", None)
        model._train_times = state.pop("__times", None)
        titles = folder / "titles.json"
        model._titles = json.loads(titles.read_text()) if titles.exists() else {}
        if (folder / "catalogue.parquet").exists():
            import pandas as pd

            from pertinent.recommend.catalogue import Catalogue

            frame = pd.read_parquet(folder / "catalogue.parquet")
            for col in ("categories", "tags"):
                frame[col] = [list(v) for v in frame[col]]
            model.catalogue = Catalogue(frame)
        model._set_state(state)


def _flatten(state: dict[str, Any], prefix: str, out: dict[str, np.ndarray]) -> None:
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{name}/", out)
        elif sp.issparse(value):
            m = sp.csr_matrix(value)
            out[f"{name}@data"] = m.data
            out[f"{name}@indices"] = m.indices
            out[f"{name}@indptr"] = m.indptr
            out[f"{name}@shape"] = np.asarray(m.shape)
        elif value is None:
            continue
        else:
            out[name] = np.asarray(value)


def _unflatten(flat: dict[str, np.ndarray]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    sparse_parts: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        if "@" in key:
            name, part = key.rsplit("@", 1)
            sparse_parts.setdefault(name, {})[part] = value
            continue
        _put(root, key, value)
    for name, parts in sparse_parts.items():
        m = sp.csr_matrix((parts["data"], parts["indices"], parts["indptr"]), shape=tuple(parts["shape"]))
        _put(root, name, m)
    return root


def _put(root: dict[str, Any], key: str, value: Any) -> None:
    *path, leaf = key.split("/")
    node = root
    for p in path:
        node = node.setdefault(p, {})
    node[leaf] = value
