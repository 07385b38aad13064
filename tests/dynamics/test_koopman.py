"""The Koopman maths (``dynamics.koopman``) and the systems (``dynamics.systems``) against closed forms: the ridge
operator recovers a linear system exactly, the InfoNCE equals its per-anchor definition, the von Neumann entropy of
isotropic and rank-r latents, exact rollouts of a linear system, and the Stuart–Landau integration against its
closed-form radius."""

import math

import numpy as np
import pytest
import torch

from subspacelab.dynamics import koopman as kp
from subspacelab.dynamics import systems


def _linear_sequences(B=5, T=16, H=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = (
        torch.linalg.qr(torch.randn(H, H, generator=g, dtype=torch.float64))[0] * 0.97
    )  # a stable rotation-like map
    z = [torch.randn(B, H, generator=g, dtype=torch.float64)]
    for _ in range(T):
        z.append(z[-1] @ A)
    Z = torch.stack(z, 1)
    return Z[:, :-1], Z[:, 1:], A


def test_the_ridge_operator_is_the_primal_ridge_solution_and_recovers_a_linear_system():
    Z, Zn, A = _linear_sequences()
    K = kp.ridge_koopman(Z, Zn, ridge=0.1)
    eye = torch.eye(Z.shape[-1], dtype=Z.dtype)
    primal = torch.linalg.solve(Z.transpose(1, 2) @ Z + 0.1 * eye, Z.transpose(1, 2) @ Zn)
    torch.testing.assert_close(K, primal, rtol=1e-9, atol=1e-10)
    exact = kp.ridge_koopman(Z, Zn, ridge=1e-12)
    torch.testing.assert_close(exact, A.expand_as(exact), rtol=0, atol=1e-8)


def test_info_nce_equals_its_per_anchor_definition():
    g = torch.Generator().manual_seed(1)
    Z = torch.randn(3, 10, 5, generator=g, dtype=torch.float64)
    k, tau = 2, 0.1
    z = torch.nn.functional.normalize(Z, dim=-1)
    losses = []
    for b in range(3):
        for n in range(k, 10 - k):
            s = [(z[b, n] @ z[b, m] / tau).exp() for m in range(10)]
            pos = sum(s[m] for m in range(10) if 1 <= abs(m - n) <= k)
            neg = sum(s[m] for m in range(10) if abs(m - n) > k)
            losses.append(-torch.log(pos / (pos + neg)))
    assert float(kp.temporal_info_nce(Z, k, tau)) == pytest.approx(
        float(torch.stack(losses).mean()), rel=1e-10
    )
    with pytest.raises(ValueError, match="2k"):
        kp.temporal_info_nce(Z[:, :4], k=2)


def test_von_neumann_entropy_of_isotropic_and_low_rank_latents():
    g = torch.Generator().manual_seed(2)
    iso = torch.randn(200_000, 6, generator=g, dtype=torch.float64)
    assert float(kp.von_neumann_entropy(iso)) == pytest.approx(math.log(6), abs=2e-3)
    basis = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))[0]
    flat = torch.randn(100_000, 2, generator=g, dtype=torch.float64) @ basis.T
    assert kp.effective_rank(flat) == pytest.approx(2.0, abs=0.01)
    one = torch.randn(500, 1, generator=g, dtype=torch.float64) * torch.ones(1, 6, dtype=torch.float64)
    assert kp.effective_rank(one) == pytest.approx(1.0, abs=1e-3)


class _Identity:
    def encode(self, x):
        return x

    def decode(self, z):
        return z


def test_rollouts_of_a_linear_system_with_its_own_operator_are_exact_and_the_spectrum_reads_it():
    Z, Zn, A = _linear_sequences(T=40)
    traj = torch.cat([Z, Zn[:, -1:]], 1)
    errors = kp.rollout_errors(_Identity(), A, traj, [1, 10, 40])
    assert max(errors.values()) < 1e-12
    wrong = kp.rollout_errors(_Identity(), torch.eye(4, dtype=A.dtype), traj, [10])
    assert wrong[10] > 0.1
    rotation = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    spec = kp.spectrum(rotation)
    assert spec["max_modulus"] == pytest.approx(1.0) and spec["near_unit_circle"] == 2
    assert kp.spectrum(A)["max_modulus"] == pytest.approx(0.97)


