"""What one run of qoed_exploration computes: active system identification of a simulated differential-drive robot
(``numerics.diff_drive``) with one exploration objective (``method``), for one seed.

Each of ``steps`` control steps: sample ``candidates`` control sequences of ``horizon`` steps around the shifted
previous plan (the authors' MPPI sampling, variance 0.4), predict each one's Fisher information at the current
estimate, execute the first control of the best sequence by the method's objective (``random``: a uniformly
chosen candidate), observe, and every ``update_every`` steps refit the MAP estimate and its Laplace covariance.
The identifiable set K is re-selected every step from the Fisher information of the last ``window`` transitions
(``numerics.experimental_design.select_identifiable``); before ``warmup`` transitions it is every parameter, as in
the authors' code. The true parameters, the observation noise and the candidates' random draws come from seeds
shared by the four methods of a seed, so the methods are compared paired.

Measured: the standardised error of the identifiable parameter combinations over time and at the end, the error of
the raw parameters, the one-step prediction error on held-out random trajectories, which parameters were selected,
and the trace of the executed trajectory's Fisher information at the true parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np

from subspacelab.configurable import one_of, require
from subspacelab.experiments.harness import trial_seed
from subspacelab.numerics import diff_drive as dd
from subspacelab.numerics import experimental_design as oed

METHODS = ("random", "boed", "qoed_agnostic", "qoed")
LABEL = {"random": "random", "boed": "BOED tr(F)", "qoed_agnostic": "QOED-agnostic", "qoed": "QOED (Schur)"}


@dataclass
class Experiment:
    """qoed_exploration: one run = one exploration objective (method) and one seed of the robot study.
    Tags: [code] youwyu/QOED (boed/objectives.py, boed/fisher.py, demos/); [notes] the project notes' plan; [ours]."""

    TAG: ClassVar[str] = "${.method}"  # the run's name in its run_dir

    method: str = "qoed"  # random | boed | qoed_agnostic | qoed [code: the three objectives; notes: random]
    # --- the robot (numerics.diff_drive): parameters (gain_l, gain_r, drag_v, drag_w, mass, inertia, gyro_bias)
    prior_mean: list[float] = field(
        default_factory=lambda: [10.0, 10.0, 2.0, 1.0, 10.0, 1.0, 0.0]
    )  # [ours] the true parameters are drawn per seed from this prior, floored at `lower`
    prior_sd: list[float] = field(default_factory=lambda: [2.0, 2.0, 0.5, 0.3, 3.0, 0.3, 0.1])  # [ours]
    lower: list[float] = field(
        default_factory=lambda: [4.0, 4.0, 0.5, 0.3, 4.0, 0.4, -1.0e9]
    )  # [ours] floors of the truth and bounds of the estimate (the code floors its truth the same way)
    dt: float = 0.1  # [code] seconds per step
    wheel_base: float = 0.5  # [ours] metres
    noise_sd: float = 0.05  # [code] observation noise sigma (R = sigma^2 I)
    # --- exploration loop
    steps: int = 200  # [code] control steps per run
    horizon: int = 10  # [notes] steps of each candidate control sequence
    candidates: int = 1024  # [code; notes 256] candidate sequences per step
    control_sd: float = 0.632  # [code] sqrt of the sampling variance 0.4 around the shifted plan
    window: int = 20  # [code] transitions of the history Fisher that selects K
    warmup: int = 20  # [code] no selection and no posterior update before this many transitions
    update_every: int = 1  # [code] steps between MAP refits
    # --- identifiable-set selection and the QOED objective [code]
    var_threshold: float = 0.0025  # parameters with posterior variance below this are inactive
    eig_ratio: float = 0.01  # observable eigenvectors: eigenvalue >= this x the largest
    min_top_eig: float = 0.1  # no selection while the largest eigenvalue is below this
    score_floor: float = 1.0e-3  # candidates: loading score >= this x the best
    duplicate_cos: float = 0.05  # 1 - |cos| below this: the same observable direction
    schur_reg: float = 1.0e-3  # F_BB + reg I in the Schur complement
    # --- evaluation [ours]
    eval_trajectories: int = 20  # held-out random trajectories for the one-step prediction error
    eval_steps: int = 50  # steps of each held-out trajectory
    prior_draws: int = 4000  # prior samples that set each combination's scale in the standardised error

    def __post_init__(self):
        one_of(self.method, METHODS, "experiment.method")
        for name in ("prior_mean", "prior_sd", "lower"):
            setattr(self, name, [float(v) for v in getattr(self, name)])
            require(
                len(getattr(self, name)) == len(dd.PARAMS),
                f"experiment.{name}",
                f"need {len(dd.PARAMS)} values",
            )
        require(min(self.prior_sd) > 0, "experiment.prior_sd", "must all be > 0")
        require(min(self.lower[:6]) > 0, "experiment.lower", "the six physical parameters need floors > 0")
        for name in (
            "steps",
            "horizon",
            "candidates",
            "window",
            "update_every",
            "eval_trajectories",
            "eval_steps",
        ):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(self.warmup >= 1, "experiment.warmup", "must be >= 1")
        require(self.prior_draws >= 100, "experiment.prior_draws", "must be >= 100")
        for name in (
            "dt",
            "wheel_base",
            "noise_sd",
            "control_sd",
            "var_threshold",
            "eig_ratio",
            "min_top_eig",
        ):
            require(float(getattr(self, name)) > 0, f"experiment.{name}", "must be > 0")
        require(0 < self.duplicate_cos < 1, "experiment.duplicate_cos", "must be in (0, 1)")
        require(self.schur_reg >= 0 and self.score_floor >= 0, "experiment.schur_reg", "must be >= 0")

    # --- pieces -------------------------------------------------------------------------------------------

    def robot(self) -> dd.Robot:
        return dd.Robot(dt=self.dt, wheel_base=self.wheel_base, noise_sd=self.noise_sd)

    def true_parameters(self, seed: int) -> np.ndarray:
        """The seed's robot: prior mean + N(0, 1) prior sd, floored (shared by the four methods)."""
        rng = np.random.default_rng(trial_seed(seed, "qoed_exploration", "theta"))
        mean, sd = np.array(self.prior_mean), np.array(self.prior_sd)
        return np.maximum(mean + rng.standard_normal(len(mean)) * sd, np.array(self.lower))

    @cached_property
    def combination_scale(self) -> np.ndarray:
        """Each identifiable combination's standard deviation under the (floored) prior: the error's units."""
        rng = np.random.default_rng(trial_seed(0, "qoed_exploration", "prior_draws"))
        mean, sd = np.array(self.prior_mean), np.array(self.prior_sd)
        draws = np.maximum(
            mean + rng.standard_normal((self.prior_draws, len(mean))) * sd, np.array(self.lower)
        )
        return dd.identifiable_combinations(draws).std(0)

    def identifiable_error(self, estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """|combination error| / prior scale, per combination."""
        diff = dd.identifiable_combinations(estimate) - dd.identifiable_combinations(truth)
        return np.abs(diff) / self.combination_scale  # computed once per Experiment

    def prediction_rmse(self, estimate: np.ndarray, truth: np.ndarray, seed: int) -> float:
        """RMSE of one-step predicted observations (noise-free) on held-out random trajectories."""
        robot = self.robot()
        rng = np.random.default_rng(trial_seed(seed, "qoed_exploration", "eval"))
        n = self.eval_trajectories
        start = np.zeros((n, 5))
        start[:, 3:] = rng.uniform(-1.0, 1.0, size=(n, 2))
        controls = rng.uniform(-1.0, 1.0, size=(n, self.eval_steps, 2))
        states = robot.rollout(start, controls, truth)
        err = robot.predict(states, controls, estimate) - robot.predict(states, controls, truth)
        return float(np.sqrt(np.mean(err**2)))

    def select(self, robot: dd.Robot, history: tuple, estimate: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """The identifiable set K from the last ``window`` transitions (every parameter before ``warmup``)."""
        states, controls, _ = history
        if len(states) < self.warmup:
            return np.ones(len(dd.PARAMS), bool)
        jac = robot.one_step_jacobians(states[-self.window :], controls[-self.window :], estimate)
        return oed.select_identifiable(
            oed.fisher_information(jac, robot.noise_sd),
            np.diag(cov),
            self.var_threshold,
            self.eig_ratio,
            self.min_top_eig,
            self.score_floor,
            self.duplicate_cos,
        )

    # --- the run --------------------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        robot = self.robot()
        truth = self.true_parameters(seed)
        mean, sd, lower = np.array(self.prior_mean), np.array(self.prior_sd), np.array(self.lower)
        noise = np.random.default_rng(trial_seed(seed, "qoed_exploration", "noise"))
        draws = np.random.default_rng(trial_seed(seed, "qoed_exploration", "candidates"))
        estimate, cov = mean.copy(), np.diag(sd**2)
        state, plan = np.zeros(5), np.zeros((self.horizon, 2))
        states, controls, observations = [], [], []
        selected = np.zeros(len(dd.PARAMS))
        selected_steps, most_physical = 0, 0
        curve = [(0, float(self.identifiable_error(estimate, truth).mean()))]
        for t in range(self.steps):
            history = (np.array(states).reshape(-1, 5), np.array(controls).reshape(-1, 2), None)
            mask = self.select(robot, history, estimate, cov)
            if len(states) >= self.warmup:
                selected += mask
                selected_steps += 1
                most_physical = max(most_physical, int(mask[:6].sum()))
            shifted = np.vstack([plan[1:], np.zeros((1, 2))])
            cands = shifted + self.control_sd * draws.standard_normal((self.candidates, self.horizon, 2))
            cands = np.clip(cands, -1.0, 1.0)
            cands[0] = shifted
            if self.method == "random":
                best = int(draws.integers(self.candidates))
            else:
                visited = robot.rollout(state, cands, estimate)
                fisher = oed.fisher_information(
                    robot.one_step_jacobians(visited, cands, estimate), robot.noise_sd
                )
                best = int(np.argmax(oed.objective(self.method, fisher, mask, self.schur_reg)))
            plan = cands[best]
            nxt = robot.step(state, plan[0], truth)
            obs = robot.observe(nxt, truth) + self.noise_sd * noise.standard_normal(5)
            states.append(state)
            controls.append(plan[0])
            observations.append(obs)
            state = nxt
            n = t + 1
            if n >= self.warmup and (n % self.update_every == 0 or n == self.steps):
                s, u, o = np.array(states), np.array(controls), np.array(observations)
                estimate = dd.map_estimate(robot, s, u, o, mean, sd, lower, start=estimate)
                cov = dd.laplace_covariance(robot, s, u, estimate, sd)
                curve.append((n, float(self.identifiable_error(estimate, truth).mean())))
        s, u = np.array(states), np.array(controls)
        executed = oed.fisher_information(robot.one_step_jacobians(s, u, truth), robot.noise_sd)
        per_combination = self.identifiable_error(estimate, truth)
        return {
            "method": self.method,
            "identifiable_error": float(per_combination.mean()),
            "identifiable_error_by_combination": dict(
                zip(dd.COMBINATIONS, per_combination.tolist(), strict=True)
            ),
            "param_rel_rmse": float(np.sqrt(np.mean(((estimate - truth) / sd)[:6] ** 2))),
            "prediction_rmse": self.prediction_rmse(estimate, truth, seed),
            "error_curve": [[k, e] for k, e in curve],
            "selected_share": dict(zip(dd.PARAMS, (selected / max(selected_steps, 1)).tolist(), strict=True)),
            "mean_selected": float(selected.sum() / max(selected_steps, 1)),
            "max_physical_selected": most_physical,
            "executed_fisher_trace": float(np.trace(executed)),
            "mean_abs_speed": float(np.mean(np.abs(s[:, 3]))),
            "mean_abs_turn_rate": float(np.mean(np.abs(s[:, 4]))),
            "truth": truth.tolist(),
            "estimate": estimate.tolist(),
        }
