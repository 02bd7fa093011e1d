"""Per-feature contributions of a LightGBM prediction read from the decision paths of the leaves it reached.

Each tree's prediction is its root value plus, along the path to the leaf, the change of value at every split,
credited to that split's feature (Saabas). The credit of every leaf is computed once from the model
(``booster.dump_model()``); a request asks LightGBM only which leaves its rows reach (``pred_leaf``) and sums
those rows of the table. Like TreeSHAP (``pred_contrib``) the contributions and the bias add up to the raw score;
unlike it, the cost per item is the depth of the trees, not their depth squared times their leaves.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class PathContributions:
    """The leaf credit table of one booster: ``table[offset[t] + leaf]`` = (features + bias) of tree t's leaf."""

    def __init__(self, booster: Any) -> None:
        dump = booster.dump_model()
        self.n_features = len(dump["feature_names"])
        tables, offsets, start = [], [], 0
        for tree in dump["tree_info"]:
            table = np.zeros((int(tree["num_leaves"]), self.n_features + 1))
            _walk(tree["tree_structure"], np.zeros(self.n_features + 1), None, table)
            tables.append(table)
            offsets.append(start)
            start += len(table)
        self.table = np.vstack(tables) if tables else np.zeros((0, self.n_features + 1))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.booster = booster

    def __call__(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """Contributions (rows x features + bias, the bias last) of the rows of ``x``."""
        leaves = np.asarray(self.booster.predict(x, pred_leaf=True, num_threads=threads), dtype=np.int64)
        leaves = leaves.reshape(len(x), -1)
        if leaves.shape[1] != len(self.offsets):
            raise ValueError(f"the booster predicts with {leaves.shape[1]} trees, the table has {len(self.offsets)}")
        out: np.ndarray = self.table[self.offsets[None, :] + leaves].sum(axis=1)
        return out


def _value(node: dict[str, Any]) -> float:
    return float(node["internal_value"] if "split_feature" in node else node["leaf_value"])


def _walk(node: dict[str, Any], path: np.ndarray, parent: float | None, table: np.ndarray) -> None:
    value = _value(node)
    if parent is None:
        path[-1] = value  # the root's value is the tree's bias
    if "split_feature" not in node:  # a leaf (a tree of one leaf has no index: it is leaf 0)
        table[int(node.get("leaf_index", 0))] = path
        return
    feature = int(node["split_feature"])
    for side in ("left_child", "right_child"):
        child = node[side]
        step = path.copy()
        step[feature] += _value(child) - value
        _walk(child, step, value, table)
