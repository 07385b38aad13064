"""Entropy / MI estimators checked against closed forms, scikit-learn and the official DSE/DSMI algorithm."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_selection import mutual_info_regression
from sklearn.metrics import pairwise_distances

from subspacelab.analysis.information import (
    classic_shannon_entropy,
    diffusion_operator,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
    gaussian_mi,
    infonce_lower_bound,
    ksg_entropy,
    ksg_mi,
    mine_lower_bound,
    nwj_lower_bound,
    reference_clusters,
    spectral_entropy,
)
from subspacelab.lit.critics import train_critic_mi


def correlated_gaussians(n: int, d: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """x, y in R^d with corr(x_k, y_k) = rho, independent across k; true MI = -d/2 log(1 - rho^2) nats."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, d))
    return x, y, -d / 2 * math.log(1 - rho**2)


def random_rotation(d: int, seed: int) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0]


def embedded_cube(n: int, k: int, d: int, scale: float, seed: int) -> np.ndarray:
    """n points uniform on a k-dim cube [-scale, scale]^k, rotated into R^d."""
    u = np.zeros((n, d))
    u[:, :k] = scale * np.random.default_rng(seed).uniform(-1, 1, (n, k))
    return u @ random_rotation(d, seed + 1)


# --------------------------------------------------------------------------------------------
# Closed form and KSG
# --------------------------------------------------------------------------------------------


def test_gaussian_mi_closed_form_and_invariance():
    d, rho = 3, 0.6
    cov = np.block([[np.eye(d), rho * np.eye(d)], [rho * np.eye(d), np.eye(d)]])
    assert gaussian_mi(cov, d) == pytest.approx(-d / 2 * math.log(1 - rho**2), rel=1e-12)
    # MI is invariant to invertible maps of each block: cov -> A cov A^T, A block diagonal.
    rng = np.random.default_rng(0)
    a = np.zeros((2 * d, 2 * d))
    a[:d, :d], a[d:, d:] = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    assert gaussian_mi(torch.as_tensor(a @ cov @ a.T), d) == pytest.approx(gaussian_mi(cov, d), rel=1e-9)
    assert gaussian_mi(np.diag([1.0, 2.0, 3.0]), 1) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_ksg_matches_sklearn_on_1d_pairs(k, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(400) * 3.0
    for y in (0.7 * x + rng.standard_normal(400), np.sin(x) + 0.3 * rng.standard_normal(400)):
        expected = mutual_info_regression(x[:, None], y, n_neighbors=k, random_state=seed)[0]
        # sklearn standardises, adds 1e-10 jitter and clips at 0; without ties the counts are identical.
        assert max(0.0, ksg_mi(x, y, k)) == pytest.approx(expected, abs=1e-6)


def test_ksg_mi_agrees_with_gaussian_closed_form():
    x, y, true = correlated_gaussians(2000, 2, 0.8, seed=3)
    assert ksg_mi(torch.as_tensor(x), y, k=3) == pytest.approx(true, abs=0.08)
    xi = np.random.default_rng(4).standard_normal((2000, 2))
    assert abs(ksg_mi(xi, y, k=3)) < 0.03


def test_ksg_entropy_of_a_gaussian():
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    x = np.random.default_rng(5).multivariate_normal([0, 0], cov, size=3000)
    true = 0.5 * np.linalg.slogdet(2 * math.pi * math.e * cov)[1]
    assert ksg_entropy(x, k=3) == pytest.approx(true, abs=0.06)


# --------------------------------------------------------------------------------------------
# Critic bounds
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 64), scale=st.floats(0.01, 50.0), seed=st.integers(0, 10_000))
def test_infonce_never_exceeds_log_n_and_dv_dominates_nwj(n, scale, seed):
    s = scale * torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    assert float(infonce_lower_bound(s)) <= math.log(n) + 1e-9
    # log u <= u / e for u > 0, hence DV >= NWJ for the same critic.
    assert float(mine_lower_bound(s)) >= float(nwj_lower_bound(s)) - 1e-9


def test_bounds_match_their_formulas():
    s = np.random.default_rng(6).standard_normal((5, 5))
    n, diag = 5, np.diag(s)
    off = s[~np.eye(n, dtype=bool)]
    nce = np.mean([s[i, i] - math.log(np.mean(np.exp(s[i]))) for i in range(n)])
    assert float(infonce_lower_bound(s)) == pytest.approx(nce, abs=1e-12)
    assert float(nwj_lower_bound(s)) == pytest.approx(diag.mean() - np.mean(np.exp(off)) / math.e, abs=1e-12)
    assert float(mine_lower_bound(s)) == pytest.approx(
        diag.mean() - math.log(np.mean(np.exp(off))), abs=1e-12
    )
    # A critic that singles out the positives saturates InfoNCE at log N.
    assert float(infonce_lower_bound(torch.eye(8) * 100.0)) == pytest.approx(math.log(8), abs=1e-6)


