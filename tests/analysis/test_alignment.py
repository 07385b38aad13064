"""analysis.alignment: CCA's projections are white with the canonical correlations as cross-covariance and equal
the toolkit's and scikit-learn's correlations; the appended-row local CKA equals linear CKA on the stacked
matrices; the affine map recovers an exact affine relation; matching and retrieval on known score matrices."""

import numpy as np
import pytest

from subspacelab.analysis import alignment as al
from subspacelab.analysis.similarity import canonical_correlations, linear_cka


def _pair(n=600, p=7, q=5, shared=3, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, shared))
    x = z @ rng.standard_normal((shared, p)) + 0.5 * rng.standard_normal((n, p)) + 3.0
    y = z @ rng.standard_normal((shared, q)) + 0.5 * rng.standard_normal((n, q)) - 1.0
    return x, y


def test_cca_projections_are_white_and_their_cross_covariance_is_the_canonical_correlations():
    x, y = _pair()
    cca = al.fit_cca(x, y, k=4, ridge=0.0)
    px, py = cca.project_x(x), cca.project_y(y)
    n = len(x) - 1
    np.testing.assert_allclose(px.T @ px / n, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(py.T @ py / n, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(px.T @ py / n, np.diag(cca.correlations), atol=1e-10)
    np.testing.assert_allclose(cca.correlations, canonical_correlations(x, y).numpy()[:4], atol=1e-10)
    assert np.all(np.diff(cca.correlations) <= 1e-12)


def test_cca_correlations_equal_scikit_learns():
    from sklearn.cross_decomposition import CCA

    x, y = _pair(seed=1)
    ours = al.fit_cca(x, y, k=2, ridge=0.0)
    u, v = CCA(n_components=2, max_iter=5000, tol=1e-12).fit(x, y).transform(x, y)
    ref = [abs(np.corrcoef(u[:, i], v[:, i])[0, 1]) for i in range(2)]
    np.testing.assert_allclose(ours.correlations, ref, atol=1e-6)


def test_cca_refuses_a_k_beyond_the_smaller_space_and_unpaired_anchors():
    x, y = _pair()
    with pytest.raises(ValueError, match="k must lie"):
        al.fit_cca(x, y, k=6)
    with pytest.raises(ValueError, match="pair up"):
        al.fit_cca(x, y[:-1], k=2)


def test_affine_map_recovers_an_exact_affine_relation():
    rng = np.random.default_rng(2)
    src = rng.standard_normal((50, 4))
    r, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    r_hat, b_hat = al.fit_affine(src, src @ r + b)
    np.testing.assert_allclose(r_hat, r, atol=1e-10)
    np.testing.assert_allclose(b_hat, b, atol=1e-10)


def test_local_cka_equals_linear_cka_on_the_anchors_with_each_query_appended():
    x, y = _pair(n=40, seed=3)
    xa, ya, xq, yq = x[:30], y[:30], x[30:], y[30:]
    fast = al.local_cka_scores(xa, ya, xq, yq)
    slow = np.array([[linear_cka(np.vstack([xa, xi]), np.vstack([ya, yj])) for yj in yq] for xi in xq])
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


def test_cosine_scores_and_pca():
    a = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(al.cosine_scores(a, a[:2]), [[1, 0], [0, 1], [0, 0]])
    rng = np.random.default_rng(4)
    data = rng.standard_normal((200, 3)) * [5.0, 1.0, 0.1]
    mean, basis = al.fit_pca(data, 1)
    assert abs(abs(basis[0, 0]) - 1) < 1e-2 and basis.shape == (3, 1)


def test_matching_and_retrieval_on_known_score_matrices():
    assert al.matching_accuracy(np.eye(5)) == 1.0
    swapped = np.eye(4)[[1, 0, 2, 3]]  # the best assignment swaps the first two
    assert al.matching_accuracy(swapped) == 0.5
    s = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.0, 0.0]])
    assert al.retrieval_at(s, 1) == pytest.approx(1 / 3)  # row 0 only; row 2 is all ties: ranks last
    assert al.retrieval_at(s, 2) == pytest.approx(2 / 3)
    assert al.retrieval_at(s, 3) == 1.0
