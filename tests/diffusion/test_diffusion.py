"""The generative harness (subspacelab.diffusion) and the union-of-subspaces generator: closed forms against
autograd and brute force, Tweedie, the paper's K = 1 equivalence with PCA, the Stiefel constraint, samplers on
a known low-rank Gaussian, generator invariants, principal angles, K-subspaces, schedules and metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from subspacelab.diffusion import losses, samplers
from subspacelab.diffusion.ksubspaces import ksubspaces
from subspacelab.diffusion.metrics import (
    coverage_error,
    denoiser_jacobian,
    frechet_distance,
    generation_report,
    memorised,
    numerical_rank,
)
from subspacelab.diffusion.mlp import MLPDenoiser
from subspacelab.diffusion.molrg import LowRankGaussianMixture, LowRankMoLRGDenoiser
from subspacelab.diffusion.schedules import VESchedule, VPSchedule, make_schedule
from subspacelab.lit.diffusion import fit_denoiser
from subspacelab.numerics import union_of_subspaces as uos

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _mog_mixture(n=10, seed=0) -> LowRankGaussianMixture:
    """A MoLR-MoG with non-zero latent means, non-orthonormal latent factors of unequal ranks."""
    rng = np.random.default_rng(seed)
    A = uos.random_bases(n, [3, 2], seed=seed)
    means = [torch.from_numpy(rng.normal(size=(2, 3))), torch.from_numpy(rng.normal(size=(1, 2)))]
    factors = [
        [torch.from_numpy(rng.normal(size=(3, 2))), torch.from_numpy(rng.normal(size=(3, 1)))],
        [torch.from_numpy(0.5 * rng.normal(size=(2, 2)))],
    ]
    weights = [torch.tensor([0.3, 0.7]), torch.tensor([1.0])]
    return LowRankGaussianMixture.molr_mog(A, means, factors, weights, weights=[0.6, 0.4])


def _molrg(n=10, dims=(2, 3), seed=1) -> tuple[list[torch.Tensor], LowRankGaussianMixture]:
    bases = uos.random_bases(n, list(dims), seed=seed)
    return bases, LowRankGaussianMixture.molrg(bases)


# ----------------------------------------------------------------------------------------------
# closed forms
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["molrg", "molr_mog"])
def test_closed_form_score_is_autograd_of_log_density(which):
    mix = _molrg()[1] if which == "molrg" else _mog_mixture()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, mix.ambient, generator=gen, dtype=F64).requires_grad_(True)
    s = torch.rand(7, generator=gen, dtype=F64) * 0.9 + 0.1  # one (s, γ) per row
    g = torch.rand(7, generator=gen, dtype=F64) * 0.9 + 0.05
    (grad,) = torch.autograd.grad(mix.log_prob(x, s, g).sum(), x)
    torch.testing.assert_close(mix.score(x.detach(), s, g), grad, rtol=1e-9, atol=1e-10)
    # scalar (s, γ) too
    (grad1,) = torch.autograd.grad(mix.log_prob(x, 0.8, 0.3).sum(), x)
    torch.testing.assert_close(mix.score(x.detach(), 0.8, 0.3), grad1, rtol=1e-9, atol=1e-10)


def test_log_density_matches_dense_gaussians():
    """Woodbury log-density against torch.distributions with the dense covariance s²FFᵀ + γ²I."""
    mix = _mog_mixture(n=8)
    x = torch.randn(5, 8, dtype=F64, generator=torch.Generator().manual_seed(0))
    s, g = 0.7, 0.4
    comps = []
    for mu, F, lw in zip(mix.means, mix.factors, mix.log_weights, strict=True):
        cov = s**2 * F @ F.T + g**2 * torch.eye(8, dtype=F64)
        comps.append(lw + torch.distributions.MultivariateNormal(s * mu, cov).log_prob(x))
    torch.testing.assert_close(
        mix.log_prob(x, s, g), torch.logsumexp(torch.stack(comps, 1), 1), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("which", ["molrg", "molr_mog"])
def test_tweedie_posterior_mean(which):
    mix = _molrg()[1] if which == "molrg" else _mog_mixture()
    x = 2 * torch.randn(6, mix.ambient, dtype=F64, generator=torch.Generator().manual_seed(1))
    for s, g in [(1.0, 0.05), (0.6, 0.8), (0.05, 1.0)]:
        lhs = mix.posterior_mean(x, s, g)
        torch.testing.assert_close(lhs, (x + g**2 * mix.score(x, s, g)) / s, rtol=1e-9, atol=1e-9)
        # and through the harness's adapters
        torch.testing.assert_close(losses.denoiser_from_score(mix.score)(x, s, g), lhs, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(
            losses.score_from_denoiser(mix)(x, s, g), mix.score(x, s, g), rtol=1e-8, atol=1e-8
        )


def test_posterior_mean_is_the_conditional_expectation():
    """Monte Carlo check of E[x_0 | x_t] for one low-rank Gaussian (Gaussian conditioning in closed form)."""
    bases, mix = _molrg(n=6, dims=(2,), seed=2)
    U = bases[0]
    s, g = 0.8, 0.5
    x = torch.randn(4, 6, dtype=F64, generator=torch.Generator().manual_seed(2))
    expected = (s / (s**2 + g**2)) * (x @ U) @ U.T  # Cov(x0, xt) Cov(xt)^-1 xt
    torch.testing.assert_close(mix.posterior_mean(x, s, g), expected, rtol=1e-10, atol=1e-12)


def test_lowrank_denoiser_with_true_bases_is_the_optimal_denoiser():
    bases, mix = _molrg(n=10, dims=(2, 3))  # unequal dimensions: the log-det terms of the gate matter
    model = LowRankMoLRGDenoiser(10, [2, 3], init=bases)
    x = torch.randn(9, 10, dtype=F64, generator=torch.Generator().manual_seed(4))
    s = torch.linspace(0.2, 1.0, 9, dtype=F64)
    g = torch.linspace(0.05, 2.0, 9, dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(model(x, s, g), mix.posterior_mean(x, s, g), rtol=1e-9, atol=1e-10)


def test_dsm_equals_weighted_denoising_loss():
    _, mix = _molrg()
    x0, _ = mix.sample(64, seed=0)
    levels = losses.NoiseLevels("uniform_t", schedule=VPSchedule())
    b = losses.noisy_batch(x0, levels, torch.Generator().manual_seed(0))
    wrong = lambda x, s, g: 0.9 * mix.posterior_mean(x, s, g)  # noqa: E731 - a deliberately imperfect denoiser
    per_dsm = ((losses.score_from_denoiser(wrong)(b.xt, b.s, b.gamma) + b.eps / b.gamma[:, None]) ** 2).sum(
        -1
    )
    per_den = ((wrong(b.xt, b.s, b.gamma) - b.x0) ** 2).sum(-1)
    torch.testing.assert_close(per_dsm, b.s**2 / b.gamma**4 * per_den, rtol=1e-8, atol=1e-8)
    assert float(losses.dsm_loss(losses.score_from_denoiser(wrong), b)) == pytest.approx(
        float(per_dsm.mean())
    )


def test_optimal_denoiser_has_the_lowest_loss_and_zero_score_error():
    _, mix = _molrg()
    x0, _ = mix.sample(4000, seed=1)
    levels = losses.NoiseLevels("edm")
    b = losses.noisy_batch(x0, levels, torch.Generator().manual_seed(1))
    opt = float(losses.denoising_loss(mix, b))
    for scale in (0.9, 1.1):
        assert float(losses.denoising_loss(lambda x, s, g, c=scale: c * mix(x, s, g), b)) > opt
    assert losses.score_mse(mix.score, mix.score, b.xt, b.s, b.gamma) == 0.0


# ----------------------------------------------------------------------------------------------
# the low-rank denoiser: training, Stiefel constraint, K = 1 is PCA
# ----------------------------------------------------------------------------------------------
def test_retraction_keeps_span_and_orthonormality():
    model = LowRankMoLRGDenoiser(12, [3, 2], seed=0, replicas=2)
    before = [model.bases(r) for r in range(2)]
    with torch.no_grad():
        for U in model.U:  # a non-orthonormal but same-span perturbation: U ← U M
            M = torch.tensor([[2.0, 0.3, 0.1], [0.0, 1.5, -0.2], [0.0, 0.0, 0.7]], dtype=F64)
            U.copy_(U @ M[: U.shape[-1], : U.shape[-1]])
    assert model.orthonormality_error() > 0.1
    model.retract()
    assert model.orthonormality_error() < 1e-12
    for r in range(2):
        for B, A in zip(model.bases(r), before[r], strict=True):
            assert uos.projector_distance(A, B) < 1e-12


def test_k1_trained_dae_recovers_the_pca_subspace_of_the_samples():
    """Theorem 1: with K = 1 the denoising loss is minimised by the top-d (uncentred) principal subspace of the
    training samples. Noisy samples make that subspace differ from the true one, so the test can tell them apart.
    (The stochastic gradient's noise leaves a floor of ~0.01 at this batch size: the EDM weight ~1/σ² makes the
    ε-terms' gradients heavy-tailed; larger batches go lower.)"""
    bases = uos.random_bases(12, [2], seed=5)
    X, _ = uos.sample_union(bases, 30, seed=6, noise=0.15)
    pca = uos.top_subspace(X, 2)
    assert uos.projector_distance(pca, bases[0]) > 0.08
    model = LowRankMoLRGDenoiser(12, [2], seed=1)
    fit_denoiser(model, X, losses.NoiseLevels("edm"), steps=300, lr=0.05, batch=1024, seed=0)
    assert model.orthonormality_error() < 1e-12  # stays on the Stiefel manifold through training
    dist_pca = uos.projector_distance(model.bases()[0], pca)
    assert dist_pca < 0.03
    assert dist_pca < 0.3 * uos.projector_distance(model.bases()[0], bases[0])
    # K-subspaces with K = 1 is the same PCA (the equivalence the paper's experiment compares against)
    ks = ksubspaces(X, [2], restarts=2, seed=0)
    assert uos.projector_distance(ks.bases[0], pca) < 1e-10


def test_replicas_train_independently():
    """Two replicas in one model follow the trajectories of two separate single-replica runs."""
    bases = uos.random_bases(8, [2, 2], seed=0)
    X, _ = uos.sample_union(bases, 6, seed=0)
    inits = [uos.random_bases(8, [2, 2], seed=s, disjoint=False) for s in (10, 11)]
    both = LowRankMoLRGDenoiser(
        8, [2, 2], init=[torch.stack([inits[0][k], inits[1][k]]) for k in range(2)], replicas=2
    )
    cfg = {"steps": 15, "lr": 0.05, "batch": 32, "seed": 3}
    fit_denoiser(both, X, losses.NoiseLevels("edm"), **cfg)
    single = LowRankMoLRGDenoiser(8, [2, 2], init=inits[1])
    fit_denoiser(single, X, losses.NoiseLevels("edm"), **cfg)
    for A, B in zip(both.bases(1), single.bases(0), strict=True):
        torch.testing.assert_close(A, B, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# samplers
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,schedule,steps",
    [
        ("ddpm", VPSchedule(), 200),
        ("ode", VPSchedule(), 40),
        ("ode", VESchedule(0.002, 80.0), 30),
        ("ddpm", VESchedule(0.01, 50.0), 200),
    ],
)
def test_samplers_draw_from_a_single_low_rank_gaussian(kind, schedule, steps):
    bases, mix = _molrg(n=10, dims=(3,), seed=7)
    U = bases[0]
    t_min = 1e-3 if schedule.name == "vp" else 0.0
    X = samplers.sample(kind, mix, schedule, 3000, 10, seed=0, steps=steps, t_min=t_min)
    assert float(uos.distance_to_union(X, bases, relative=True).max()) < 1e-8  # on the subspace
    coef = X @ U
    eig = torch.linalg.eigvalsh(coef.T @ coef / X.shape[0])
    assert float(eig.min()) > 0.85 and float(eig.max()) < 1.15  # with the right spread: a ~ N(0, I_3)
    assert float(coef.mean(0).abs().max()) < 0.1


def test_samplers_reject_zero_noise_end():
    _, mix = _molrg()
    with pytest.raises(ValueError):
        samplers.sample("ode", mix, VPSchedule(), 4, 10, seed=0, steps=3, t_min=0.0)
    with pytest.raises(ValueError):
        samplers.sample("nope", mix, VPSchedule(), 4, 10, seed=0, steps=3)


# ----------------------------------------------------------------------------------------------
# schedules
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [VPSchedule(), VPSchedule(0.5, 0.5), VESchedule(0.01, 50.0)])
def test_schedule_identities_and_derivatives(schedule):
    t = torch.linspace(0.02, 0.98, 13, dtype=F64, requires_grad=True)
    s, g, sig = schedule.s(t) + 0 * t, schedule.gamma(t), schedule.sigma(t)  # (+ 0·t: VE's s is constant)
    torch.testing.assert_close(sig, g / s, rtol=1e-10, atol=0)
    if schedule.name == "vp":
        torch.testing.assert_close(s**2 + g**2, torch.ones_like(s), rtol=1e-12, atol=1e-12)
    (ds,) = torch.autograd.grad(s.sum(), t, retain_graph=True)
    (dsig,) = torch.autograd.grad(schedule.sigma(t).sum(), t)
    torch.testing.assert_close(schedule.ds(t.detach()), ds, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(schedule.dsigma(t.detach()), dsig, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(schedule.t_of_sigma(sig.detach()), t.detach(), rtol=1e-9, atol=1e-12)
    # g² = d(γ²)/dt − 2 f γ²
    (dg2,) = torch.autograd.grad((schedule.gamma(t) ** 2).sum(), t)
    f = schedule.f(t.detach())
    torch.testing.assert_close(schedule.g2(t.detach()), dg2 - 2 * f * g.detach() ** 2, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError):
        make_schedule("cosine")


# ----------------------------------------------------------------------------------------------
# the union-of-subspaces generator and its metrics
# ----------------------------------------------------------------------------------------------
def test_random_bases_invariants():
    B = uos.random_bases(20, [3, 5, 2], seed=4)
    assert [b.shape for b in B] == [(20, 3), (20, 5), (20, 2)] and all(b.dtype == F64 for b in B)
    Q = torch.cat(B, dim=1)
    # orthonormal and mutually orthogonal
    torch.testing.assert_close(Q.T @ Q, torch.eye(10, dtype=F64), rtol=0, atol=1e-12)
    for a, b in zip(B, uos.random_bases(20, [3, 5, 2], seed=4), strict=True):
        assert torch.equal(a, b)  # seeded
    ind = uos.random_bases(20, [3, 5], seed=4, disjoint=False)
    for b in ind:
        torch.testing.assert_close(b.T @ b, torch.eye(b.shape[1], dtype=F64), rtol=0, atol=1e-12)
    assert float((ind[0].T @ ind[1]).abs().max()) > 1e-3  # independent subspaces are not orthogonal
    with pytest.raises(ValueError):
        uos.random_bases(6, [4, 3], seed=0)
    with pytest.raises(ValueError):
        uos.random_bases(6, [0], seed=0)


@pytest.mark.parametrize("coefficients", ["gaussian", "sphere", "uniform"])
def test_sample_union_invariants(coefficients):
    B = uos.random_bases(15, [2, 4], seed=1)
    X, y = uos.sample_union(B, [5, 7], seed=2, coefficients=coefficients)
    assert X.shape == (12, 15) and y.tolist() == [0] * 5 + [1] * 7
    res = uos.residuals_to_subspaces(X, B)
    assert (
        float(res[y == 0, 0].max()) < 1e-12 and float(res[y == 1, 1].max()) < 1e-12
    )  # on their own subspace
    assert float(res[y == 0, 1].min()) > 1e-3
    if coefficients == "sphere":
        torch.testing.assert_close(X.norm(dim=1), torch.ones(12, dtype=F64))
    # nested in n_per: the first points are shared by larger draws, with or without noise
    for noise in (0.0, 0.3):
        Xs, ys = uos.sample_union(B, 3, seed=2, coefficients=coefficients, noise=noise)
        Xl, yl = uos.sample_union(B, 9, seed=2, coefficients=coefficients, noise=noise)
        for k in range(2):  # (equal up to the BLAS rounding of different-sized products)
            torch.testing.assert_close(Xs[ys == k], Xl[yl == k][:3], rtol=1e-13, atol=1e-14)
    Xn, _ = uos.sample_union(B, [5, 7], seed=2, coefficients=coefficients, noise=0.3)
    assert 0.1 < float((Xn - X).std()) < 0.5
    with pytest.raises(ValueError):
        uos.sample_union(B, [1, 2, 3], seed=0)
    with pytest.raises(ValueError):
        uos.sample_union(B, 2, seed=0, coefficients="laplace")


def test_principal_angles_known_and_tiny():
    n = 9
    E = torch.eye(n, dtype=F64)
    for theta in (1e-9, 1e-4, 0.3, 1.2, math.pi / 2):
        U = E[:, :2]
        V = torch.stack([math.cos(theta) * E[:, 0] + math.sin(theta) * E[:, 5], E[:, 1]], dim=1)
        ang = uos.principal_angles(U, V)
        torch.testing.assert_close(ang, torch.tensor([0.0, theta], dtype=F64), rtol=1e-6, atol=1e-15)
        # projector distance = RMS sine
        assert uos.projector_distance(U, V) == pytest.approx(
            math.sqrt(math.sin(theta) ** 2 / 2), rel=1e-6, abs=1e-15
        )
    # unequal dimensions: min(d_U, d_V) angles; a subspace contains another -> zero angles
    assert torch.allclose(uos.principal_angles(E[:, :4], E[:, 1:3]), torch.zeros(2, dtype=F64))
    # against scipy
    from scipy.linalg import subspace_angles

    A, B = torch.randn(n, 3, dtype=F64), torch.randn(n, 2, dtype=F64)
    ref = np.sort(subspace_angles(A.numpy(), B.numpy()))
    np.testing.assert_allclose(uos.principal_angles(A, B).numpy(), ref, atol=1e-12)


def test_subspace_error_is_permutation_and_basis_invariant():
    B = uos.random_bases(12, [3, 3, 2], seed=3)
    rot = torch.linalg.qr(torch.randn(3, 3, dtype=F64))[0]
    est = [B[2], B[0] @ rot, B[1]]
    assert uos.subspace_error(est, B) < 1e-12
    other = uos.random_bases(12, [3, 3, 2], seed=3)  # same subspaces
    assert uos.subspace_error(other, B) < 1e-12
    E = torch.eye(12, dtype=F64)
    assert uos.subspace_error([E[:, :2]], [E[:, 2:4]]) == pytest.approx(1.0)
    perm, D = uos.match_subspaces(est, B)
    assert perm == [1, 2, 0] and D.shape == (3, 3)


def test_distance_to_union_and_nearest_subspace():
    E = torch.eye(6, dtype=F64)
    bases = [E[:, :2], E[:, 2:4]]
    X = torch.tensor([[3.0, 4.0, 0, 0, 0, 0], [0, 0, 1.0, 0, 2.0, 0], [1.0, 0, 1.0, 0, 0, 0]], dtype=F64)
    torch.testing.assert_close(uos.distance_to_union(X, bases), torch.tensor([0.0, 2.0, 1.0], dtype=F64))
    rel = uos.distance_to_union(X, bases, relative=True)
    torch.testing.assert_close(rel[1], torch.tensor(2 / math.sqrt(5), dtype=F64))
    assert uos.nearest_subspace(X[:2], bases).tolist() == [0, 1]
    assert uos.nearest_neighbour_distance(X[:1], X).item() == 0.0


# ----------------------------------------------------------------------------------------------
# K-subspaces
# ----------------------------------------------------------------------------------------------
def test_ksubspaces_recovers_planted_clusters_at_low_noise():
    B = uos.random_bases(10, [2, 2, 2], seed=8, disjoint=False)
    X, y = uos.sample_union(B, 40, seed=9, noise=0.01)
    res = ksubspaces(X, [2, 2, 2], restarts=10, seed=0)
    assert uos.subspace_error(res.bases, B) < 0.02
    perm, _ = uos.match_subspaces(res.bases, B)
    mapped = torch.tensor([perm.index(int(c)) for c in res.labels])
    assert float((mapped == y).double().mean()) > 0.97
    assert 0.99 < res.explained <= 1.0


def test_ksubspaces_k1_is_pca_and_matches_sklearn():
    from sklearn.decomposition import TruncatedSVD

    X = torch.randn(50, 7, dtype=F64, generator=torch.Generator().manual_seed(0)) * torch.linspace(
        3, 0.5, 7, dtype=F64
    )
    res = ksubspaces(X, [3], restarts=3, seed=1)
    ref = (
        TruncatedSVD(3, algorithm="arpack").fit(X.numpy()).components_.T.copy()
    )  # uncentred principal directions
    assert uos.projector_distance(res.bases[0], torch.from_numpy(ref)) < 1e-8
    # a start at the answer is a fixed point
    again = ksubspaces(X, [3], restarts=1, seed=2, init=res.bases)
    assert uos.projector_distance(again.bases[0], res.bases[0]) < 1e-12


# ----------------------------------------------------------------------------------------------
# metrics and the MLP
# ----------------------------------------------------------------------------------------------
def test_numerical_rank_and_jacobian_of_the_optimal_denoiser():
    J = torch.diag(torch.tensor([10.0, 5.0, 0.01, 0.0], dtype=F64))
    assert numerical_rank(J) == 2 and numerical_rank(torch.zeros(3, 3)) == 0
    bases, mix = _molrg(n=8, dims=(3,), seed=4)  # K = 1: D(x) = s/(s²+γ²) UUᵀx exactly
    x = torch.randn(8, dtype=F64)
    Jm = denoiser_jacobian(mix, x, 0.9, 0.3)
    torch.testing.assert_close(Jm, 0.9 / (0.81 + 0.09) * bases[0] @ bases[0].T, rtol=1e-9, atol=1e-12)
    assert numerical_rank(Jm) == 3


def test_generation_metrics_tell_copies_from_new_samples():
    bases, mix = _molrg(n=12, dims=(2, 2), seed=5)
    train, _ = mix.sample(40, seed=1)
    fresh, _ = mix.sample(300, seed=2)
    copies = train[torch.arange(300) % 40] + 1e-4 * torch.randn(300, 12, dtype=F64)
    assert float(memorised(copies, train).double().mean()) == 1.0
    assert float(memorised(fresh, train).double().mean()) < 0.15
    rep_fresh, rep_copy = generation_report(fresh, train, bases), generation_report(copies, train, bases)
    assert rep_fresh["frac_generalised"] > 0.85 and rep_copy["frac_generalised"] == 0.0
    assert rep_fresh["coverage_error"] < 1e-10 and rep_fresh["frac_on_union"] == 1.0
    # samples that span only one direction of each subspace do not cover it
    a = torch.randn(150, 1, dtype=F64, generator=torch.Generator().manual_seed(3))
    flat = torch.cat([a @ bases[0][:, :1].T, a @ bases[1][:, :1].T])
    assert coverage_error(flat, bases) > 0.5


def test_mlp_denoiser_shape_size_and_learning():
    m = MLPDenoiser(48, seed=0)
    assert 45_000 < m.n_parameters() < 55_000
    assert m(torch.randn(5, 48), torch.ones(5), torch.full((5,), 0.3)).shape == (5, 48)
    assert torch.equal(MLPDenoiser(48, seed=0).net[0].weight, m.net[0].weight)  # the seed fixes the weights
    bases, mix = _molrg(n=8, dims=(2,), seed=6)
    X, _ = mix.sample(64, seed=0)
    small = MLPDenoiser(8, width=32, depth=2, seed=1)
    levels = losses.NoiseLevels("edm")
    b = losses.noisy_batch(X.float(), levels, torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = float(losses.denoising_loss(small, b))
    fit_denoiser(small, X, levels, steps=200, lr=1e-2, batch=64, seed=0)
    with torch.no_grad():
        assert float(losses.denoising_loss(small, b)) < 0.7 * before


def test_frechet_distance_matches_the_gaussian_closed_form_and_scipy():
    from scipy import linalg

    rng = np.random.default_rng(0)
    A = torch.from_numpy(rng.standard_normal((3000, 5)))
    B = torch.from_numpy(rng.standard_normal((3000, 5)) @ np.diag([1, 1, 2, 1, 1]) + 1.0)
    a, b = A.numpy(), B.numpy()
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(A, B) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(A, B) == pytest.approx(5 + (2 - 1) ** 2, rel=0.1)  # ||Δμ||² + (σ_B − σ_A)²
    assert frechet_distance(A, A) == pytest.approx(0.0, abs=1e-8)