@pytest.mark.parametrize(("estimator", "tol"), [("infonce", 0.15), ("nwj", 0.25), ("mine", 0.25)])
def test_separable_critic_recovers_gaussian_mi(estimator, tol):
    x, y, true = correlated_gaussians(4000, 2, 0.88, seed=7)  # true MI = 1.49 nats
    assert train_critic_mi(x, y, "separable", estimator, steps=300, lr=1e-3, seed=0) == pytest.approx(
        true, abs=tol
    )


def test_concat_critic_recovers_gaussian_mi():
    x, y, true = correlated_gaussians(2000, 1, 0.9, seed=8)  # true MI = 0.83 nats
    est = train_critic_mi(x, y, "concat", "infonce", steps=200, batch_size=32, hidden=32, lr=2e-3, seed=0)
    assert est == pytest.approx(true, abs=0.2)


def test_critic_on_independent_data_is_near_zero_and_seeded():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((2000, 2)), rng.standard_normal((2000, 2))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    est = train_critic_mi(x, y, "separable", "infonce", steps=150, lr=1e-3, seed=1)
    assert torch.rand(1) == before  # the global RNG is left alone
    assert abs(est) < 0.05
    assert train_critic_mi(x, y, "separable", "infonce", steps=150, lr=1e-3, seed=1) == est


# --------------------------------------------------------------------------------------------
# DSE / DSMI: the official algorithm, written out straightforwardly (ChenLiu-1996/DiffusionSpectralEntropy)
# --------------------------------------------------------------------------------------------


def official_dse(x: np.ndarray, sigma=10.0, t=1, drop_trivial=False, max_n=10000, seed=0) -> float:
    """api/diffusion.py + dse/dse.py (drop_trivial=True: the older api/dse.py), step by step in numpy."""
    if len(x) > max_n:
        random.seed(seed)
        x = x[np.array(random.sample(range(len(x)), k=max_n))]
    dist = pairwise_distances(x)
    g = (1 / (sigma * np.sqrt(2 * np.pi))) * np.exp(-(dist**2) / (2 * sigma**2))
    deg = np.diag(1 / np.sum(g, axis=1) ** 0.5)
    eig = np.linalg.eigvalsh(deg @ g @ deg)
    if drop_trivial:
        eig = np.array(sorted(eig)[::-1])[1:]
    eig = np.abs(eig) ** t
    p = eig / eig.sum() + np.finfo(float).eps
    return float(-np.sum(p * np.log2(p)))


def official_dsmi(z: np.ndarray, labels: np.ndarray, reps=5, seed=0, entropy=official_dse) -> float:
    """api/dsmi.py step 2: per class, re-seed Python's random and average DSE of same-size random subsets."""
    values, counts = np.unique(labels, return_counts=True)
    terms = []
    for c in values:
        h_cond = entropy(z[labels == c])
        random.seed(seed)
        h_marg = [
            entropy(z[np.array(random.sample(range(len(labels)), k=int(np.sum(labels == c))))])
            for _ in range(reps)
        ]
        terms.append(np.mean(h_marg) - h_cond)
    return float(np.sum(counts / counts.sum() * np.array(terms)))


def test_diffusion_operator_has_the_spectrum_of_the_row_stochastic_matrix():
    z = np.random.default_rng(10).standard_normal((50, 4)) * 3
    k = diffusion_operator(z, sigma=2.0)
    assert torch.allclose(k, k.T, atol=1e-15)
    g = np.exp(-(pairwise_distances(z) ** 2) / (2 * 2.0**2))
    p = g / g.sum(axis=1, keepdims=True)
    eig_p = np.sort(np.linalg.eigvals(p).real)
    assert np.allclose(np.sort(torch.linalg.eigvalsh(k).numpy()), eig_p, atol=1e-10)
    assert eig_p[-1] == pytest.approx(1.0, abs=1e-12)


def test_dse_on_a_fixed_tiny_input():
    z = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    # Value of the official algorithm (official_dse above) on this input, sigma = 1, t = 1.
    assert official_dse(z, sigma=1.0) == pytest.approx(2.2829165331, abs=1e-9)
    assert diffusion_spectral_entropy(z, sigma=1.0) == pytest.approx(2.2829165331, abs=1e-9)


@pytest.mark.parametrize("sigma", [1.0, 10.0])
@pytest.mark.parametrize("t", [1, 2])
@pytest.mark.parametrize("drop_trivial", [False, True])
def test_dse_matches_official_algorithm(sigma, t, drop_trivial):
    z = np.random.default_rng(11).standard_normal((80, 6)) * 4
    ours = diffusion_spectral_entropy(torch.as_tensor(z), sigma, t, drop_trivial=drop_trivial)
    assert ours == pytest.approx(official_dse(z, sigma, t, drop_trivial), abs=1e-9)


