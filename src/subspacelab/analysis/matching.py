"""Matching units between two networks (Li, Yosinski, Clune, Lipson & Hopcroft 2016, "Convergent
Learning: Do different neural networks learn the same representations?", ICLR; arXiv 1511.07543).

Inputs are activation matrices X (n x d_A) and Y (n x d_B) of one layer of net A and net B on the same
inputs; for conv layers each (image, spatial position) is a sample and each channel a unit (the paper's
convention; ``capture.flatten_units`` does the reshape).

What was read: the paper (Sec. 2-5) and the official repository YixuanLi/convergent_learning:
``experiments/match_unit.py`` (one-to-one matching as a maximum-weight bipartite matching of the
correlation matrix, via networkx ``max_weight_matching`` or the Munkres/Hungarian algorithm) and
``sparse_prediction/*/network.prototxt`` + ``solver.prototxt`` (the few-to-one mapping is a 1x1
convolution from net A's layer to net B's layer trained with a Euclidean loss and an L1 weight penalty,
log10 lambda in {-1, ..., -2.8}). Differences, stated:
- the Hungarian step uses ``scipy.optimize.linear_sum_assignment`` (same optimum, rectangular allowed);
- the sparse mapping is solved exactly per output unit with sklearn ``Lasso`` (coordinate descent)
  instead of SGD on a 1x1 conv; sklearn's objective (1/2n)||y - Xw||^2 + alpha ||w||_1 is scaled
  differently from Caffe's (summed over channels and positions, divided by batch size), so alpha values
  are not the paper's lambda values;
- the many-to-many step offers sklearn ``SpectralCoclustering`` of |C_AB| (groups of A-units paired
  with groups of B-units) and, closer to the paper's Sec. 5, ``SpectralClustering`` of the combined
  within- and between-net correlation graph; the paper's exact graph weights and cluster counts were
  not read from code [reconstructed].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from subspacelab.analysis.similarity import ArrayLike, as_matrix, center_columns, principal_angles

__all__ = [
    "SparsePrediction",
    "UnitMatching",
    "bipartite_match",
    "cocluster_units",
    "group_principal_angles",
    "semi_match",
    "sparse_prediction",
    "spectral_cluster_units",
    "standardize_columns",
    "unit_correlation",
]


# --------------------------------------------------------------------------------------------
# Correlations
# --------------------------------------------------------------------------------------------


def standardize_columns(x: ArrayLike, mean=None, std=None) -> torch.Tensor:
    """(X - mean) / std per column (population std); constant ("dead") columns become zero.

    ``mean``/``std`` default to X's own; pass a training set's to standardise held-out data alike.
    """
    x = as_matrix(x)
    mean = x.mean(dim=0, keepdim=True) if mean is None else torch.as_tensor(mean, dtype=torch.float64)
    std = (
        x.std(dim=0, correction=0, keepdim=True) if std is None else torch.as_tensor(std, dtype=torch.float64)
    )
    scale = torch.where(std > 0, 1.0 / std.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(std))
    return (x - mean) * scale


def unit_correlation(x: ArrayLike, y: ArrayLike) -> torch.Tensor:
    """Pearson correlation between every unit of A and every unit of B: C_ij = corr(x_i, y_j), (d_A, d_B).

    C = Z_X^T Z_Y / n with Z the standardised columns (the paper's between-net correlation matrix,
    Sec. 2). A unit that never varies has correlation 0 with everything.
    """
    zx, zy = standardize_columns(x), standardize_columns(y)
    if zx.shape[0] != zy.shape[0]:
        raise ValueError(f"activations must share their rows: {zx.shape[0]} vs {zy.shape[0]}")
    return (zx.T @ zy / zx.shape[0]).clamp(-1.0, 1.0)


# --------------------------------------------------------------------------------------------
# One-to-one and many-to-one matching
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitMatching:
    """Pairs (a[k], b[k]) of matched units and their correlation corr[k] = C[a[k], b[k]]."""

    a: torch.Tensor
    b: torch.Tensor
    corr: torch.Tensor

    @property
    def total(self) -> float:
        """Sum of the matched correlations (the quantity the matching maximises)."""
        return float(self.corr.sum())

    @property
    def mean(self) -> float:
        return float(self.corr.mean()) if self.corr.numel() else 0.0


def bipartite_match(corr: ArrayLike) -> UnitMatching:
    """One-to-one matching maximising sum_k C[a_k, b_k] over injective pairings (Hungarian algorithm).

    Paper Sec. 3 ("bipartite matching"); official code: ``match_unit.py`` (max-weight matching of the
    bipartite graph with edge weights C_ij). Rectangular C matches min(d_A, d_B) pairs. Sorted by a.
    """
    c = as_matrix(corr)
    rows, cols = linear_sum_assignment(c.numpy(), maximize=True)
    a = torch.as_tensor(rows, dtype=torch.long)
    b = torch.as_tensor(cols, dtype=torch.long)
    return UnitMatching(a, b, c[a, b])


def semi_match(corr: ArrayLike) -> UnitMatching:
    """Semi-matching: every unit a of net A takes its most correlated unit argmax_j C[a, j] of net B.

    Paper Sec. 3: many A-units may share one B-unit, so the total is an upper bound on the bipartite
    total (for d_A <= d_B).
    """
    c = as_matrix(corr)
    best, b = c.max(dim=1)
    return UnitMatching(torch.arange(c.shape[0]), b, best)


# --------------------------------------------------------------------------------------------
# Few-to-one: sparse prediction (L1-penalised linear mapping)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparsePrediction:
    """One L1 strength of the sparse mapping Y_hat = X W^T + c (all quantities on standardised units).

    loss: mean over B-units of the mean squared prediction error (1.0 = predicting each unit's mean).
    r2: 1 - loss when evaluated on the training inputs; on held-out inputs 1 - loss as well, with the
        training standardisation (so it can be negative).
    nonzero_fraction: fraction of the d_B x d_A weights that are non-zero.
    mean_fan_in: average number of A-units with a non-zero weight into one B-unit.
    coef: the (d_B, d_A) weight matrix.
    """

    alpha: float
    loss: float
    r2: float
    nonzero_fraction: float
    mean_fan_in: float
    coef: torch.Tensor


def sparse_prediction(
    x: ArrayLike,
    y: ArrayLike,
    alphas: Sequence[float],
    x_eval: ArrayLike | None = None,
    y_eval: ArrayLike | None = None,
    max_iter: int = 5000,
    tol: float = 1e-5,
) -> list[SparsePrediction]:
    """Predict every unit of net B from all units of net A with an L1 penalty, for each alpha.

    For each B-unit j: min_w (1/2n) ||z_j - Z_X w - c||^2 + alpha ||w||_1 (sklearn ``Lasso``, one
    independent problem per output; units standardised to zero mean, unit variance with the training
    statistics). This is the paper's Sec. 4 mapping layer (a 1x1 conv with L1 decay, equivalent to one
    Lasso per output channel), solved to convergence instead of by SGD. Evaluated on (x_eval, y_eval)
    when given, else on the training data. Larger alpha: sparser weights, higher loss.
    """
    from sklearn.linear_model import Lasso

    x, y = as_matrix(x), as_matrix(y)
    mx, sx = x.mean(0, keepdim=True), x.std(0, correction=0, keepdim=True)
    my, sy = y.mean(0, keepdim=True), y.std(0, correction=0, keepdim=True)
    zx, zy = standardize_columns(x, mx, sx), standardize_columns(y, my, sy)
    if x_eval is None:
        ex, ey = zx, zy
    else:
        ex, ey = standardize_columns(x_eval, mx, sx), standardize_columns(y_eval, my, sy)
    results = []
    for alpha in alphas:
        model = Lasso(alpha=float(alpha), fit_intercept=True, max_iter=max_iter, tol=tol)
        model.fit(zx.numpy(), zy.numpy())
        coef = torch.as_tensor(np.atleast_2d(model.coef_), dtype=torch.float64)
        pred = torch.as_tensor(model.predict(ex.numpy()), dtype=torch.float64).reshape(ey.shape)
        loss = float((pred - ey).square().mean())
        nz = coef != 0
        results.append(
            SparsePrediction(
                alpha=float(alpha),
                loss=loss,
                r2=1.0 - loss,
                nonzero_fraction=float(nz.double().mean()),
                mean_fan_in=float(nz.sum(dim=1).double().mean()),
                coef=coef,
            )
        )
    return results


# --------------------------------------------------------------------------------------------
# Many-to-many: groups of units spanning shared subspaces
# --------------------------------------------------------------------------------------------


def cocluster_units(corr: ArrayLike, n_clusters: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral co-clustering (Dhillon 2001; sklearn ``SpectralCoclustering``) of |C_AB|.

    Returns (labels_a, labels_b): cluster k pairs the A-units with labels_a == k with the B-units with
    labels_b == k, i.e. groups whose between-net correlations are strong. |C| is used because the
    algorithm needs non-negative weights (the sign of a unit is arbitrary for subspace questions).
    """
    from sklearn.cluster import SpectralCoclustering

    w = as_matrix(corr).abs().numpy() + 1e-12
    model = SpectralCoclustering(n_clusters=n_clusters, random_state=seed).fit(w)
    return torch.as_tensor(model.row_labels_, dtype=torch.long), torch.as_tensor(
        model.column_labels_, dtype=torch.long
    )


