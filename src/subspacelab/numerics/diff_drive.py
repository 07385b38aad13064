"""A planar differential-drive robot whose parameters are partly unidentifiable, and its MAP estimator.

State s = (x, y, yaw, v, w); control u = (u_left, u_right) in [-1, 1]^2; parameters

    theta = (gain_left, gain_right, drag_v, drag_w, mass, inertia, gyro_bias)

One step of length dt (semi-implicit Euler):

    force  = gain_left u_left + gain_right u_right          torque = (gain_right u_right - gain_left u_left) b / 2
    v'   = v + dt (force - drag_v v) / mass                 w'     = w + dt (torque - drag_w w) / inertia
    yaw' = yaw + dt w'      x' = x + dt v' cos yaw'      y' = y + dt v' sin yaw'

observed as o = (x', y', yaw', v', w' + gyro_bias) + N(0, noise_sd^2 I). Scaling the six physical parameters by a
common factor leaves every trajectory unchanged, so one direction (log-scale) is unidentifiable and only the
ratios ``identifiable_combinations`` can be learned; the gyro bias is a nuisance that every observation reveals.
Everything is vectorised over leading batch axes of states, controls and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from subspacelab.numerics.experimental_design import central_difference_jacobian

PARAMS = ("gain_left", "gain_right", "drag_v", "drag_w", "mass", "inertia", "gyro_bias")
COMBINATIONS = (
    "gain_left/mass",
    "gain_right/mass",
    "drag_v/mass",
    "gain_left/inertia",
    "gain_right/inertia",
    "drag_w/inertia",
    "gyro_bias",
)


@dataclass(frozen=True)
class Robot:
    dt: float = 0.1
    wheel_base: float = 0.5
    noise_sd: float = 0.05

    def step(self, state: np.ndarray, control: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The next state (..., 5) for states (..., 5), controls (..., 2) and parameters (..., 7), broadcast."""
        x, y, yaw, v, w = np.moveaxis(np.asarray(state, float), -1, 0)
        ul, ur = np.moveaxis(np.asarray(control, float), -1, 0)
        gl, gr, dv, dw, m, inertia, _ = np.moveaxis(np.asarray(theta, float), -1, 0)
        force = gl * ul + gr * ur
        torque = (gr * ur - gl * ul) * self.wheel_base / 2
        v2 = v + self.dt * (force - dv * v) / m
        w2 = w + self.dt * (torque - dw * w) / inertia
        yaw2 = yaw + self.dt * w2
        x2 = x + self.dt * v2 * np.cos(yaw2)
        y2 = y + self.dt * v2 * np.sin(yaw2)
        return np.stack(np.broadcast_arrays(x2, y2, yaw2, v2, w2), axis=-1)

    def observe(self, state: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The noise-free observation of a state: the state with the gyro bias on the angular rate."""
        state = np.asarray(state, float)
        bias = np.asarray(theta, float)[..., 6]
        shift = np.zeros(np.broadcast_shapes(state.shape, bias.shape + (5,)))
        shift[..., 4] = bias
        return state + shift

    def predict(self, state: np.ndarray, control: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The expected observation after one step from ``state`` under ``control``."""
        return self.observe(self.step(state, control, theta), theta)

    def rollout(self, state: np.ndarray, controls: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """States (..., H, 5) visited *before* each of the H controls (..., H, 2): s_0 = state, s_(t+1) = f(s_t)."""
        controls = np.asarray(controls, float)
        s = np.broadcast_to(np.asarray(state, float), controls.shape[:-2] + (5,))
        out = []
        for t in range(controls.shape[-2]):
            out.append(s)
            s = self.step(s, controls[..., t, :], theta)
        return np.stack(out, axis=-2)

    def one_step_jacobians(self, states: np.ndarray, controls: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """d predict(s_t, u_t, theta) / d theta for every (s_t, u_t): (..., 5, 7), by central differences with the
        authors' step 0.01 (|theta_i| + 1)."""
        states, controls = np.asarray(states, float), np.asarray(controls, float)
        lead = (1,) * (states.ndim - 1)

        def predicted(batch: np.ndarray) -> np.ndarray:  # (2P, P) -> (2P, ..., 5)
            return self.predict(states, controls, batch.reshape((len(batch),) + lead + batch.shape[-1:]))

        return central_difference_jacobian(predicted, np.asarray(theta, float))


def identifiable_combinations(theta: np.ndarray) -> np.ndarray:
    """The parameter functions a trajectory determines: (..., 7) in the order of :data:`COMBINATIONS`."""
    gl, gr, dv, dw, m, inertia, bias = np.moveaxis(np.asarray(theta, float), -1, 0)
    return np.stack([gl / m, gr / m, dv / m, gl / inertia, gr / inertia, dw / inertia, bias], axis=-1)


def map_estimate(
    robot: Robot,
    states: np.ndarray,
    controls: np.ndarray,
    observations: np.ndarray,
    prior_mean: np.ndarray,
    prior_sd: np.ndarray,
    lower: np.ndarray,
    start: np.ndarray,
    free: np.ndarray | None = None,
) -> np.ndarray:
    """The MAP parameters given transitions (s_t, u_t, o_(t+1)) and a Gaussian prior, by nonlinear least squares
    (scipy's trust-region reflective, parameters bounded below by ``lower``); parameters with ``free`` False stay
    at ``start``."""
    prior_mean, prior_sd = np.asarray(prior_mean, float), np.asarray(prior_sd, float)
    start = np.asarray(start, float).copy()
    free = np.ones(len(start), bool) if free is None else np.asarray(free, bool)
    if not free.any() or len(states) == 0:
        return start

    def full(z: np.ndarray) -> np.ndarray:
        th = start.copy()
        th[free] = z
        return th

    def residuals(z: np.ndarray) -> np.ndarray:
        th = full(z)
        data = (observations - robot.predict(states, controls, th)) / robot.noise_sd
        return np.concatenate([data.ravel(), ((th - prior_mean) / prior_sd)[free]])

    lo = np.asarray(lower, float)[free]
    z0 = np.maximum(start[free], lo + 1e-9)
    fit = least_squares(
        residuals, z0, bounds=(lo, np.full_like(lo, np.inf)), x_scale=prior_sd[free], max_nfev=200
    )
    return full(fit.x)


def laplace_covariance(
    robot: Robot, states: np.ndarray, controls: np.ndarray, theta: np.ndarray, prior_sd: np.ndarray
) -> np.ndarray:
    """(Sigma_0^-1 + F(theta))^-1 with F the Fisher information of the transitions at ``theta``."""
    jac = robot.one_step_jacobians(states, controls, theta)
    fisher = np.einsum("toi,toj->ij", jac, jac) / robot.noise_sd**2 if len(states) else 0.0
    return np.linalg.inv(np.diag(1.0 / np.asarray(prior_sd, float) ** 2) + fisher)
