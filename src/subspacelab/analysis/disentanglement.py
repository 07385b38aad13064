"""Disentanglement metrics of a code against known generative factors, as the XFactors code computes them
(nicoboou/xfactors ``metric/log_json.py``; both are variants of disentanglement_lib's).

- ``dci``: Eastwood & Williams' disentanglement, completeness and informativeness. Codes are z-scored by the
  training split. One ``RandomForestRegressor(n_estimators=20, max_depth=20)`` per factor predicts the factor's
  class index; R[d, k] is its impurity importance of code dimension d. D = Σ_d ρ_d (1 − H_K(R[d, :])) with
  ρ_d = Σ_k R[d, k] / Σ R; C = Σ_k ρ_k (1 − H_{D_z}(R[:, k])) with ρ_k = Σ_d R[d, k] / Σ R; H_b the entropy in base b
  of the normalised row or column. I = the mean over factors of the test R² clipped to [0, 1] (a regression score,
  not disentanglement_lib's classification accuracy).
- ``factor_vae_score``: Kim & Mnih's vote. Pick a factor uniformly, one of its values uniformly, L codes with that
  value; the code dimension of least variance (codes divided by their global deviation) votes for the factor.
  The majority factor of each dimension's votes on one split is the classifier; its accuracy on fresh votes from
  the other split is the score. Dimensions never voted for count as wrong.
"""

from __future__ import annotations

import numpy as np


def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy in base ``base`` of each row of the non-negative ``p`` (normalised per row)."""
    p = p / np.maximum(p.sum(-1, keepdims=True), 1e-300)
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(-1) / np.log(base)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (code dims x factors)."""
    r = np.abs(np.asarray(importance, dtype=float))
    n_dims, n_factors = r.shape
    total = r.sum()
    d = float(((r.sum(1) / total) * (1 - _entropy(r, max(n_factors, 2)))).sum()) if n_factors > 1 else 1.0
    c = float(((r.sum(0) / total) * (1 - _entropy(r.T, max(n_dims, 2)))).sum()) if n_dims > 1 else 1.0
    return d, c


def dci(
    codes_train, factors_train, codes_test, factors_test, seed: int = 0, trees: int = 20, depth: int = 20
) -> dict:
    """{"disentanglement", "completeness", "informativeness", "importance"} (module doc)."""
    from sklearn.ensemble import RandomForestRegressor

    ztr, zte = np.asarray(codes_train, float), np.asarray(codes_test, float)
    mean, sd = ztr.mean(0), np.maximum(ztr.std(0), 1e-12)
    ztr, zte = (ztr - mean) / sd, (zte - mean) / sd
    ftr, fte = np.asarray(factors_train), np.asarray(factors_test)
    importance, r2 = np.zeros((ztr.shape[1], ftr.shape[1])), []
    for k in range(ftr.shape[1]):
        forest = RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=seed, n_jobs=1)
        forest.fit(ztr, ftr[:, k])
        importance[:, k] = forest.feature_importances_
        r2.append(float(np.clip(forest.score(zte, fte[:, k]), 0.0, 1.0)) if np.ptp(fte[:, k]) else 0.0)
    d, c = dci_from_importance(importance)
    return {
        "disentanglement": d,
        "completeness": c,
        "informativeness": float(np.mean(r2)),
        "importance": importance,
    }


def _votes(codes, factors, n: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2): the (code dimension of least variance, factor) of each vote."""
    z = np.asarray(codes, float)
    z = z / np.maximum(z.std(0), 1e-12)
    factors = np.asarray(factors)
    out = np.empty((n, 2), dtype=np.int64)
    for i in range(n):
        k = rng.integers(factors.shape[1])
        value = rng.choice(np.unique(factors[:, k]))
        pool = np.flatnonzero(factors[:, k] == value)
        rows = rng.choice(pool, size=batch, replace=len(pool) < batch)
        out[i] = (np.argmin(z[rows].var(0)), k)
    return out


def factor_vae_score(
    codes_train, factors_train, codes_test, factors_test, votes: int = 10000, batch: int = 64, seed: int = 0
) -> float:
    """The accuracy of the majority-vote classifier from the training split's votes on the test split's votes."""
    rng = np.random.default_rng(seed)
    n_dims, n_factors = np.asarray(codes_train).shape[1], np.asarray(factors_train).shape[1]
    train = _votes(codes_train, factors_train, votes, batch, rng)
    counts = np.zeros((n_dims, n_factors), dtype=np.int64)
    np.add.at(counts, (train[:, 0], train[:, 1]), 1)
    label = np.where(counts.sum(1) > 0, counts.argmax(1), -1)
    test = _votes(codes_test, factors_test, votes, batch, rng)
    return float((label[test[:, 0]] == test[:, 1]).mean())
