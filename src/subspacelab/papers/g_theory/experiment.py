"""What one run of g_theory computes: one of the three machine-learning studies of Lu's G theory (``part``).

- ``mmi``: channels' matching (CM) for maximum-mutual-information classification. Three Gaussian classes in
  2-D seen through a ``grid`` x ``grid`` discretisation of the feature plane; ``starts`` random initial
  partitions (Voronoi cells of three random points), each followed for ``cm_iterations`` CM iterations.
  Measured per start and iteration: I(X; Y) / MMI, with the MMI estimated as the best of exhaustive
  single-cell hill climbing (from the MAP partition and the best CM end points) and every CM value.
- ``mixture``: EM against CM-EM on a two-component 1-D Gaussian mixture with minority ratio ``1 - ratio``,
  fitted to its exact sampling distribution on a grid (Lu's setting) from ``inits`` random initialisations
  (the same for both). Measured: outer iterations to the stopping rule, E-step evaluations, iterations to
  reach KL <= ``kl_target``, and the final KL(P ‖ Q).
- ``prior_shift``: logical Bayesian inference on scikit-learn's bundled ``iris`` or ``wine``. Truth functions
  T*(θ_j | x) learned from Gaussian kernel density estimates (bandwidth by leave-one-out likelihood) on a
  stratified half; at test time the class prior changes (``shifts`` Dirichlet draws, the test half resampled
  to it) and the new prior enters through P(y_j | x) ∝ P'(y_j) T(θ_j | x) / T(θ_j) without relearning.
  Controls: the logistic-regression posterior as trained, the same posterior with the standard prior
  correction (× P'(y) / P(y)), and the truth functions with the old prior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from subspacelab.configurable import one_of, require
from subspacelab.experiments.harness import map_trials, trial_seed
from subspacelab.numerics import semantic_information as S

PARTS = ("mmi", "mixture", "prior_shift")
DATASETS = ("synthetic", "iris", "wine")
ARMS = ("lbi_kde", "lr_adjusted", "lr", "lbi_kde_old_prior")
LABEL = {
    "lbi_kde": "truth functions (KDE) + new prior",
    "lr_adjusted": "logistic regression × P'(y)/P(y)",
    "lr": "logistic regression as trained",
    "lbi_kde_old_prior": "truth functions + old prior",
    "em": "EM",
    "cm_em": "CM-EM",
}


@dataclass
class Experiment:
    """g_theory: one of Lu's three machine-learning studies per run (part: mmi | mixture | prior_shift)."""

    TAG: ClassVar[str] = "${.part}-${.dataset}-r${.ratio}"  # the run's name in its run_dir

    part: str = "mmi"  # mmi | mixture | prior_shift [ours: one study per run]
    dataset: str = "synthetic"  # synthetic (mmi, mixture) | iris | wine (prior_shift) [issue]
    # --- mmi: three Gaussian classes in 2-D, CM iterations from random partitions
    class_priors: list[float] = field(default_factory=lambda: [0.5, 0.3, 0.2])  # [notes: unequal priors]
    class_means: list[list[float]] = field(
        default_factory=lambda: [[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]]
    )  # [notes: means on a triangle; values ours]
    class_covs: list[list[float]] = field(
        default_factory=lambda: [[1.0, 0.0, 1.0], [1.5, 0.5, 1.0], [0.8, 0.0, 1.8]]
    )  # [ours] each (var_1, cov_12, var_2)
    grid: int = 60  # [notes] cells per axis of the feature grid
    grid_margin: float = 4.0  # [ours] the grid spans the means' box widened by this much
    starts: int = 50  # [notes] random initial partitions per run
    cm_iterations: int = 10  # [ours] CM iterations followed per start
    hill_climb_from: int = 5  # [ours] best CM end points refined by hill climbing for the MMI reference
    # --- mixture: two 1-D Gaussian components, EM vs CM-EM
    ratio: float = 0.9  # [notes] P(y_1), the majority component's ratio (0.9 and 0.97; 0.5 a control)
    mix_means: list[float] = field(default_factory=lambda: [0.0, 4.0])  # [ours]
    mix_sds: list[float] = field(default_factory=lambda: [1.0, 1.0])  # [ours]
    x_grid: list[float] = field(default_factory=lambda: [-6.0, 10.0, 401.0])  # [ours] start, stop, points
    inits: int = 100  # [notes] random initialisations per run
    init_mean_range: list[float] = field(default_factory=lambda: [-2.0, 6.0])  # [ours] uniform means
    init_sd_range: list[float] = field(default_factory=lambda: [0.5, 2.0])  # [ours] uniform sds
    init_ratio: float = 0.5  # [ours] both algorithms start from equal ratios
    max_iter: int = 2000  # [ours] outer iterations at most
    tol: float = 1.0e-7  # [ours] stop when KL(P‖Q) improves by less than this (bits) in an iteration
    ratio_tol: float = 1.0e-8  # [ours] CM-EM's ratio loop stops when P(y) changes by less than this
    max_ratio_updates: int = 1000  # [ours] ratio updates per CM-EM iteration at most
    kl_target: float = 1.0e-4  # [ours] bits; iterations to reach KL(P‖Q) <= this are also recorded
    # --- prior_shift: truth functions by KDE vs logistic regression under a new class prior
    train_fraction: float = 0.5  # [ours] stratified training half
    bandwidths: list[float] = field(
        default_factory=lambda: [0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.4, 2.0]
    )  # [ours] KDE bandwidth candidates (standardised features), chosen per class by leave-one-out
    lr_c: float = 1.0  # [ours] logistic-regression inverse regularisation (scikit-learn's default)
    shifts: int = 20  # [ours] new class priors per run
    shift_alpha: float = 1.0  # [ours] new priors ~ Dirichlet(shift_alpha, ..., shift_alpha)
    shift_min_prior: float = 0.02  # [ours] each class keeps at least this share of the resampled test set
    test_size: int = 300  # [ours] points of each resampled test set
    ece_bins: int = 10  # [ours] equal-width confidence bins of the top-label ECE

    def __post_init__(self):
        one_of(self.part, PARTS, "experiment.part")
        one_of(self.dataset, DATASETS, "experiment.dataset")
        want = "synthetic" if self.part in ("mmi", "mixture") else "iris or wine"
        require(
            (self.dataset == "synthetic") == (self.part != "prior_shift"),
            "experiment.dataset",
            f"part {self.part} needs dataset {want}, got {self.dataset!r}",
        )
        self.class_priors = [float(v) for v in self.class_priors]
        self.class_means = [[float(a) for a in m] for m in self.class_means]
        self.class_covs = [[float(a) for a in c] for c in self.class_covs]
        k = len(self.class_priors)
        require(k >= 2 and min(self.class_priors) > 0, "experiment.class_priors", "need >= 2 positive values")
        require(
            len(self.class_means) == k and all(len(m) == 2 for m in self.class_means),
            "experiment.class_means",
            f"need {k} points [x, y], one per class prior",
        )
        require(
            len(self.class_covs) == k
            and all(
                len(c) == 3 and c[0] > 0 and c[2] > 0 and c[0] * c[2] > c[1] ** 2 for c in self.class_covs
            ),
            "experiment.class_covs",
            f"need {k} positive-definite [var_1, cov_12, var_2]",
        )
        for name in ("grid", "starts", "cm_iterations", "inits", "max_iter", "max_ratio_updates", "shifts"):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(self.grid >= 2, "experiment.grid", "must be >= 2")
        require(self.hill_climb_from >= 0, "experiment.hill_climb_from", "must be >= 0")
        require(0 < self.ratio < 1, "experiment.ratio", f"must be in (0, 1), got {self.ratio}")
        require(0 < self.init_ratio < 1, "experiment.init_ratio", f"must be in (0, 1), got {self.init_ratio}")
        require(
            len(self.mix_means) == 2 and len(self.mix_sds) == 2 and min(self.mix_sds) > 0,
            "experiment.mix_sds",
            "need two means and two positive sds",
        )
        require(
            len(self.x_grid) == 3 and self.x_grid[0] < self.x_grid[1] and self.x_grid[2] >= 10,
            "experiment.x_grid",
            "write [start, stop, points] with start < stop and points >= 10",
        )
        require(
            len(self.init_mean_range) == 2 and self.init_mean_range[0] < self.init_mean_range[1],
            "experiment.init_mean_range",
            "write [low, high] with low < high",
        )
        require(
            len(self.init_sd_range) == 2 and 0 < self.init_sd_range[0] <= self.init_sd_range[1],
            "experiment.init_sd_range",
            "write [low, high] with 0 < low <= high",
        )
        for name in ("tol", "ratio_tol", "kl_target", "lr_c", "shift_alpha"):
            require(float(getattr(self, name)) > 0, f"experiment.{name}", "must be > 0")
        require(0 < self.train_fraction < 1, "experiment.train_fraction", "must be in (0, 1)")
        require(
            len(self.bandwidths) >= 1 and min(self.bandwidths) > 0,
            "experiment.bandwidths",
            "need positive values",
        )
        require(0 <= self.shift_min_prior < 0.3, "experiment.shift_min_prior", "must be in [0, 0.3)")
        require(self.test_size >= 10, "experiment.test_size", "must be >= 10")
        require(self.ece_bins >= 2, "experiment.ece_bins", "must be >= 2")

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        if self.part == "mmi":
            return self._run_mmi(seed)
        if self.part == "mixture":
            return self._run_mixture(seed, n_jobs)
        return self._run_prior_shift(seed)

    # --- mmi ------------------------------------------------------------------------------------------------

    def feature_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(cell centres (K, 2), P(z | x_i) (classes, K)): each class's Gaussian density at the cell centres,
        normalised over the grid."""
        means = np.array(self.class_means)
        lo, hi = means.min(0) - self.grid_margin, means.max(0) + self.grid_margin
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], self.grid), np.linspace(lo[1], hi[1], self.grid))
        cells = np.c_[gx.ravel(), gy.ravel()]
        dens = []
        for m, (v1, c12, v2) in zip(means, self.class_covs, strict=True):
            cov = np.array([[v1, c12], [c12, v2]])
            d = cells - m
            quad = np.einsum("ki,ij,kj->k", d, np.linalg.inv(cov), d)
            dens.append(np.exp(-0.5 * quad))
        p = np.array(dens)
        return cells, p / p.sum(1, keepdims=True)

    def _run_mmi(self, seed: int) -> dict:
        p_x = np.array(self.class_priors) / np.sum(self.class_priors)
        n = len(p_x)
        cells, pzx = self.feature_grid()
        lo, hi = cells.min(0), cells.max(0)
        traces, semantic, ends, conv = [], [], [], []
        for s in range(self.starts):
            rng = np.random.default_rng(trial_seed(seed, "g_theory", "mmi", s))
            centres = rng.uniform(lo, hi, size=(n, 2))
            labels0 = np.argmin(((cells[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
            res = S.cm_classify(p_x, pzx, labels0, n, self.cm_iterations)
            traces.append(res.mi)
            semantic.append(res.semantic_mi)
            ends.append(res.labels)
            conv.append(res.converged_at)
        traces = np.array(traces)
        # MMI reference: hill climbing from the MAP partition and from the best CM end points
        refs = [S.hill_climb_mmi(p_x, pzx, np.argmax(p_x[:, None] * pzx, axis=0), n)[1]]
        for s in np.argsort(-traces[:, -1])[: self.hill_climb_from]:
            refs.append(S.hill_climb_mmi(p_x, pzx, ends[s], n)[1])
        mmi = float(max(max(refs), traces.max()))
        frac = traces / mmi
        sem = np.array(semantic)
        monotone = float(np.min(np.diff(traces, axis=1)))
        chain = float(np.nanmin(traces[:, 1:] - sem[:, 1:]))  # I_k - G_k >= 0
        step = float(np.nanmin(sem[:, 1:] - traces[:, :-1]))  # G_k - I_{k-1} >= 0
        map_mi = S.partition_information(p_x, pzx, np.argmax(p_x[:, None] * pzx, axis=0), n)
        return {
            "part": "mmi",
            "mmi_bits": mmi,
            "hill_climb_bits": [float(r) for r in refs],
            "map_partition_bits": float(map_mi),
            "h_x_bits": S.entropy(p_x),
            "mi_fraction": frac.tolist(),  # starts x (iterations + 1)
            "frac_99_at": {
                str(k): float(np.mean(frac[:, k] >= 0.99)) for k in range(min(self.cm_iterations, 5) + 1)
            },
            "final_fraction_median": float(np.median(frac[:, -1])),
            "final_fraction_min": float(frac[:, -1].min()),
            "converged_at": [c if c is not None else -1 for c in conv],
            "min_mi_increase_bits": monotone,
            "min_shannon_minus_semantic_bits": chain,
            "min_semantic_minus_previous_bits": step,
        }

    # --- mixture --------------------------------------------------------------------------------------------

    def mixture_truth(self) -> tuple[np.ndarray, np.ndarray, S.Mixture1D]:
        start, stop, points = self.x_grid
        x = np.linspace(start, stop, int(points))
        truth = S.Mixture1D(
            np.array([self.ratio, 1 - self.ratio]),
            np.array(self.mix_means, float),
            np.array(self.mix_sds, float),
        )
        p = truth.density(x)
        return x, p / p.sum(), truth

    def _mixture_trial(self, task: tuple[int, int]) -> dict:
        seed, i = task
        x, p, _ = self.mixture_truth()
        rng = np.random.default_rng(trial_seed(seed, "g_theory", "mixture", i))
        init = S.Mixture1D(
            np.array([self.init_ratio, 1 - self.init_ratio]),
            np.sort(rng.uniform(*self.init_mean_range, size=2)),
            rng.uniform(*self.init_sd_range, size=2),
        )
        out = {"init": i}
        for method in ("em", "cm_em"):
            fit = S.fit_mixture(
                x, p, init, method, self.max_iter, self.tol, self.ratio_tol, self.max_ratio_updates
            )
            kl = np.array(fit.kl)
            hit = np.flatnonzero(kl <= self.kl_target)
            out[f"{method}_iterations"] = fit.iterations
            out[f"{method}_e_steps"] = fit.ratio_updates
            out[f"{method}_final_kl"] = float(kl[-1])
            out[f"{method}_iters_to_target"] = int(hit[0]) if hit.size else -1
            out[f"{method}_converged"] = bool(fit.converged)
            out[f"{method}_weights"] = fit.mix.weights.tolist()
            out[f"{method}_kl_trace"] = kl[:: max(1, len(kl) // 200)].tolist()
        return out

    def _run_mixture(self, seed: int, n_jobs: int) -> dict:
        trials = map_trials(self._mixture_trial, [(seed, i) for i in range(self.inits)], n_jobs)
        summary = {"part": "mixture", "ratio": self.ratio, "trials": trials}
        for m in ("em", "cm_em"):
            its = np.array([t[f"{m}_iterations"] for t in trials], float)
            hits = np.array([t[f"{m}_iters_to_target"] for t in trials], float)
            kls = np.array([t[f"{m}_final_kl"] for t in trials])
            summary[f"{m}_median_iterations"] = float(np.median(its))
            summary[f"{m}_median_e_steps"] = float(np.median([t[f"{m}_e_steps"] for t in trials]))
            summary[f"{m}_mean_final_kl"] = float(kls.mean())
            summary[f"{m}_frac_reached_target"] = float(np.mean(hits >= 0))
            summary[f"{m}_median_iters_to_target"] = float(
                np.median(np.where(hits >= 0, hits, self.max_iter))
            )
        return summary

    # --- prior shift ----------------------------------------------------------------------------------------

    def _run_prior_shift(self, seed: int) -> dict:
        from sklearn.datasets import load_iris, load_wine
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split

        data = (load_iris if self.dataset == "iris" else load_wine)()
        x, y = data.data.astype(float), data.target.astype(int)
        n_cls = int(y.max()) + 1
        xtr, xte, ytr, yte = train_test_split(
            x, y, train_size=self.train_fraction, stratify=y, random_state=trial_seed(seed, "split")
        )
        mu, sd = xtr.mean(0), xtr.std(0)
        xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
        prior_tr = np.bincount(ytr, minlength=n_cls) / len(ytr)
        tf = S.KDETruthFunctions.fit(xtr, ytr, self.bandwidths)
        lr = LogisticRegression(C=self.lr_c, max_iter=5000).fit(xtr, ytr)

        def predict(arm: str, xs: np.ndarray, prior_new: np.ndarray) -> np.ndarray:
            if arm == "lbi_kde":
                return tf.posterior(xs, prior_new)
            if arm == "lbi_kde_old_prior":
                return tf.posterior(xs, prior_tr)
            post = lr.predict_proba(xs)
            if arm == "lr":
                return post
            w = post * prior_new / prior_tr
            return w / w.sum(1, keepdims=True)

        rng = np.random.default_rng(trial_seed(seed, "g_theory", "prior_shift", self.dataset))
        per_arm = {a: {"log_loss": [], "ece": [], "brier": [], "accuracy": []} for a in ARMS}
        priors = []
        for _ in range(self.shifts):
            prior_new = rng.dirichlet(np.full(n_cls, self.shift_alpha))
            prior_new = np.maximum(prior_new, self.shift_min_prior)
            prior_new /= prior_new.sum()
            counts = rng.multinomial(self.test_size, prior_new)
            idx = np.concatenate(
                [rng.choice(np.flatnonzero(yte == c), size=counts[c], replace=True) for c in range(n_cls)]
            )
            priors.append(prior_new.tolist())
            for a in ARMS:
                m = S.calibration_metrics(predict(a, xte[idx], prior_new), yte[idx], self.ece_bins)
                for k, v in m.items():
                    per_arm[a][k].append(v)
        unshifted = {a: S.calibration_metrics(predict(a, xte, prior_tr), yte, self.ece_bins) for a in ARMS}
        out = {
            "part": "prior_shift",
            "dataset": self.dataset,
            "n_train": len(ytr),
            "n_test_pool": len(yte),
            "bandwidths_chosen": tf.bandwidths.tolist(),
            "train_prior": prior_tr.tolist(),
            "shift_priors": priors,
            "unshifted": unshifted,
            "truth_max_test": float(tf.truth(xte).max()),
        }
        for a in ARMS:
            for k, v in per_arm[a].items():
                out[f"{a}_{k}"] = float(np.mean(v))
                out[f"{a}_{k}_per_shift"] = [float(u) for u in v]
        return out
