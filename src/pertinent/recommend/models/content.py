"""Content-based recommendations over title, text, categories and tags: TF-IDF (scikit-learn) or sentence
embeddings from a model shipped in a PyPI package (``encoder="embedding"``, see ``recommend/embeddings.py``).

Works for items nobody has interacted with yet, which is what the hybrid uses for new items. Item vectors
are computed at ``fit`` and saved with the model, so serving never needs the encoder.

>>> import pandas as pd
>>> from pertinent.recommend import Catalogue, Interactions
>>> cat = Catalogue.from_frame(pd.DataFrame({"id": ["a", "b", "c"],
...     "title": ["red wool scarf", "red wool hat", "garden hose"]}))
>>> data = Interactions.from_frame(pd.DataFrame({"user": ["u1"], "item": ["a"]}), item_ids=cat.ids)
>>> ContentRecommender().fit(data, cat).similar_items("a", k=1)[0].item
'b'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from pertinent.recommend.base import Recommender
from pertinent.recommend.filters import strongest_source
from pertinent.recommend.primitives import Context

if TYPE_CHECKING:
    from pertinent.recommend.catalogue import Catalogue
    from pertinent.recommend.interactions import Interactions


class ContentConfig(BaseModel):
    """``encoder``: ``tfidf`` (sklearn's TfidfVectorizer with the settings below) or ``embedding``
    (packaged sentence embeddings of ``embedding_dim`` dimensions; needs ``pertinent[embeddings]``).

    >>> ContentConfig.model_validate_json(ContentConfig(encoder="embedding").model_dump_json()).encoder
    'embedding'
    """

    model_config = ConfigDict(extra="forbid")

    encoder: Literal["tfidf", "embedding"] = "tfidf"
    embedding_dim: Literal[64, 128, 256] = 256
    max_features: int = Field(default=50_000, ge=1)
    min_df: int = Field(default=1, ge=1)
    ngram_max: int = Field(default=1, ge=1, le=3)
    sublinear_tf: bool = True
    stop_words: str | None = "english"


def _dense(m: Any) -> np.ndarray:
    return np.asarray(m.toarray() if sp.issparse(m) else m)


class ContentRecommender(Recommender):
    kind = "content"
    config_class = ContentConfig
    config: ContentConfig

    def _fit(self, data: Interactions, catalogue: Catalogue | None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if catalogue is None:
            raise ValueError("catalogue: the content model needs a Catalogue (titles, text, tags)")
        docs = catalogue.documents(data.item_ids)
        c = self.config
        if c.encoder == "embedding":
            from pertinent.recommend.embeddings import embed

            self.features = embed(docs, c.embedding_dim)  # dense, unit rows
            return
        vec = TfidfVectorizer(
            max_features=c.max_features,
            min_df=c.min_df,
            ngram_range=(1, c.ngram_max),
            sublinear_tf=c.sublinear_tf,
            stop_words=c.stop_words,
            dtype=np.float32,
        )
        try:
            self.features = sp.csr_matrix(vec.fit_transform(docs), dtype=np.float32)
        except ValueError:  # empty vocabulary: no text at all
            self.features = sp.csr_matrix((len(docs), 1), dtype=np.float32)

    def profile(self, history: sp.csr_matrix) -> sp.csr_matrix | np.ndarray:
        """Users' content profiles: weighted sums of their items' rows (sparse TF-IDF or dense embeddings)."""
        return sp.csr_matrix(history, dtype=np.float32) @ self.features

    def score(self, history: sp.csr_matrix, context: Context | None = None) -> np.ndarray:
        self._check()
        prof = self.profile(history)
        if isinstance(prof, np.ndarray):  # dense embeddings
            norms = np.linalg.norm(prof, axis=1, keepdims=True)
            return np.asarray(_dense((prof / np.where(norms > 0, norms, 1.0)) @ self.features.T), dtype=np.float32)
        if prof.shape[0] <= 16:
            # a few rows (serving): a dense profile times the sparse item matrix is one fast mat-vec,
            # where sparse x sparse would build an intermediate sparse result
            dense = prof.toarray()
            norms = np.linalg.norm(dense, axis=1, keepdims=True)
            dense /= np.where(norms > 0, norms, 1.0)
            return np.asarray((self.features @ dense.T).T, dtype=np.float32)
        norms = np.sqrt(np.asarray(prof.multiply(prof).sum(axis=1)).ravel())
        prof = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ prof
        return np.asarray(_dense(prof @ self.features.T), dtype=np.float32)

    def item_similarity(self, item: int) -> np.ndarray | None:
        return _dense(self.features @ self.features[item].T).ravel()

    def pair_similarity(self, items: np.ndarray) -> np.ndarray | None:
        f = self.features[items]
        return _dense(f @ f.T)

    def because(self, history: sp.csr_matrix, items: np.ndarray, context: Context | None = None) -> list[str]:
        src = strongest_source(history, items, lambda s, i: _dense(self.features[s] @ self.features[i].T))
        return self._similar_to(src)

    def _get_state(self) -> dict[str, Any]:
        return {"features": self.features}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.features = state["features"]
