"""The run of Wang, Zhang, Zhang, Chen, Ma, Qu, "Diffusion Models Learn Low-Dimensional Distributions via
Subspace Clustering" (arXiv 2409.02426; v5: "Breaking the Curse of Dimensionality: Diffusion Models
Efficiently Learn Low-Dimensional Distributions"). Code: huijieZH/Diffusion-Model-Generalizability.

One run = one (K, d_k, seed) cell: one MoLRG (K orthogonal d_k-dimensional subspaces of R^n, x = U_k a,
a ~ N(0, I)); inside it a sweep over the number N of training samples per subspace (nested samples: the
training set at N is the first N points of each subspace). At every N the same samples train
- ``lowrank``: the paper's low-rank softmax-gated denoiser (``diffusion.molrg.LowRankMoLRGDenoiser``), Adam +
  QR retraction, ``lowrank_restarts`` random starts trained together, the one with the lowest training loss
  kept;
- ``mlp``: a generic time-embedded MLP denoiser (~50k parameters);
- ``ksubspaces``: K-subspaces clustering with ``ksub_restarts`` restarts (the claimed-equivalent problem;
  PCA when K = 1).
Metrics per N: subspace error of the learned bases (``lowrank``, ``ksubspaces``) and its success
(error <= ``success_threshold``); the distance between the denoiser's and K-subspaces' solutions; for the two
denoisers, samples from the probability-flow ODE judged against the truth and the training set
(on the union? copies of training points? do they span the true subspaces?), the generative success
(coverage error <= threshold and memorised fraction <= that of fresh true samples + margin), the numerical
rank of the denoiser's Jacobian and the relative score error against the closed form at a few noise levels.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.diffusion.ksubspaces import ksubspaces
from subspacelab.diffusion.losses import NoiseLevels, replica_losses, score_from_denoiser
from subspacelab.diffusion.metrics import denoiser_jacobian, generation_report, memorised, numerical_rank
from subspacelab.diffusion.mlp import MLPDenoiser
from subspacelab.diffusion.molrg import LowRankGaussianMixture, LowRankMoLRGDenoiser
from subspacelab.diffusion.samplers import sample as draw_samples
from subspacelab.diffusion.schedules import VESchedule
from subspacelab.experiments.harness import (
    map_trials,
    transition_point,
    trial_seed,
    write_trials,
)
from subspacelab.lit.diffusion import fit_denoiser, loss_history
from subspacelab.lit.fit import is_distributed, world_size
from subspacelab.numerics.union_of_subspaces import random_bases, sample_union, subspace_error

MODELS = ("lowrank", "ksubspaces", "mlp")
GEN_KEYS = (
    "dist_union_median",
    "dist_train_median",
    "frac_on_union",
    "frac_memorised",
    "frac_generalised",
    "coverage_error",
    "min_component_frac",
    "frac_finite",
)


@dataclass
class Experiment:
    """MoLRG diffusion (Wang et al., arXiv 2409.02426): one (K, d_k, seed) cell per run, N (samples per subspace) swept inside.
    Every N trains the paper's low-rank DAE, a generic MLP DAE and K-subspaces on the same samples.

    One run: one MoLRG (K, d), every N of the grid, every model on the same samples (module doc)."""

    TAG: ClassVar[str] = "K${.K}-d${.d}"

    # --- data: the official MoLRG (edm/training/dataset.py): orthogonal column blocks of one random orthogonal matrix
    ambient: int = 48  # n (the repo's 4 x 4 x 3 images)
    K: int = 2  # subspaces (classes)
    d: int = 4  # d_k, equal for every subspace
    n_grid_rel: list[float] = field(
        default_factory=lambda: [0.5, 1.0, 1.25, 1.5, 2.0, 3.0]
    )  # N per subspace = r * d_k rounded half up (deduplicated)
    n_grid: list[int] | None = None  # or explicit N per subspace (overrides n_grid_rel)
    disjoint: bool = True  # orthogonal subspaces (Theorem 4's setting); false: independent random subspaces
    noise: float = 0.0  # isotropic ambient noise sd (the repo's data are noise-free)
    models: list[str] = field(default_factory=lambda: list(MODELS))
    # --- training of both denoisers: EDMLoss of the official trainMoLRG.py (precond=edm)
    p_mean: float = -1.2  # ln σ ~ N(p_mean, p_std²)
    p_std: float = 1.2
    sigma_data: float = 0.5  # EDM weighting (σ² + σ_d²)/(σ σ_d)² and the MLP's preconditioning
    batch: int = 256
    lowrank_steps: int = 500  # Adam steps, cosine-decayed learning rate, QR retraction after every step
    lowrank_lr: float = 0.1
    lowrank_restarts: int = 8  # random starts trained together; the lowest training loss is kept
    mlp_steps: int = 3000
    mlp_lr: float = 0.01
    mlp_width: int = 128  # 3 x 128 SiLU + 32 time features: ~50k parameters at n = 48
    mlp_depth: int = 3
    # K-subspaces restarts (cheap; its best-of-restarts stands in for the global optimum)
    ksub_restarts: int = 64
    ksub_max_iter: int = 100
    # --- evaluation (thresholds fixed before the cpu-scale runs)
    # subspace error (RMS sine of principal angles, in [0, 1]) counted as recovery
    success_threshold: float = 0.1
    memorised_ratio: float = 1 / 3  # a sample copies a training point if d(1st NN) < ratio * d(2nd NN)
    memorised_margin: float = 0.1  # generative success allows fresh-true-sample copy rate + this margin
    on_union_tol: float = 0.1  # relative distance to the true union counted as "on the union" (reported)
    n_generate: int = 400  # samples per trained denoiser
    sampler: str = "ode"  # probability-flow ODE (Heun) | ddpm (ancestral)
    sampler_steps: int = 18  # EDM sampler defaults of the official jacobian.py: 18 steps, σ from 80 to 0.002
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    eval_sigmas: list[float] = field(
        default_factory=lambda: [0.05, 0.2, 0.5, 1.0]
    )  # noise levels of the Jacobian ranks and score errors
    jacobian_points: int = 4
    score_points: int = 256

    def __post_init__(self):
        self.n_grid_rel = [float(r) for r in self.n_grid_rel]
        self.models = [str(m) for m in self.models]
        self.eval_sigmas = [float(s) for s in self.eval_sigmas]
        if self.ambient < 2:
            raise ValueError("ambient: must be >= 2")
        if self.K < 1 or self.d < 1:
            raise ValueError("K, d: must be >= 1")
        if self.disjoint and self.K * self.d > self.ambient:
            raise ValueError(
                f"d: disjoint subspaces need K*d <= ambient ({self.K}*{self.d} > {self.ambient})"
            )
        if self.n_grid is not None:
            self.n_grid = [int(v) for v in self.n_grid]
            if not self.n_grid or min(self.n_grid) < 1:
                raise ValueError("n_grid: need N >= 1")
        elif not self.n_grid_rel or min(self.n_grid_rel) <= 0:
            raise ValueError("n_grid_rel: need positive multiples of d")
        bad = [m for m in self.models if m not in MODELS]
        if not self.models or bad:
            raise ValueError(f"models: a non-empty subset of {MODELS}, got {self.models}")
        if self.noise < 0:
            raise ValueError("noise: must be >= 0")
        if min(self.lowrank_steps, self.mlp_steps, self.lowrank_restarts, self.ksub_restarts, self.batch) < 1:
            raise ValueError("steps, restarts and batch must be >= 1")
        if min(self.lowrank_lr, self.mlp_lr, self.p_std, self.sigma_data) <= 0:
            raise ValueError("learning rates, p_std and sigma_data must be > 0")
        if not 0 < self.success_threshold < 1 or not 0 < self.on_union_tol < 1:
            raise ValueError("success_threshold, on_union_tol: must be in (0, 1)")
        if not 0 < self.memorised_ratio < 1:
            raise ValueError("memorised_ratio: must be in (0, 1)")
        if self.sampler not in ("ode", "ddpm"):
            raise ValueError("sampler: ode or ddpm")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("need 0 < sigma_min < sigma_max")
        if self.n_generate < 2 or self.sampler_steps < 1 or self.jacobian_points < 1 or self.score_points < 1:
            raise ValueError("n_generate >= 2, sampler_steps, jacobian_points, score_points >= 1")
        if not self.eval_sigmas or min(self.eval_sigmas) <= 0:
            raise ValueError("eval_sigmas: positive noise levels")

    # ------------------------------------------------------------------------------------------
    def grid(self) -> list[int]:
        """N per subspace: ``n_grid``, or r·d rounded half up for r in ``n_grid_rel`` (at least 1)."""
        if self.n_grid is not None:
            return sorted(set(self.n_grid))
        return sorted({max(1, math.floor(r * self.d + 0.5)) for r in self.n_grid_rel})

    def truth(self, seed: int):
        bases = random_bases(
            self.ambient,
            [self.d] * self.K,
            trial_seed(seed, "bases", self.ambient, self.K, self.d),
            disjoint=self.disjoint,
        )
        return bases, LowRankGaussianMixture.molrg(bases)

    def levels(self) -> NoiseLevels:
        return NoiseLevels("edm", p_mean=self.p_mean, p_std=self.p_std, sigma_data=self.sigma_data)

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        """Every N of the grid (in ``n_jobs`` processes; in this one, in order, when ``trainer`` places the
        denoisers' training on several DDP processes, so that every rank makes the same fits)."""
        started = time.perf_counter()
        jobs = 1 if is_distributed(trainer) else n_jobs
        points = map_trials(lambda N: self._one_n(seed, N, trainer), self.grid(), jobs)
        if out_dir is not None:
            write_trials(Path(out_dir) / "trials.csv", [_flat(p) for p in points])
        out = {"K": self.K, "d": self.d, "ambient": self.ambient, "n_grid": self.grid(), "points": points}
        for model, metric in CURVES:
            if model in self.models:
                key = f"{model}_{metric}_success"
                n50 = transition_point(
                    [p["N"] for p in points], [float(p[key]) for p in points], 0.5, log_x=True
                )
                out[f"n50_{model}_{metric}"] = n50
        if "mlp" in self.models:
            out["mlp_parameters"] = MLPDenoiser(self.ambient, self.mlp_width, self.mlp_depth).n_parameters()
        out["world_size"] = world_size()
        out["seconds"] = time.perf_counter() - started
        return out

    # ------------------------------------------------------------------------------------------
    def _one_n(self, seed: int, N: int, trainer=None) -> dict:
        torch.set_num_threads(1)
        bases, mix = self.truth(seed)
        X_all, y_all = sample_union(
            bases,
            max(self.grid()),
            trial_seed(seed, "samples", self.ambient, self.K, self.d),
            noise=self.noise,
        )
        keep = torch.cat([torch.nonzero(y_all == k).flatten()[:N] for k in range(self.K)])
        X = X_all[keep]
        fresh, _ = mix.sample(self.n_generate, trial_seed(seed, "fresh", self.ambient, self.K, self.d))
        chance = float(memorised(fresh, X, self.memorised_ratio).double().mean())
        point: dict = {"N": N, "N_over_d": N / self.d, "chance_memorised": chance}
        ks = None
        if "ksubspaces" in self.models or "lowrank" in self.models:
            t0 = time.perf_counter()
            ks = ksubspaces(
                X,
                [self.d] * self.K,
                restarts=self.ksub_restarts,
                max_iter=self.ksub_max_iter,
                seed=trial_seed(seed, "ksub", N),
            )
            err = subspace_error(ks.bases, bases)
            point.update(
                ksubspaces_error=err,
                ksubspaces_param_success=err <= self.success_threshold,
                ksubspaces_explained=ks.explained,
                ksubspaces_seconds=time.perf_counter() - t0,
            )
        if "lowrank" in self.models:
            point.update(self._lowrank(seed, N, X, bases, mix, ks, chance, trainer))
        if "mlp" in self.models:
            point.update(self._mlp(seed, N, X, bases, mix, chance, trainer))
        return point

    def _lowrank(self, seed, N, X, bases, mix, ks, chance, trainer=None) -> dict:
        t0 = time.perf_counter()
        levels = self.levels()
        model = LowRankMoLRGDenoiser(
            self.ambient,
            [self.d] * self.K,
            seed=trial_seed(seed, "lowrank-init", N),
            replicas=self.lowrank_restarts,
        )
        fit_denoiser(
            model,
            X,
            levels,
            self.lowrank_steps,
            self.lowrank_lr,
            self.batch,
            seed=trial_seed(seed, "lowrank-train", N),
            trainer=trainer,
        )
        losses = replica_losses(model, X, levels, seed=trial_seed(seed, "lowrank-select", N)).reshape(-1)
        replica_errors = [subspace_error(model.bases(r), bases) for r in range(model.replicas)]
        best = int(losses.argmin())
        model.keep(best)
        err = replica_errors[best]
        out = {
            "lowrank_error": err,
            "lowrank_param_success": err <= self.success_threshold,
            "lowrank_vs_ksubspaces": subspace_error(model.bases(), ks.bases),
            "lowrank_orthonormality": model.orthonormality_error(),
            "lowrank_replicas_succeeded": sum(e <= self.success_threshold for e in replica_errors),
            "lowrank_best_replica_error": min(replica_errors),
        }
        out.update(self._evaluate("lowrank", model, seed, X, bases, mix, chance))
        out["lowrank_seconds"] = time.perf_counter() - t0
        return out

    def _mlp(self, seed, N, X, bases, mix, chance, trainer=None) -> dict:
        t0 = time.perf_counter()
        model = MLPDenoiser(
            self.ambient,
            self.mlp_width,
            self.mlp_depth,
            sigma_data=self.sigma_data,
            seed=trial_seed(seed, "mlp-init", N),
        )
        fitted = fit_denoiser(
            model,
            X,
            self.levels(),
            self.mlp_steps,
            self.mlp_lr,
            self.batch,
            seed=trial_seed(seed, "mlp-train", N),
            trainer=trainer,
        )
        hist = loss_history(fitted.losses, self.mlp_steps)
        out = {"mlp_final_loss": statistics.fmean(hist[-5:])}
        out.update(self._evaluate("mlp", model, seed, X, bases, mix, chance))
        out["mlp_seconds"] = time.perf_counter() - t0
        return out

    def _evaluate(self, name, model, seed, X, bases, mix, chance) -> dict:
        """Samples, generative success, Jacobian ranks and score errors of a trained denoiser."""
        ve = VESchedule(self.sigma_min, self.sigma_max)
        with torch.no_grad():
            S = draw_samples(
                self.sampler,
                model,
                ve,
                self.n_generate,
                self.ambient,
                seed=trial_seed(seed, "generate", self.K, self.d),
                steps=self.sampler_steps,
                t_min=0.0,
                t_max=1.0,
            ).to(torch.float64)
        rep = generation_report(S, X, bases, self.memorised_ratio, self.on_union_tol)
        not_copying = rep["frac_memorised"] <= chance + self.memorised_margin
        out = {f"{name}_{k}": rep[k] for k in GEN_KEYS}
        out[f"{name}_gl_success"] = bool(not_copying)  # the paper's generalisation (GL) criterion alone
        out[f"{name}_gen_success"] = bool(not_copying and rep["coverage_error"] <= self.success_threshold)
        # Jacobian ranks and relative score errors at fresh noisy points x_t = x_0 + σ ε of the true distribution
        x0, _ = mix.sample(max(self.jacobian_points, self.score_points), trial_seed(seed, "eval-points"))
        gen = torch.Generator().manual_seed(trial_seed(seed, "eval-noise"))
        eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        ranks, score_err = {}, {}
        model_score = score_from_denoiser(model)
        for sig in self.eval_sigmas:
            xt = x0 + sig * eps
            r = [
                numerical_rank(denoiser_jacobian(model, xt[i], 1.0, sig)) for i in range(self.jacobian_points)
            ]
            ranks[_key(sig)] = float(statistics.median(r))
            pts = xt[: self.score_points]
            with torch.no_grad():
                a = model_score(pts, torch.tensor(1.0), torch.tensor(sig)).to(torch.float64)
                b = mix.score(pts, 1.0, sig)
            score_err[_key(sig)] = float(((a - b) ** 2).sum() / (b**2).sum())
        out[f"{name}_jacobian_rank"] = ranks
        out[f"{name}_score_rel_mse"] = score_err
        return out


# the success curves a run summarises by their 50% crossing: (model, metric)
CURVES = (("lowrank", "param"), ("ksubspaces", "param"), ("lowrank", "gen"), ("mlp", "gen"), ("mlp", "gl"))


def _key(sig: float) -> str:
    return f"{sig:g}"


def _flat(point: dict) -> dict:
    out = {}
    for k, v in point.items():
        if isinstance(v, dict):
            out.update({f"{k}@{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out
