"""Classic dynamical systems as observation sequences, integrated by ``scipy.integrate.solve_ivp``.

Each system draws ``n`` trajectories of ``length`` states from seeded random initial conditions and returns
observations (n, length, obs_dim):

- ``duffing``: the unforced, lightly damped double-well Duffing oscillator ẍ = −δẋ + x − x³, its 2-d state lifted
  to ``obs_dim`` observations by fixed random Gaussian bumps (radial features) of the state.
- ``lorenz``: Lorenz-63 (σ = 10, ρ = 28, β = 8/3) started near the attractor, lifted the same way from the
  state scaled to unit spread.
- ``stuart_landau``: a Stuart–Landau oscillator ż = (μ + iω)z − |z|²z, started off its limit cycle, driving a
  16 × 16 field u = Σ_{m=1..3} Re(z^m)Φ_m + Im(z^m)Ψ_m + a(t)Φ_0 with fixed random smooth spatial modes and a slowly
  decaying mode a(t) = a_0 e^{−t/5} (vortex-shedding-like), plus observation noise.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

SYSTEMS = ("duffing", "lorenz", "stuart_landau")


def _integrate(rhs, y0: np.ndarray, length: int, dt: float) -> np.ndarray:
    t = np.arange(length) * dt
    sol = solve_ivp(rhs, (0.0, t[-1]), y0, t_eval=t, method="RK45", rtol=1e-8, atol=1e-10)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    return sol.y.T


def duffing_states(
    n: int, length: int, dt: float, rng: np.random.Generator, damping: float = 0.05
) -> np.ndarray:
    def rhs(_, y):
        return [y[1], -damping * y[1] + y[0] - y[0] ** 3]

    starts = rng.uniform([-1.6, -0.8], [1.6, 0.8], size=(n, 2))
    return np.stack([_integrate(rhs, y0, length, dt) for y0 in starts])


def lorenz_states(n: int, length: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    def rhs(_, y):
        return [10.0 * (y[1] - y[0]), y[0] * (28.0 - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]]

    # a point on the attractor (after a transient from a fixed start), then seeded perturbations of it
    on = _integrate(rhs, np.array([1.0, 1.0, 1.0]), 2001, 0.01)[-1]
    starts = on + rng.normal(scale=5.0, size=(n, 3))
    warm = [_integrate(rhs, y0, 201, 0.01)[-1] for y0 in starts]  # let each fall back onto the attractor
    return np.stack([_integrate(rhs, y0, length, dt) for y0 in warm])


def radial_lift(states: np.ndarray, obs_dim: int, rng: np.random.Generator, width: float = 0.5) -> np.ndarray:
    """Fixed random Gaussian bumps of the (per-dimension standardised) state: (..., d) -> (..., obs_dim)."""
    flat = states.reshape(-1, states.shape[-1])
    scaled = (flat - flat.mean(0)) / flat.std(0)
    centres = rng.standard_normal((obs_dim, states.shape[-1]))
    sq = ((scaled[:, None, :] - centres[None]) ** 2).sum(-1)
    return np.exp(-sq / (2 * width**2 * states.shape[-1])).reshape(*states.shape[:-1], obs_dim)


def stuart_landau_states(
    n: int, length: int, dt: float, rng: np.random.Generator, mu: float = 1.0, omega: float = 2.0
) -> np.ndarray:
    """(n, length) complex states of ż = (μ + iω)z − |z|²z from random radii in [0.2, 1.6]·√μ and phases."""

    def rhs(_, y):
        z = y[0] + 1j * y[1]
        dz = (mu + 1j * omega) * z - abs(z) ** 2 * z
        return [dz.real, dz.imag]

    radius = rng.uniform(0.2, 1.6, size=n) * np.sqrt(mu)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    starts = [np.array([r * np.cos(p), r * np.sin(p)]) for r, p in zip(radius, phase, strict=True)]
    states = np.stack([_integrate(rhs, y0, length, dt) for y0 in starts])
    return states[..., 0] + 1j * states[..., 1]


def stuart_landau_field(
    n: int, length: int, dt: float, rng: np.random.Generator, side: int = 16, noise: float = 0.01
) -> np.ndarray:
    z = stuart_landau_states(n, length, dt, rng)
    modes = _smooth_modes(
        7, side, np.random.default_rng(12345)
    )  # fixed spatial modes: the same field for every seed
    t = np.arange(length) * dt
    decay = rng.uniform(-1, 1, size=(n, 1)) * np.exp(-t / 5.0)[None]
    field = decay[..., None] * modes[0]
    for m in range(1, 4):
        zm = z**m
        field = field + zm.real[..., None] * modes[2 * m - 1] + zm.imag[..., None] * modes[2 * m]
    return field + noise * rng.standard_normal(field.shape)


def _smooth_modes(count: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random smooth unit-norm fields on a side × side grid (low-frequency Fourier sums), flattened."""
    g = np.linspace(0, 1, side)
    X, Y = np.meshgrid(g, g, indexing="ij")
    out = []
    for _ in range(count):
        f = sum(
            rng.standard_normal()
            * np.sin(np.pi * (a * X + rng.uniform()))
            * np.sin(np.pi * (b * Y + rng.uniform()))
            for a in (1, 2, 3)
            for b in (1, 2, 3)
        )
        out.append((f / np.linalg.norm(f)).ravel())
    return np.stack(out)


def observations(system: str, n: int, length: int, seed: int, obs_dim: int = 64) -> np.ndarray:
    """(n, length, obs) observation sequences of ``system``; ``seed`` draws the initial conditions and the lift."""
    rng = np.random.default_rng(seed)
    if system == "duffing":
        return radial_lift(duffing_states(n, length, 0.1, rng), obs_dim, np.random.default_rng(777))
    if system == "lorenz":
        return radial_lift(lorenz_states(n, length, 0.01, rng), obs_dim, np.random.default_rng(778))
    if system == "stuart_landau":
        return stuart_landau_field(n, length, 0.1, rng)
    raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
