"""Sentence embeddings for content-based recommendations, from a model shipped inside a PyPI package.

The encoder is WordLlama (MIT; ``pip install 'pertinent[embeddings]'``): token embeddings distilled from
LLM embedding tables into a 256-dimensional static model (16 MB), pooled and normalised per text. Its
weights and tokenizer are files inside the ``wordllama`` wheel; they are loaded from the installed
package with downloads disabled, so nothing is fetched at run time (a missing file is an error, never a
download). It needs numpy and ``tokenizers`` only (no torch) and embeds thousands of product texts per
second on one core. Dimensions 64 and 128 are truncations of the same (Matryoshka-trained) vectors.

>>> import pytest; _ = pytest.importorskip("wordllama")
>>> vectors = embed(["red wool scarf", "warm knitted shawl", "garden hose"])
>>> vectors.shape, bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2])
((3, 256), True)
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

DIMENSIONS = (64, 128, 256)
MISSING = "encoder: 'embedding' needs the optional extra: pip install 'pertinent[embeddings]' (wordllama)"


@functools.lru_cache(maxsize=4)
def load_encoder(dim: int = 256) -> Any:
    """The packaged WordLlama model (cached per process), truncated to ``dim``; never downloads."""
    if dim not in DIMENSIONS:
        raise ValueError(f"embedding_dim: must be one of {DIMENSIONS}")
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:  # the optional extra is not installed
        raise ValueError(MISSING) from None
    from pathlib import Path

    # The wheel keeps weights/ and tokenizers/ beside the module: the layout load() expects of a cache folder.
    packaged = Path(wordllama.__file__).parent
    return WordLlama.load(
        config="l2_supercat", dim=256, trunc_dim=dim if dim < 256 else None, cache_dir=packaged, disable_download=True
    )


def embed(texts: Sequence[str], dim: int = 256, batch_size: int = 512) -> np.ndarray:
    """Unit-length float32 vectors (len(texts) x dim); empty texts get a zero vector."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    keep = [i for i, t in enumerate(texts) if t.strip()]
    if keep:
        vectors = load_encoder(dim).embed([texts[i] for i in keep], norm=True, batch_size=batch_size)
        out[keep] = np.nan_to_num(np.asarray(vectors, dtype=np.float32))
    return out