def test_the_global_operator_is_the_mean_of_the_window_operators():
    torch.manual_seed(0)
    model = kp.MLPAutoencoder(6, 3, 8).double()
    x = torch.randn(10, 9, 6, dtype=torch.float64)
    K = kp.global_operator(model, x[:, :-1], x[:, 1:], ridge=0.1, chunk=3)
    with torch.no_grad():
        ref = kp.ridge_koopman(model.encode(x[:, :-1]), model.encode(x[:, 1:]), 0.1).mean(0)
    torch.testing.assert_close(K, ref)


def test_the_pooled_operator_fits_every_latent_pair_at_once():
    torch.manual_seed(0)
    model = kp.MLPAutoencoder(6, 3, 8).double()
    x = torch.randn(10, 9, 6, dtype=torch.float64)
    K = kp.pooled_operator(model, x[:, :-1], x[:, 1:], ridge=0.1)
    with torch.no_grad():
        Z, Zn = model.encode(x[:, :-1]).reshape(-1, 3), model.encode(x[:, 1:]).reshape(-1, 3)
    torch.testing.assert_close(K, kp.ridge_koopman(Z[None], Zn[None], 0.1)[0])


def test_the_loss_adds_each_term_with_its_weight():
    torch.manual_seed(0)
    model = kp.MLPAutoencoder(6, 4, 8).double()
    x = torch.randn(4, 9, 6, dtype=torch.float64)
    w = kp.LossWeights(identity=0.1, mi=2.0, entropy=-0.1, mi_window=2)
    total, parts, K = kp.koopman_loss(model, x[:, :-1], x[:, 1:], w)
    assert not K.requires_grad
    expected = parts["fwd"] + 0.1 * parts["id"] + 2.0 * parts["mi"] - 0.1 * parts["entropy"]
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    plain_total, plain, _ = kp.koopman_loss(model, x[:, :-1], x[:, 1:], kp.LossWeights(mi=0.0))
    assert set(plain) == {"fwd", "id"} and float(plain_total) == pytest.approx(
        float(plain["fwd"] + 0.1 * plain["id"])
    )


def test_stuart_landau_radius_and_phase_follow_their_closed_form():
    rng = np.random.default_rng(0)
    z = systems.stuart_landau_states(3, 50, 0.1, rng, mu=1.0, omega=2.0)
    t = np.arange(50) * 0.1
    r0, th0 = np.abs(z[:, :1]), np.angle(z[:, :1])
    radius = 1.0 / np.sqrt(1 + (1.0 / r0**2 - 1) * np.exp(-2 * t[None]))  # r' = r - r^3
    np.testing.assert_allclose(np.abs(z), radius, rtol=1e-6)
    np.testing.assert_allclose(np.exp(1j * np.angle(z)), np.exp(1j * (th0 + 2.0 * t[None])), atol=1e-6)
    assert systems.stuart_landau_field(3, 50, 0.1, np.random.default_rng(0), noise=0.0).shape == (3, 50, 256)


@pytest.mark.parametrize("system", systems.SYSTEMS)
def test_each_system_is_seeded_and_finite(system):
    a = systems.observations(system, 2, 30, seed=4, obs_dim=16)
    assert np.array_equal(a, systems.observations(system, 2, 30, seed=4, obs_dim=16))
    assert np.isfinite(a).all() and a.std() > 0
    assert not np.array_equal(a, systems.observations(system, 2, 30, seed=5, obs_dim=16))
    with pytest.raises(ValueError, match="unknown system"):
        systems.observations("pendulum", 1, 10, 0)
