"""The clustering harness: metrics on hand cases, every classical baseline on planted clusters, the
self-expressive solvers against closed forms and reference solvers, and the memory-budget refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from subspacelab.clustering import baselines as B
from subspacelab.clustering import known_methods, metrics, run_method
from subspacelab.numerics.union_of_subspaces import random_bases, sample_union


@pytest.fixture(autouse=True)
def _one_blas_thread(one_thread):
    """Tiny matrices: extra BLAS threads only add hand-off waits on the shared 2-core machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _union(noise: float = 0.01, n_per: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 independent (not orthogonal) 4-dim subspaces of R^30, unit-norm points plus a little noise."""
    bases = random_bases(30, [4, 4, 4, 4], seed=seed, disjoint=False)
    X, y = sample_union(bases, n_per, seed=seed + 1, noise=0.0)
    X = X.numpy()
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    X = X + noise * np.random.default_rng(seed + 2).standard_normal(X.shape)
    return X, y.numpy()


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------
def test_metrics_on_a_hand_case():
    y, yhat = [0, 0, 1, 1], [0, 0, 0, 1]
    # contingency (class x cluster) [[2, 0], [1, 1]]: best matching 0->0, 1->1 gives 3 of 4
    s = metrics.scores(y, yhat)
    assert s["acc"] == pytest.approx(0.75)
    # ARI: sum C(n_ij,2) = 1, rows 2, columns 3, C(4,2) = 6: (1 - 2*3/6) / ((2+3)/2 - 1) = 0
    assert s["ari"] == pytest.approx(0.0, abs=1e-12)
    # NMI (arithmetic): I / ((H(y) + H(yhat)) / 2)
    mi = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    hy, hyhat = math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert s["nmi"] == pytest.approx(mi / ((hy + hyhat) / 2), rel=1e-12)


def test_a_permuted_labelling_scores_one():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 3])
    perm = np.array([2, 3, 0, 1])
    assert metrics.scores(y, perm[y]) == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})


def test_accuracy_with_more_clusters_than_classes():
    # clusters 0 and 1 split class 0; only one of them can be matched to it
    assert metrics.accuracy([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(4 / 6)


def test_scores_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="labels_true has 3"):
        metrics.scores([0, 1, 1], [0, 1])


def test_measure_reports_time_and_peak_memory():
    out, wall, cpu, peak = metrics.measure(lambda: np.ones((1000, 1000)).sum())
    assert out == 1e6 and wall > 0 and cpu >= 0
    assert 8e6 <= peak < 1.5e7  # one 1000 x 1000 float64 array


# ----------------------------------------------------------------------------------------------
# every baseline on planted clusters
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, hp",
    [
        ("ssc", {}),
        ("ssc", {"solver": "cd"}),
        ("ensc", {}),
        ("lsr", {}),
        ("lsr", {"zero_diagonal": True}),
        ("lrr", {}),
        ("ssc_omp", {"n_nonzero": 4}),
    ],
)
def test_baselines_recover_planted_subspaces_at_low_noise(method, hp):
    X, y = _union(noise=0.01)
    labels = B.METHODS[method](X, 4, 0, **hp)
    assert metrics.accuracy(y, labels) >= 0.95, (method, hp, metrics.scores(y, labels))


def test_kmeans_recovers_separated_blobs():
    # k-means is not a subspace method: its planted structure is well-separated blobs
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 10)) * 5
    y = np.repeat(np.arange(4), 25)
    X = centres[y] + 0.3 * rng.standard_normal((100, 10))
    assert metrics.accuracy(y, B.kmeans(X, 4, 0)) == 1.0


def test_spectral_recovers_two_moons():
    # spectral clustering of the kNN graph: its planted structure is connected manifolds, where k-means fails
    from sklearn.datasets import make_moons

    X, y = make_moons(200, noise=0.05, random_state=0)
    assert metrics.accuracy(y, B.spectral(X, 2, 0)) == 1.0
    assert metrics.accuracy(y, B.kmeans(X, 2, 0)) < 0.9


def test_spectral_graph_recovers_planted_communities():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 30)
    P = np.where(y[:, None] == y[None, :], 0.4, 0.01)
    A = np.triu(rng.random((90, 90)) < P, 1)
    A = (A + A.T).astype(float)
    assert metrics.accuracy(y, B.spectral_graph(A, None, 3, 0)) == 1.0


def test_omp_coefficients_are_subspace_preserving_and_match_sklearn():
    from sklearn.linear_model import orthogonal_mp

    X, y = _union(noise=0.0)
    C = B.omp_coefficients(X, n_nonzero=4).toarray()
    rows, cols = np.nonzero(C)
    assert np.all(y[rows] == y[cols])  # every point is written with points of its own subspace
    assert np.all(C.diagonal() == 0)
    j = 7
    others = np.delete(np.arange(X.shape[0]), j)
    ref = orthogonal_mp(X[others].T, X[j], n_nonzero_coefs=4)
    np.testing.assert_allclose(C[others, j], ref, atol=1e-8)


# ----------------------------------------------------------------------------------------------
# solvers against closed forms and each other
# ----------------------------------------------------------------------------------------------
def test_lsr_equals_its_closed_form():
    X, _ = _union(noise=0.05, n_per=10)
    n, lam = X.shape[0], 0.3
    Y = X.T
    # column by column: ridge regression of y_j on the (other) points, as an augmented least-squares problem
    C2 = np.column_stack(
        [
            np.linalg.lstsq(
                np.vstack([Y, math.sqrt(lam) * np.eye(n)]), np.concatenate([Y[:, j], np.zeros(n)]), rcond=None
            )[0]
            for j in range(n)
        ]
    )
    np.testing.assert_allclose(B.lsr_coefficients(X, lam=lam), C2, atol=1e-9)
    C1 = np.zeros((n, n))
    for j in range(n):
        o = np.delete(np.arange(n), j)
        C1[o, j] = np.linalg.lstsq(
            np.vstack([Y[:, o], math.sqrt(lam) * np.eye(n - 1)]),
            np.concatenate([Y[:, j], np.zeros(n - 1)]),
            rcond=None,
        )[0]
    np.testing.assert_allclose(B.lsr_coefficients(X, lam=lam, zero_diagonal=True), C1, atol=1e-9)


def _enet_objective(X, C, l1, l2):
    R = X.T - X.T @ C
    return 0.5 * (R**2).sum() + (l1 * np.abs(C).sum(0)).sum() + 0.5 * (l2 * (C**2).sum(0)).sum()


def test_ssc_admm_reaches_the_per_column_lasso_optimum():
    X, _ = _union(noise=0.02, n_per=20)
    G = X @ X.T
    l1 = B.ssc_mu(G) / 20.0  # 1/λ with λ = α/μ, α = 20
    Ca = B.ssc_coefficients(X, max_iter=3000, tol=1e-9)
    Cc = B.ssc_coefficients(X, solver="cd")
    assert np.all(Ca.diagonal() == 0) and np.all(Cc.diagonal() == 0)
    fa, fc = _enet_objective(X, Ca, l1, 0.0), _enet_objective(X, Cc, l1, 0.0)
    assert fa == pytest.approx(fc, rel=1e-6)
    np.testing.assert_allclose(Ca, Cc, atol=5e-3)


def test_ensc_admm_reaches_the_per_column_elastic_net_optimum():
    X, _ = _union(noise=0.02, n_per=20)
    coh = B.coherence(X @ X.T)
    a = coh / (0.9 * 50)
    Ca = B.ensc_coefficients(X, n_nonzero=0, max_iter=3000, tol=1e-9)
    Cc = B.ensc_coefficients(X, n_nonzero=0, solver="cd")
    assert _enet_objective(X, Ca, 0.9 * a, 0.1 * a) == pytest.approx(
        _enet_objective(X, Cc, 0.9 * a, 0.1 * a), rel=1e-6
    )
    kept = B.ensc_coefficients(X, n_nonzero=5, solver="cd")
    assert np.count_nonzero(kept, axis=0).max() <= 5


def test_lrr_on_noiseless_subspaces_is_the_shape_interaction_matrix():
    # noiseless independent subspaces: min ||Z||_* s.t. Y = YZ is V Vᵀ (skinny SVD Y = U S Vᵀ); a large λ
    # makes E ~ 0, so the ALM solution approaches it
    X, _ = _union(noise=0.0, n_per=10)
    C, iters = B.lrr_coefficients(X, lam=100.0)
    _, s, Vt = np.linalg.svd(X.T, full_matrices=False)
    V = Vt[s > 1e-8 * s[0]].T
    assert iters < 1000
    np.testing.assert_allclose(C, V @ V.T, atol=1e-4)


def test_a_zero_point_does_not_break_ssc():
    X, y = _union(noise=0.01)
    X[0] = 0.0  # e.g. a node without attributes
    assert metrics.accuracy(y[1:], B.ssc(X, 4, 0)[1:]) >= 0.9


# ----------------------------------------------------------------------------------------------
# the memory budget and the harness runner
# ----------------------------------------------------------------------------------------------
def test_an_n_by_n_method_past_the_budget_is_refused_with_a_clear_message():
    X = np.zeros((1000, 3))
    budget = 2**20  # 1 MiB
    need = B.dense_bytes("lsr", 1000)
    with pytest.raises(B.MemoryBudgetExceeded) as err:
        B.lsr(X, 2, 0, memory_budget_bytes=budget)
    msg = str(err.value)
    assert "N = 1000" in msg and str(need) in msg and str(budget) in msg and "lsr" in msg
    row = run_method("ssc", X, 2, 0, labels_true=np.zeros(1000, int), memory_budget_bytes=budget)
    assert row["status"] == "refused" and "N = 1000" in row["message"] and row["acc"] is None


@pytest.mark.parametrize("method", ["lsr", "ssc", "ssc_omp"])
def test_the_memory_model_bounds_the_measured_peak(method):
    X, y = _union(noise=0.01, n_per=75)  # N = 300
    need = B.dense_bytes(method, X.shape[0])
    row = run_method(method, X, 4, 0, labels_true=y, memory_budget_bytes=need)  # exactly at the budget: runs
    assert row["status"] == "ok"
    assert row["peak_mib"] * 2**20 <= need


def test_run_method_scores_and_times():
    X, y = _union(noise=0.01)
    row = run_method("lsr", X, 4, 0, labels_true=y, lam=0.1)
    assert row["status"] == "ok" and row["acc"] >= 0.95 and row["seconds"] > 0 and row["peak_mib"] > 0
    assert row["hyperparameters"] == {"lam": 0.1}
    with pytest.raises(KeyError, match="unknown clustering method"):
        run_method("no_such", X, 4, 0)
    assert {"s2cag", "m_s2cag", "kmeans", "lrr", "s2cag_kmeans"} <= set(known_methods())
