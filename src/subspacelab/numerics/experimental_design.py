"""Fisher-information experimental design with an identifiable subspace (QOED, Yu et al., RSS 2026).

Plain numpy, no robot in here: the Fisher information of a model with Gaussian observation noise, its
eigen-analysis into an observable subspace and a set of identifiable parameters, and the three exploration
objectives the paper compares:

- BOED:           tr(F)                                    (information on every parameter)
- QOED-agnostic:  sum_{i in K} F_ii                        (only the selected parameters K)
- QOED:           tr(F_KK - F_KB (F_BB + reg I)^+ F_BK)    (information on K once the nuisance B is marginalised)

The QOED objective is the trace of the Schur complement of F_BB in F: with reg = 0 and F positive definite it is
tr(((F^-1)_KK)^-1), the information about K left when B is unknown (the efficient information). Thresholds follow
the authors' code (``youwyu/QOED``, ``boed/objectives.py``) and are arguments here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

OBJECTIVES = ("boed", "qoed_agnostic", "qoed")


def central_difference_jacobian(
    fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, rel_step: float = 0.01
) -> np.ndarray:
    """d fn / d theta by central differences with step ``rel_step * (|theta_i| + 1)`` (the authors' estimator).

    ``fn`` maps a batch of parameter vectors (..., P) to outputs (..., *shape); it is called once, on the 2P
    perturbed vectors stacked along a new leading axis. Returns (*shape, P)."""
    theta = np.asarray(theta, dtype=float)
    p = theta.shape[-1]
    eps = rel_step * (np.abs(theta) + 1.0)
    offsets = np.eye(p) * eps
    batch = np.concatenate([theta + offsets, theta - offsets], axis=0)  # (2P, P)
    out = np.asarray(fn(batch))
    plus, minus = out[:p], out[p:]
    jac = (plus - minus) / (2 * eps.reshape((p,) + (1,) * (out.ndim - 1)))
    return np.moveaxis(jac, 0, -1)


def fisher_information(jacobians: np.ndarray, noise_sd: float) -> np.ndarray:
    """F = sum_t J_t^T R^-1 J_t with R = noise_sd^2 I, for observation Jacobians (..., T, O, P) -> (..., P, P)."""
    j = np.asarray(jacobians, dtype=float)
    return np.einsum("...toi,...toj->...ij", j, j) / noise_sd**2


def boed(fisher: np.ndarray) -> np.ndarray:
    """tr(F) for a batch (..., P, P)."""
    return np.trace(fisher, axis1=-2, axis2=-1)


def qoed_agnostic(fisher: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The selected parameters' diagonal information, sum_{i in K} F_ii."""
    return np.einsum("...ii,i->...", fisher, np.asarray(mask, dtype=float))


def qoed(fisher: np.ndarray, mask: np.ndarray, reg: float = 1e-3) -> np.ndarray:
    """tr(F_KK - F_KB (F_BB + reg I)^+ F_BK): the information on K after marginalising the nuisance B."""
    mask = np.asarray(mask, dtype=bool)
    f = np.asarray(fisher, dtype=float)
    if not mask.any():
        return np.zeros(f.shape[:-2])
    kk = f[..., mask, :][..., :, mask]
    if mask.all():
        return np.trace(kk, axis1=-2, axis2=-1)
    kb = f[..., mask, :][..., :, ~mask]
    bb = f[..., ~mask, :][..., :, ~mask] + reg * np.eye(int((~mask).sum()))
    schur = kk - kb @ np.linalg.pinv(bb) @ np.swapaxes(kb, -1, -2)
    return np.nan_to_num(np.trace(schur, axis1=-2, axis2=-1))


def objective(name: str, fisher: np.ndarray, mask: np.ndarray, reg: float = 1e-3) -> np.ndarray:
    """One of :data:`OBJECTIVES` on a batch of Fisher matrices."""
    if name == "boed":
        return boed(fisher)
    if name == "qoed_agnostic":
        return qoed_agnostic(fisher, mask)
    if name == "qoed":
        return qoed(fisher, mask, reg)
    raise ValueError(f"objective: one of {OBJECTIVES}, got {name!r}")


def select_identifiable(
    fisher: np.ndarray,
    posterior_var: np.ndarray,
    var_threshold: float = 0.0025,
    eig_ratio: float = 0.01,
    min_top_eig: float = 0.1,
    score_floor: float = 1e-3,
    duplicate_cos: float = 0.05,
) -> np.ndarray:
    """The identifiable parameters K (a boolean mask) from a history Fisher matrix, as the authors' code does it.

    1. Active parameters: posterior variance >= ``var_threshold`` (the others are already known).
    2. Eigen-decompose F on the active block; the observable subspace is the eigenvectors with eigenvalue
       >= ``eig_ratio`` x the largest (nothing is selected when the largest is <= ``min_top_eig``).
    3. Score each parameter by its squared loadings on that subspace; keep those >= ``score_floor`` x the best.
    4. Greedily, best score first, select a parameter and drop every candidate whose normalised loading vector is
       within ``duplicate_cos`` of it (1 - |cos| < duplicate_cos: the same observable direction, e.g. two gains
       that enter only through their sum); stop after as many parameters as observable directions.
    """
    f = 0.5 * (np.asarray(fisher, float) + np.asarray(fisher, float).T)
    p = f.shape[0]
    active = np.asarray(posterior_var, float) >= var_threshold
    mask = np.zeros(p, dtype=bool)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return mask
    vals, vecs = np.linalg.eigh(f[np.ix_(idx, idx)])
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    if vals[0] <= min_top_eig:
        return mask
    keep = vals >= eig_ratio * vals[0]
    n_obs = int(keep.sum())
    loadings = vecs[:, keep]  # (active, n_obs)
    score = (loadings**2).sum(1)
    norms = np.linalg.norm(loadings, axis=1, keepdims=True)
    unit = np.divide(loadings, norms, out=np.zeros_like(loadings), where=norms > 0)
    pool = [i for i in np.argsort(score)[::-1] if score[i] >= score_floor * score.max()]
    chosen: list[int] = []
    while pool and len(chosen) < n_obs:
        i = pool.pop(0)
        chosen.append(i)
        pool = [j for j in pool if 1.0 - abs(float(unit[j] @ unit[i])) >= duplicate_cos]
    mask[idx[chosen]] = True
    return mask
