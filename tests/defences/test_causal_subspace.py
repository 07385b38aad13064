"""EigenShield's spectral filter (``defences.causal_subspace``): the Marchenko-Pastur edge leaves pure noise without
spikes and finds planted ones, the bulk variance is recovered, a stable planted direction scores as robust and the
bulk does not, and the projection is a projection (idempotent, identity on its subspace, the mean kept)."""

import math

import pytest
import torch

from subspacelab.defences.causal_subspace import (
    SubspaceProjection,
    bulk_variance,
    causal_directions,
    covariance_eigh,
    instability,
    largest_noise_eigenvalue_bound,
    mp_median,
    mp_upper_edge,
    random_basis,
    spectrum,
)


def _noise(n, d, seed, sd=1.0):
    return sd * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_the_edge_is_the_closed_form_and_the_median_that_of_the_law():
    assert mp_upper_edge(400, 100, 2.0) == pytest.approx(2.0 * (1 + 0.5) ** 2)
    ev = torch.linalg.eigvalsh(torch.cov(_noise(8000, 800, 0).T))  # a large sample of the law, ratio 0.1
    assert mp_median(0.1) == pytest.approx(float(ev.median()), rel=0.01)
    assert mp_median(1e-6) == pytest.approx(
        1.0, abs=1e-2
    )  # no noise in the estimate: the median is the variance
    assert (
        mp_upper_edge(10**5, 50) < largest_noise_eigenvalue_bound(10**5, 50) < 1.01 * mp_upper_edge(10**5, 50)
    )
    tops = [float(torch.linalg.eigvalsh(torch.cov(_noise(500, 40, s).T))[-1]) for s in range(40)]
    assert (
        sum(t > largest_noise_eigenvalue_bound(500, 40) for t in tops) <= 2
    )  # about 1% of noise draws exceed it


@pytest.mark.parametrize("seed", range(6))
def test_pure_noise_has_no_spike_above_the_edge(seed):
    spec = spectrum(_noise(2000, 80, seed))
    assert spec.n_spikes == 0
    assert spec.noise_variance == pytest.approx(1.0, rel=0.05)  # scaled noise: the bulk is all of it


def test_the_bulk_variance_ignores_planted_spikes():
    n, d = 3000, 60
    x = _noise(n, d, 0, sd=0.5)
    loud = torch.linalg.qr(_noise(d, 3, 1))[0]
    x = x + _noise(n, 3, 2, sd=4.0) @ loud.T
    vals, _ = covariance_eigh(x)
    s2 = bulk_variance(vals, n)
    assert s2 == pytest.approx(0.25, rel=0.08) and (vals > mp_upper_edge(n, d, s2)).sum() == 3


def test_planted_spikes_are_found_and_their_directions_recovered():
    n, d = 2000, 50
    directions = torch.linalg.qr(_noise(d, 2, 3))[0]
    x = _noise(n, d, 4) + _noise(n, 2, 5, sd=3.0) @ directions.T
    spec = spectrum(x)
    assert spec.n_spikes == 2
    top = spec.eigenvectors[:, :2]
    overlap = torch.linalg.svdvals(top.T @ directions)
    assert float(overlap.min()) > 0.98


def test_a_stable_direction_scores_as_robust_and_the_bulk_does_not():
    n, d = 2000, 40
    signal = torch.linalg.qr(_noise(d, 1, 6))[0]
    latent = _noise(n, 1, 7, sd=3.0)
    clean = _noise(n, d, 8) + latent @ signal.T
    perturbed = [_noise(n, d, 20 + b) + latent @ signal.T for b in range(3)]  # new noise, the same signal
    spec = spectrum(clean)
    scores = instability(spec, perturbed)
    assert spec.n_spikes == 1 and float(scores[0]) < 0.01
    assert float(scores[1:].median()) > 0.1
    assert causal_directions(spec, scores, level=0.05).tolist() == [0]
    unstable = [_noise(n, d, 30 + b) + _noise(n, 1, 40 + b, sd=3.0) @ signal.T for b in range(3)]
    assert (
        float(instability(spec, unstable)[0]) < 0.01
    )  # the same direction, other samples along it: still robust


def test_a_spike_that_moves_under_perturbation_is_not_causal():
    n, d = 2000, 40
    a, b = torch.linalg.qr(_noise(d, 2, 9))[0].T
    clean = _noise(n, d, 10) + _noise(n, 1, 11, sd=3.0) @ a[None]
    moved = [
        _noise(n, d, 12 + i) + _noise(n, 1, 13 + i, sd=3.0) @ b[None] for i in range(3)
    ]  # the spike moves
    spec = spectrum(clean)
    scores = instability(spec, moved)
    assert spec.n_spikes == 1 and float(scores[0]) > 0.5
    assert causal_directions(spec, scores).numel() == 0


def test_the_projection_is_idempotent_keeps_the_mean_and_its_subspace():
    d, k = 12, 3
    gen = torch.Generator().manual_seed(0)
    basis = random_basis(d, k, gen)
    torch.testing.assert_close(basis.T @ basis, torch.eye(k, dtype=torch.float64))
    mean, scale = torch.randn(d, generator=gen), torch.rand(d, generator=gen) + 0.5
    proj = SubspaceProjection(mean, scale, basis)
    e = torch.randn(7, d, generator=gen)
    once = proj(e)
    torch.testing.assert_close(proj(once), once, atol=1e-5, rtol=0)
    torch.testing.assert_close(proj(mean[None]), mean[None])
    inside = mean + scale * (torch.randn(5, k, generator=gen) @ basis.float().T)
    torch.testing.assert_close(proj(inside), inside, atol=1e-5, rtol=0)
    e.requires_grad_(True)
    proj(e).sum().backward()  # differentiable: an adaptive attack can go through it
    assert e.grad is not None and math.isfinite(float(e.grad.sum()))
