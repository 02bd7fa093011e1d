"""Off-policy evaluation from logged decisions: IPS, self-normalised IPS and doubly robust.

Logs hold, per decision, the chosen arm index, the reward, the logged propensity and (optionally) the
context. The target policy is given as its probability of each arm for each logged row (n x k).

>>> import numpy as np
>>> logs = LoggedData(actions=[0, 1, 0, 1], rewards=[1, 0, 1, 0], propensities=[0.5] * 4)
>>> target = np.array([[1.0, 0.0]] * 4)          # always play arm 0
>>> ips(logs, target).value
1.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class LoggedData:
    """Validated logged decisions (arrays of equal length; propensities in (0, 1]).

    >>> LoggedData(actions=[0], rewards=[1.0], propensities=[0.25]).n
    1
    """

    # Sequences are accepted and stored as numpy arrays (``__post_init__``); the fields are typed as stored.
    actions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    contexts: np.ndarray | None = None

    def __post_init__(self) -> None:
        a = np.asarray(self.actions)
        r = np.asarray(self.rewards, dtype=float)
        p = np.asarray(self.propensities, dtype=float)
        if a.ndim != 1 or r.shape != a.shape or p.shape != a.shape:
            raise ValueError(
                f"actions, rewards and propensities must be 1-D of equal length, got {a.shape}, {r.shape}, {p.shape}"
            )
        if a.size and (not np.issubdtype(a.dtype, np.integer) or (a < 0).any()):
            raise ValueError("actions must be non-negative integer arm indices")
        if not np.isfinite(r).all():
            raise ValueError("rewards must be finite numbers")
        if ((p <= 0) | (p > 1) | ~np.isfinite(p)).any():
            raise ValueError("propensities must be in (0, 1]; a zero propensity cannot be reweighted")
        object.__setattr__(self, "actions", a.astype(int))
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "propensities", p)
        if self.contexts is not None:
            x = np.asarray(self.contexts, dtype=float)
            if x.ndim != 2 or x.shape[0] != a.size:
                raise ValueError(f"contexts must be a 2-D array with {a.size} rows, got shape {x.shape}")
            object.__setattr__(self, "contexts", x)

    @property
    def n(self) -> int:
        """Number of logged decisions."""
        return int(np.asarray(self.actions).size)


@dataclass(frozen=True)
class OpeResult:
    """Estimated value of the target policy with a confidence interval.

    ``effective_sample_size`` = (sum w)^2 / sum w^2 of the importance weights; small values mean the
    target policy is far from the logging policy and the estimate is unreliable.

    >>> OpeResult("ips", None, None, None, None, 0, None, "no logged decisions").value is None
    True
    """

    estimator: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    n: int
    effective_sample_size: float | None
    message: str = ""


def _target_matrix(logs: LoggedData, target: np.ndarray) -> np.ndarray:
    t = np.asarray(target, dtype=float)
    if t.ndim != 2 or t.shape[0] != logs.n:
        raise ValueError(f"target probabilities must be an (n, k) array with n={logs.n}, got shape {t.shape}")
    if logs.n and int(np.max(logs.actions)) >= t.shape[1]:
        raise ValueError(f"logged action {int(np.max(logs.actions))} is out of range for {t.shape[1]} arms")
    if ((t < -1e-12) | ~np.isfinite(t)).any() or not np.allclose(t.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("each row of target probabilities must be non-negative and sum to 1")
    return t


def _weights(logs: LoggedData, t: np.ndarray) -> np.ndarray:
    weights: np.ndarray = t[np.arange(logs.n), logs.actions] / logs.propensities
    return weights


def _ess(w: np.ndarray) -> float | None:
    s2 = float(np.square(w).sum())
    return float(w.sum() ** 2 / s2) if s2 > 0 else None


def _from_terms(name: str, terms: np.ndarray, w: np.ndarray, alpha: float) -> OpeResult:
    n = terms.size
    value = float(terms.mean())
    if n < 2:
        return OpeResult(name, value, None, None, None, n, _ess(w), "need at least 2 decisions for an interval")
    se = float(terms.std(ddof=1) / np.sqrt(n))
    z = sps.norm.ppf(1 - alpha / 2)
    return OpeResult(name, value, value - z * se, value + z * se, se, n, _ess(w))


def _empty(name: str) -> OpeResult:
    return OpeResult(name, None, None, None, None, 0, None, "no logged decisions")


def ips(logs: LoggedData, target: np.ndarray, alpha: float = 0.05) -> OpeResult:
    """Inverse propensity scoring: mean of w * r, w = pi(a|x) / mu(a|x). Unbiased; CLT interval."""
    if logs.n == 0:
        return _empty("ips")
    w = _weights(logs, _target_matrix(logs, target))
    return _from_terms("ips", w * logs.rewards, w, alpha)


def snips(logs: LoggedData, target: np.ndarray, alpha: float = 0.05) -> OpeResult:
    """Self-normalised IPS: sum(w r) / sum(w). Slightly biased, lower variance; delta-method interval."""
    if logs.n == 0:
        return _empty("snips")
    w = _weights(logs, _target_matrix(logs, target))
    if w.sum() <= 0:
        return OpeResult(
            "snips",
            None,
            None,
            None,
            None,
            logs.n,
            None,
            "the target policy never takes a logged action; nothing to reweight",
        )
    value = float((w * logs.rewards).sum() / w.sum())
    # Influence terms of the ratio estimator.
    terms = value + w * (logs.rewards - value) / w.mean()
    res = _from_terms("snips", terms, w, alpha)
    return OpeResult(
        "snips", value, res.ci_low, res.ci_high, res.std_error, res.n, res.effective_sample_size, res.message
    )


def fit_reward_model(logs: LoggedData, n_arms: int, ridge: float = 1.0) -> np.ndarray:
    """Predicted reward for every (row, arm): per-arm ridge regression on contexts (plus intercept),
    or per-arm mean reward without contexts. Returns an (n, k) array."""
    n = logs.n
    overall = float(np.mean(logs.rewards)) if n else 0.0
    if logs.contexts is None:
        q = np.full(n_arms, overall)
        for a in range(n_arms):
            mask = logs.actions == a
            if mask.any():
                q[a] = logs.rewards[mask].mean()
        return np.broadcast_to(q, (n, n_arms)).copy()
    return _predict(logs, np.asarray(logs.contexts), n_arms, ridge)


def doubly_robust(
    logs: LoggedData,
    target: np.ndarray,
    alpha: float = 0.05,
    reward_predictions: np.ndarray | None = None,
    folds: int = 2,
    seed: int = 0,
) -> OpeResult:
    """Doubly robust: direct-method estimate from a reward model plus an IPS correction of its residuals.

    Unbiased when either the propensities or the reward model are right. Without ``reward_predictions``
    (an (n, k) array) a ridge model is fitted with ``folds``-fold cross-fitting, so no row is scored by
    a model trained on it.
    """
    if logs.n == 0:
        return _empty("doubly_robust")
    t = _target_matrix(logs, target)
    k = t.shape[1]
    if reward_predictions is None:
        q = np.empty((logs.n, k))
        fold_of = np.random.default_rng(seed).integers(0, max(folds, 1), logs.n) if folds > 1 else np.zeros(logs.n)
        for f in np.unique(fold_of):
            train, test = fold_of != f, fold_of == f
            if not train.any():
                train = test
            sub = LoggedData(
                logs.actions[train],
                logs.rewards[train],
                logs.propensities[train],
                None if logs.contexts is None else np.asarray(logs.contexts)[train],
            )
            if logs.contexts is None:
                q[test] = fit_reward_model(sub, k)[0]
            else:
                q[test] = _predict(sub, np.asarray(logs.contexts)[test], k)
    else:
        q = np.asarray(reward_predictions, dtype=float)
        if q.shape != t.shape:
            raise ValueError(f"reward_predictions must have shape {t.shape}, got {q.shape}")
    w = _weights(logs, t)
    rows = np.arange(logs.n)
    terms = (t * q).sum(axis=1) + w * (logs.rewards - q[rows, logs.actions])
    return _from_terms("doubly_robust", terms, w, alpha)


def _predict(train: LoggedData, contexts: np.ndarray, k: int, ridge: float = 1.0) -> np.ndarray:
    x_train = np.column_stack([np.ones(train.n), np.asarray(train.contexts)])
    x_test = np.column_stack([np.ones(len(contexts)), contexts])
    overall = float(np.mean(train.rewards)) if train.n else 0.0
    out = np.full((len(contexts), k), overall)
    penalty = ridge * np.eye(x_train.shape[1])
    penalty[0, 0] = 0.0
    for a in range(k):
        mask = train.actions == a
        if mask.sum() == 0:
            continue
        xa, ra = x_train[mask], train.rewards[mask]
        beta = np.linalg.solve(xa.T @ xa + penalty + 1e-9 * np.eye(x_train.shape[1]), xa.T @ ra)
        out[:, a] = x_test @ beta
    return out


@dataclass(frozen=True)
class CrossFitTarget:
    """A data-chosen target policy, cross-fitted: ``target`` (n x k) plays, on each row, the arm chosen on the
    *other* folds (``arms[f]``: the arm chosen without fold ``f``; ``fold_of``: each row's fold). Evaluating it
    on the same logs has no selection bias: the choice never saw the rows it is scored on."""

    target: np.ndarray
    arms: list[int]
    fold_of: np.ndarray


def arm_values(logs: LoggedData, n_arms: int) -> np.ndarray:
    """Each arm's value estimated from the logs (self-normalised IPS of "always play the arm"; NaN for an arm
    never logged). With uniform logging this is the arm's mean logged reward.

    >>> arm_values(LoggedData([0, 0, 1], [1.0, 0.0, 1.0], [0.5, 0.5, 0.5]), 3).tolist()
    [0.5, 1.0, nan]
    """
    out = np.full(n_arms, np.nan)
    w = 1.0 / logs.propensities
    for a in range(n_arms):
        mask = logs.actions == a
        if mask.any():
            out[a] = float((w[mask] * logs.rewards[mask]).sum() / w[mask].sum())
    return out


def cross_fit_greedy(logs: LoggedData, n_arms: int, folds: int = 2, seed: int = 0) -> CrossFitTarget:
    """The greedy target ("always the best arm"), cross-fitted: rows are split at random into ``folds`` folds;
    for each fold the best arm by :func:`arm_values` on the other folds is the target on that fold.

    Choosing the best arm on the logs and evaluating it on the same logs is optimistic: with five equal arms
    the winner is the one that was lucky on these rows (``tests/bandits/test_bandits_ope.py`` measures it).
    Cross-fitted, the estimate is unbiased for the value of the (per-fold) chosen policy.

    >>> logs = LoggedData([0, 1, 0, 1, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0, 0, 1], [0.5] * 8)
    >>> cf = cross_fit_greedy(logs, 2)
    >>> cf.target.shape, sorted(set(cf.fold_of.tolist())), cf.arms
    ((8, 2), [0, 1], [1, 0])
    """
    if folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(logs.n) % folds
    target = np.zeros((logs.n, n_arms))
    arms = []
    for f in range(folds):
        train = fold_of != f
        sub = LoggedData(logs.actions[train], logs.rewards[train], logs.propensities[train])
        values = arm_values(sub, n_arms)
        best = int(np.nanargmax(values)) if not np.isnan(values).all() else 0
        arms.append(best)
        target[fold_of == f, best] = 1.0
    return CrossFitTarget(target, arms, fold_of)


def bootstrap_ci(
    estimator: Callable[[LoggedData, np.ndarray], OpeResult],
    logs: LoggedData,
    target: np.ndarray,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for any estimator above (resampling logged rows)."""
    if logs.n < 2:
        return None
    rng = np.random.default_rng(seed)
    t = np.asarray(target, dtype=float)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, logs.n, logs.n)
        sub = LoggedData(
            logs.actions[idx],
            logs.rewards[idx],
            logs.propensities[idx],
            None if logs.contexts is None else np.asarray(logs.contexts)[idx],
        )
        v = estimator(sub, t[idx]).value
        if v is not None:
            values.append(v)
    if not values:
        return None
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