def spectral_cluster_units(
    x: ArrayLike, y: ArrayLike, n_clusters: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral clustering of the combined (d_A + d_B) unit graph, weights |corr| within and between nets.

    Paper Sec. 5 [reconstructed]: the affinity is |C| of the stacked activations [X Y], so a cluster can
    hold units of both nets that co-vary. Returns (labels_a, labels_b).
    """
    from sklearn.cluster import SpectralClustering

    x, y = as_matrix(x), as_matrix(y)
    xy = torch.cat([x, y], dim=1)
    affinity = unit_correlation(xy, xy).abs().numpy()
    labels = SpectralClustering(n_clusters=n_clusters, affinity="precomputed", random_state=seed).fit_predict(
        affinity
    )
    labels = torch.as_tensor(labels, dtype=torch.long)
    return labels[: x.shape[1]], labels[x.shape[1] :]


def group_principal_angles(
    x: ArrayLike, y: ArrayLike, labels_a: ArrayLike, labels_b: ArrayLike
) -> dict[int, torch.Tensor]:
    """Principal angles between the spans (in sample space R^n) of each matched pair of unit groups.

    For every cluster k present in both nets: angles between span{centred x_i : labels_a[i] = k} and
    span{centred y_j : labels_b[j] = k}. Angles near 0 mean the two groups carry the same linear
    information even when no single pair of units matches (the paper's "shared subspaces, different
    bases" finding).
    """
    x, y = center_columns(x), center_columns(y)
    la = torch.as_tensor(np.asarray(labels_a)).long()
    lb = torch.as_tensor(np.asarray(labels_b)).long()
    out: dict[int, torch.Tensor] = {}
    for k in sorted(set(la.tolist()) & set(lb.tolist())):
        out[k] = principal_angles(x[:, la == k], y[:, lb == k])
    return out
