"""Semantic information measures, channels' matching, the R(G) function, EM / CM-EM and LBI truth functions:
closed forms, the inequalities the theory states, and scikit-learn as the reference for EM and log-loss."""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from subspacelab.numerics import semantic_information as S

probs = arrays(np.float64, st.tuples(st.integers(2, 5), st.integers(2, 4)), elements=st.floats(0.01, 1.0))


def _channel(w: np.ndarray) -> np.ndarray:
    return w / w.sum(1, keepdims=True)


@pytest.mark.parametrize("p", [0.0, 0.05, 0.11, 0.3, 0.5])
def test_binary_symmetric_channel_has_mi_one_minus_h(p):
    ch = np.array([[1 - p, p], [p, 1 - p]])
    assert S.channel_mutual_information([0.5, 0.5], ch) == pytest.approx(1 - S.binary_entropy(p), abs=1e-12)


def test_mi_of_identity_and_independent_joints():
    px = np.array([0.2, 0.3, 0.5])
    assert S.channel_mutual_information(px, np.eye(3)) == pytest.approx(S.entropy(px))
    assert S.mutual_information(np.outer(px, [0.6, 0.4])) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(probs, probs)
def test_semantic_mi_never_exceeds_shannon_mi(w, t):
    ch = _channel(w)
    px = w[:, 0] / w[:, 0].sum()
    truth = np.resize(t, ch.shape)
    truth = truth / truth.max()
    joint = S.joint_of(px, ch)
    assert S.semantic_mutual_information(joint, truth) <= S.mutual_information(joint) + 1e-12


@settings(max_examples=60, deadline=None)
@given(probs, st.lists(st.floats(0.1, 5.0), min_size=4, max_size=4))
def test_matched_truth_functions_reach_shannon_mi(w, scales):
    """T(θ_j|x) ∝ P(y_j|x) (any positive scale per label) makes G = I: the matching the paper states."""
    ch = _channel(w)
    px = w[:, -1] / w[:, -1].sum()
    truth = S.logical_bayes_truth(ch) * np.array(scales[: ch.shape[1]]) / max(scales)
    joint = S.joint_of(px, ch)
    assert S.semantic_mutual_information(joint, truth) == pytest.approx(
        S.mutual_information(joint), abs=1e-10
    )


def test_shannon_minus_semantic_mi_is_the_weighted_kl():
    rng = np.random.default_rng(0)
    px, ch, truth = (
        rng.dirichlet(np.ones(5)),
        _channel(rng.uniform(0.1, 1, (5, 3))),
        rng.uniform(0.1, 1, (5, 3)),
    )
    joint = S.joint_of(px, ch)
    py = joint.sum(0)
    kl = sum(
        py[j] * S.kl_divergence(joint[:, j] / py[j], S.semantic_bayes(px, truth)[:, j]) for j in range(3)
    )
    gap = S.mutual_information(joint) - S.semantic_mutual_information(joint, truth)
    assert gap == pytest.approx(kl, abs=1e-12)


def test_logical_bayes_truth_is_normalised_and_survives_a_change_of_p_x():
    """T* peaks at 1; with the channel fixed and P(x) changed, semantic Bayes with the same T* gives the new
    P(x|y_j) exactly (the likelihood learned under the old P(x) does not)."""
    rng = np.random.default_rng(1)
    ch = _channel(rng.uniform(0.05, 1, (6, 3)))
    truth = S.logical_bayes_truth(ch)
    assert np.allclose(truth.max(0), 1.0) and truth.min() > 0
    px_old, px_new = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    likelihood = lambda px: S.joint_of(px, ch) / S.joint_of(px, ch).sum(0)  # noqa: E731
    assert np.allclose(S.semantic_bayes(px_new, truth), likelihood(px_new))
    assert not np.allclose(likelihood(px_old), likelihood(px_new))
    assert np.allclose(S.truth_from_likelihood(likelihood(px_old), px_old), truth)


def test_posterior_with_a_new_prior_is_bayes_rule():
    rng = np.random.default_rng(2)
    lik = rng.dirichlet(np.ones(8), size=3).T  # P(x_i | y_j), columns sum to 1
    prior_old, prior_new = np.array([0.6, 0.3, 0.1]), np.array([0.1, 0.2, 0.7])
    px_old = lik @ prior_old
    truth = S.truth_from_likelihood(lik, px_old)
    got = S.posterior_with_prior(truth, S.logical_probability(px_old, truth), prior_new)
    want = lik * prior_new / (lik @ prior_new)[:, None]
    assert np.allclose(got, want)


# --- channels' matching ------------------------------------------------------------------------------------