def test_dse_subsampling_matches_official_max_n():
    z = np.random.default_rng(12).standard_normal((70, 3)) * 5
    ours = diffusion_spectral_entropy(z, 3.0, max_n=40, seed=4)
    assert ours == pytest.approx(official_dse(z, 3.0, max_n=40, seed=4), abs=1e-9)
    assert ours != pytest.approx(diffusion_spectral_entropy(z, 3.0, max_n=40, seed=5), abs=1e-6)


def test_dsmi_matches_official_algorithm():
    rng = np.random.default_rng(13)
    z = rng.standard_normal((120, 5)) * 6
    labels = rng.integers(0, 4, 120)
    z[:, 0] += 10 * labels  # some dependence
    dse = lambda rows: official_dse(rows, sigma=5.0)  # noqa: E731
    assert diffusion_spectral_mutual_information(z, labels, 5.0) == pytest.approx(
        official_dsmi(z, labels, entropy=dse), abs=1e-9
    )
    # A continuous scalar reference is binned into n_clusters equal-width bins after min-max scaling.
    y = labels + 0.3 * rng.standard_normal(120)
    bins = np.digitize((y - y.min()) / (y.max() - y.min()), np.linspace(0, 1, 11)[:-1])
    assert np.array_equal(reference_clusters(y), bins)
    assert diffusion_spectral_mutual_information(z, y, 5.0) == pytest.approx(
        official_dsmi(z, bins, entropy=dse), abs=1e-9
    )
    # CSMI: the same estimator with classic (binned) Shannon entropy.
    assert diffusion_spectral_mutual_information(z, labels, entropy="cse") == pytest.approx(
        official_dsmi(z, labels, entropy=classic_shannon_entropy), abs=1e-9
    )


def test_classic_shannon_entropy_counts_cells():
    z = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [0.9, 1.0]])  # two occupied cells, two points each
    assert classic_shannon_entropy(z) == pytest.approx(1.0, abs=1e-9)
    assert classic_shannon_entropy(np.ones((5, 3))) == pytest.approx(0.0, abs=1e-9)


# --------------------------------------------------------------------------------------------
# DSE / DSMI: properties claimed in the paper
# --------------------------------------------------------------------------------------------


def test_spectral_entropy_limits():
    assert spectral_entropy(torch.ones(16)) == pytest.approx(4.0, abs=1e-9)  # flat spectrum: log2 N
    assert spectral_entropy(torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.0, abs=1e-12)


def test_dse_grows_with_intrinsic_dimension_even_with_noise():
    clean, noisy = [], []
    for k in range(1, 7):
        z = embedded_cube(300, k, 32, scale=5.0, seed=k)
        clean.append(diffusion_spectral_entropy(z))
        noisy.append(
            diffusion_spectral_entropy(z + 0.25 * np.random.default_rng(50 + k).standard_normal(z.shape))
        )
    assert np.all(np.diff(clean) > 0.2)
    assert np.all(np.diff(noisy) > 0.2)


def test_dse_is_invariant_to_rotation_and_translation():
    z = np.random.default_rng(14).standard_normal((200, 16)) * 4
    moved = z @ random_rotation(16, 15) + 7.0
    assert diffusion_spectral_entropy(moved) == pytest.approx(diffusion_spectral_entropy(z), abs=1e-8)


def test_dse_resists_noise_where_classic_entropy_saturates():
    # Cubes of half-width 5 in R^32; noise 0.1 per coordinate (2% of the half-width).
    dse, dse_noisy, cse, cse_noisy = [], [], [], []
    for k in [1, 2, 3, 4]:
        z = embedded_cube(300, k, 32, scale=5.0, seed=20 + k)
        zn = z + 0.1 * np.random.default_rng(30 + k).standard_normal(z.shape)
        dse.append(diffusion_spectral_entropy(z))
        dse_noisy.append(diffusion_spectral_entropy(zn))
        cse.append(classic_shannon_entropy(z))
        cse_noisy.append(classic_shannon_entropy(zn))
    dse, dse_noisy, cse, cse_noisy = map(np.array, (dse, dse_noisy, cse, cse_noisy))
    # Small noise moves DSE by a small fraction of its range over k ...
    assert np.max(np.abs(dse_noisy - dse)) < 0.1 * np.ptp(dse)
    # ... while binned entropy jumps towards log2 N and loses most of its sensitivity to k.
    assert np.max(np.abs(cse_noisy - cse)) > 0.5 * np.ptp(cse)
    assert np.ptp(cse_noisy) < 0.2 * np.ptp(cse)


def test_dsmi_is_zero_for_random_labels_and_large_for_cluster_labels():
    rng = np.random.default_rng(16)
    centers = rng.standard_normal((5, 16)) * 15
    labels = rng.integers(0, 5, 400)
    z = centers[labels] + 2 * rng.standard_normal((400, 16))
    assert diffusion_spectral_mutual_information(z, labels) > 1.0
    shuffled = np.random.default_rng(17).permutation(labels)
    assert abs(diffusion_spectral_mutual_information(z, shuffled)) < 0.05
