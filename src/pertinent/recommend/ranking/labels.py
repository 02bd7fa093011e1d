"""Labels for learning to rank, held out of the training data itself: each user's last distinct items (in order of
first interaction; the event order without timestamps) are the labels, the earlier part is what the candidate
generators are trained on and read as the user's history. Nothing of a later test set is ever seen.

>>> import pandas as pd
>>> from pertinent.recommend import Interactions
>>> df = pd.DataFrame({"user": ["u"] * 5, "item": list("abcde"), "t": [1, 2, 3, 4, 5]})
>>> part, labels = holdout_last(Interactions.from_frame(df, timestamp_col="t"), 0.2, 3)
>>> part.history_items("u"), labels.indices.tolist()
(['a', 'b', 'c', 'd'], [4])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from pertinent.recommend.interactions import Interactions


def holdout_last(
    data: Interactions, fraction: float, min_items: int, random_share: float = 0.0, seed: int = 0
) -> tuple[Interactions, sp.csr_matrix]:
    """(the data without each user's last ``fraction`` of distinct items, those items as a users x items CSR).

    Only users with at least ``min_items`` distinct items give labels (at least one each). With ``random_share``
    > 0 that share of each user's labels is drawn at random from the earlier items instead (labels that teach
    "what this user likes" besides "what comes next")."""
    import pandas as pd

    ev = data.events
    key = ev["timestamp"].to_numpy(np.float64) if "timestamp" in ev.columns else np.arange(len(ev), dtype=np.float64)
    pairs = (
        pd.DataFrame({"user": ev["user"].to_numpy(), "item": ev["item"].to_numpy(), "t": key})
        .groupby(["user", "item"], sort=False)["t"]
        .min()
        .reset_index()
        .sort_values(["user", "t", "item"], kind="stable")
    )
    user = pairs["user"].to_numpy()
    n = pairs.groupby("user")["item"].transform("size").to_numpy()
    position = pairs.groupby("user").cumcount().to_numpy()
    n_test = np.maximum(1, np.round(n * fraction)).astype(np.int64)
    test = (n >= min_items) & (position >= n - n_test)
    if random_share > 0:
        n_random = np.floor(n_test * random_share + np.random.default_rng(seed).random(len(n))).astype(np.int64)
        n_last = n_test - np.minimum(n_random, n_test)
        draw = np.random.default_rng(seed + 1).random(len(n))
        earlier = position < n - n_test
        # among the earlier items, the n_random with the smallest draws (ranked within the user)
        order = pd.DataFrame({"u": user, "d": np.where(earlier, draw, 2.0)}).groupby("u")["d"].rank(method="first")
        test = (n >= min_items) & ((position >= n - n_last) | (earlier & (order.to_numpy() <= n_random)))
    labels = sp.csr_matrix(
        (np.ones(int(test.sum()), np.float32), (user[test], pairs["item"].to_numpy()[test])), shape=data.shape
    )
    held = set(zip(user[test].tolist(), pairs["item"].to_numpy()[test].tolist(), strict=True))
    if held:
        codes = ev["user"].to_numpy(np.int64) * np.int64(data.n_items) + ev["item"].to_numpy(np.int64)
        held_codes = np.fromiter((u * data.n_items + i for u, i in held), dtype=np.int64, count=len(held))
        keep = ~np.isin(codes, held_codes)
    else:
        keep = np.ones(len(ev), dtype=bool)
    return data.with_events(ev.loc[keep]), labels