def _random_problem(seed, m=3, cells=7):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(m)), rng.dirichlet(np.full(cells, 0.5), size=m)


@pytest.mark.parametrize("seed", range(5))
def test_cm_never_lowers_mi_and_sandwiches_the_semantic_mi(seed):
    px, pzx = _random_problem(seed, cells=30)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        res = S.cm_classify(px, pzx, rng.integers(0, 3, 30), 3, max_iter=15)
        mi, g = np.array(res.mi), np.array(res.semantic_mi)
        assert np.all(np.diff(mi) >= -1e-12)
        assert np.all(g[1:] <= mi[1:] + 1e-12) and np.all(g[1:] >= mi[:-1] - 1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_no_partition_beats_the_brute_force_mmi_and_cm_fixed_points_are_local(seed):
    px, pzx = _random_problem(seed)
    labels, best = S.brute_force_mmi(px, pzx, 3)
    assert S.partition_information(px, pzx, labels, 3) == pytest.approx(best)
    ends = [S.cm_classify(px, pzx, np.array(s), 3, 30).mi[-1] for s in itertools.product(range(3), repeat=7)]
    assert max(ends) == pytest.approx(best, abs=1e-12) and min(ends) <= best
    assert S.hill_climb_mmi(px, pzx, np.zeros(7, int), 3)[1] <= best + 1e-12


def test_cm_reaches_the_brute_force_mmi_on_well_separated_classes():
    """Two well-separated 1-D Gaussian classes on 10 cells: from a bad start (everything but one cell in one
    label), CM reaches the exhaustive MMI within a few iterations (the paper's regime)."""
    z = np.linspace(-3, 3, 10)
    pzx = np.exp(-0.5 * ((z[None] - np.array([[-1.5], [1.5]])) / 0.8) ** 2)
    pzx /= pzx.sum(1, keepdims=True)
    px = np.array([0.7, 0.3])
    _, best = S.brute_force_mmi(px, pzx, 2)
    start = np.zeros(10, int)
    start[0] = 1
    res = S.cm_classify(px, pzx, start, 2, max_iter=10)
    assert res.mi[-1] == pytest.approx(best, abs=1e-12)
    assert res.converged_at is not None and res.converged_at <= 5


# --- R(G) --------------------------------------------------------------------------------------------------


def test_r_of_g_properties():
    rng = np.random.default_rng(3)
    px, truth = rng.dirichlet(np.ones(6)), rng.uniform(0.1, 1, (6, 3))
    zero = S.r_of_g(px, truth, 0.0)
    assert zero.R == pytest.approx(0.0, abs=1e-12)  # s = 0: P(y|x) = P(y), no information
    pts = [S.r_of_g(px, truth, s) for s in (0.5, 1.0, 2.0, 3.0)]
    assert all(p.G <= p.R + 1e-12 for p in pts)  # semantic MI <= Shannon MI on every channel
    assert all(a.G < b.G and a.R < b.R for a, b in itertools.pairwise(pts))
    for s in (0.5, 1.5, 2.5):  # dR/dG = s
        a, b = S.r_of_g(px, truth, s - 1e-4), S.r_of_g(px, truth, s + 1e-4)
        assert (b.R - a.R) / (b.G - a.G) == pytest.approx(s, rel=1e-3)


def test_r_minus_g_at_s1_is_the_mixture_kl():
    """Lu's H(Q‖P) = R(G) − G for a mixture: with truth functions from the components, s = 1 and the ratios at
    their fixed point (R(G)'s own iteration, CM-EM's ratio loop), R − G is KL(P ‖ Q) of that mixture."""
    x = np.linspace(-5, 8, 200)
    mix = S.Mixture1D(np.array([0.5, 0.5]), np.array([0.0, 3.0]), np.array([1.0, 0.7]))
    p = np.exp(-0.5 * (x - 0.5) ** 2) + 0.3 * np.exp(-0.5 * ((x - 2.5) / 1.2) ** 2)
    p /= p.sum()
    comp = mix.components(x)
    comp /= comp.sum(0)
    lik_ratio = comp / p[:, None]  # P(x|θ_j)/P(x) = T(θ_j|x)/T(θ_j)
    truth = lik_ratio / lik_ratio.max(0)
    pt = S.r_of_g(p, truth, 1.0)
    assert pt.R - pt.G == pytest.approx(S.kl_divergence(p, comp @ pt.prior_y), abs=1e-9)
    # the ratio fixed point of CM-EM's inner loop is R(G)'s at s = 1 (grid-normalised components)
    inner = np.array([0.5, 0.5])
    for _ in range(20_000):
        inner = p @ (inner * comp / (comp @ inner)[:, None])
    assert np.allclose(pt.prior_y, inner, atol=1e-6)


# --- EM and CM-EM ------------------------------------------------------------------------------------------


def test_em_agrees_with_scikit_learn_on_the_same_data_and_init():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(4)
    x = np.r_[rng.normal(0, 1, 900), rng.normal(3, 0.8, 100)]
    init = S.Mixture1D(np.array([0.5, 0.5]), np.array([-1.0, 4.0]), np.array([1.5, 0.7]))
    mix = init
    for _ in range(7):
        mix = S.em_step(x, np.full(x.size, 1 / x.size), mix)
    gm = GaussianMixture(
        2,
        reg_covar=0.0,
        max_iter=7,
        tol=0.0,
        weights_init=init.weights,
        means_init=init.means[:, None],
        precisions_init=(1 / init.sds**2)[:, None, None],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(x[:, None])
    assert np.allclose(mix.weights, gm.weights_, atol=1e-10)
    assert np.allclose(mix.means, gm.means_.ravel(), atol=1e-10)
    assert np.allclose(mix.sds, np.sqrt(gm.covariances_.ravel()), atol=1e-10)


def _grid_mixture(ratio):
    x = np.linspace(-6, 10, 401)
    truth = S.Mixture1D(np.array([ratio, 1 - ratio]), np.array([0.0, 4.0]), np.array([1.0, 1.0]))
    p = truth.density(x)
    return x, p / p.sum()


def test_em_and_cm_em_never_increase_the_kl_and_find_the_truth():
    x, p = _grid_mixture(0.9)
    init = S.Mixture1D(np.array([0.5, 0.5]), np.array([-1.0, 5.0]), np.array([1.5, 1.5]))
    for method in ("em", "cm_em"):
        fit = S.fit_mixture(x, p, init, method, max_iter=3000, tol=1e-12)
        assert np.all(np.diff(fit.kl) <= 1e-12)
        assert fit.kl[-1] < 1e-6
        assert np.allclose(fit.mix.weights, [0.9, 0.1], atol=1e-3)
    em = S.fit_mixture(x, p, init, "em", max_iter=3000, tol=1e-12)
    assert em.ratio_updates == em.iterations


def test_cm_em_ratio_loop_reaches_the_ratio_fixed_point():
    """With the components at the truth, the repeated ratio update converges to the true ratios from 0.5/0.5."""
    x, p = _grid_mixture(0.97)
    mix = S.Mixture1D(np.array([0.5, 0.5]), np.array([0.0, 4.0]), np.array([1.0, 1.0]))
    new, updates = S.cm_em_step(x, p, mix, ratio_tol=1e-12, max_ratio_updates=10_000)
    assert updates > 1
    assert np.allclose(new.weights, [0.97, 0.03], atol=1e-6)


# --- LBI truth functions and calibration -------------------------------------------------------------------


def test_kde_truth_functions_recover_bayes_posteriors_with_a_new_prior():
    rng = np.random.default_rng(5)
    x = np.r_[rng.normal(-2, 1, (300, 1)), rng.normal(2, 1, (300, 1))]
    y = np.r_[np.zeros(300, int), np.ones(300, int)]
    tf = S.KDETruthFunctions.fit(x, y, [0.2, 0.4, 0.8])
    t = tf.truth(x)
    assert t.min() >= 0 and t.max() <= 1 and np.allclose(tf.logical_prob, 1 / tf.scale, rtol=0.15)
    q = np.array([[-1.0], [0.0], [1.0]])
    prior = np.array([0.9, 0.1])
    lik = np.exp(-0.5 * (q - np.array([-2.0, 2.0])) ** 2)
    want = prior * lik / (prior * lik).sum(1, keepdims=True)
    assert np.allclose(tf.posterior(q, prior), want, atol=0.08)


def test_calibration_metrics_agree_with_scikit_learn_and_closed_forms():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(6)
    prob = rng.dirichlet(np.ones(3), size=200)
    y = rng.integers(0, 3, 200)
    m = S.calibration_metrics(prob, y)
    assert m["log_loss"] == pytest.approx(log_loss(y, prob, labels=[0, 1, 2]))
    perfect = S.calibration_metrics(np.eye(3)[y], y)
    assert perfect["ece"] == 0 and perfect["accuracy"] == 1 and perfect["brier"] == 0
    # always 0.8 confident and right 80% of the time: ECE 0
    p = np.tile([0.8, 0.1, 0.1], (10, 1))
    assert S.calibration_metrics(p, np.array([0] * 8 + [1, 2]))["ece"] == pytest.approx(0.0, abs=1e-12)
    assert S.calibration_metrics(p, np.array([0] * 5 + [1] * 5))["ece"] == pytest.approx(0.3)
