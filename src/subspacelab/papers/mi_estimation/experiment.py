"""Glue for "Accurate Estimation of Mutual Information in High Dimensional Data" (Abdelaleem, Martini,
Nemenman; arXiv:2506.00330): one run = one data model (latent dimension K_Z, true MI); inside it, a sweep over
the sample size N x ``repeats`` data sets, every estimator applied to the same data:

- ``ksg``: KSG (k = 3) on the K-dimensional data (toolkit ``ksg_mi``), and as a control on the latents;
- ``infonce``: plain InfoNCE -- a separable critic trained for ``epochs`` passes over all N samples, the
  bound read at the last step on the training data (``lit.critics.train_critic_mi``, Lightning);
- ``protocol``: the paper's protocol -- max-test training on gamma = 1..G disjoint subsets, WLS extrapolation to
  gamma -> 0 with a confidence interval, and the consistency checks (``analysis.mi_protocol``);
- ``protocol_vsib``: the same with the probabilistic VSIB critic.

Maths: ``subspacelab.analysis.mi_protocol`` and ``subspacelab.analysis.information``. Every MI in the metrics is
in bits (the paper's unit).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.analysis import mi_protocol as P
from subspacelab.analysis.information import ksg_mi
from subspacelab.experiments import map_trials, trial_seed, wilson_interval, write_trials
from subspacelab.lit.critics import train_critic_mi, train_max_test

LN2 = math.log(2.0)
ESTIMATORS = ("ksg", "infonce", "protocol", "protocol_vsib")
PROTOCOLS = ("protocol", "protocol_vsib")


@dataclass
class Experiment:
    """MI-estimation experiment (Abdelaleem, Martini, Nemenman): one data model (K_Z latent pairs with a known MI,
    embedded in K = 500 dimensions); inside a run, N swept x `repeats` data sets, every estimator on the same data.
    Trainer and protocol settings are NeuralMI's defaults (neural_mi/defaults.py, analysis/workflow.py) unless noted.

    One data model (K_Z, I) embedded in K dimensions; N swept inside, ``repeats`` data sets per N.

    Defaults follow NeuralMI (``defaults.py``): Adam lr 5e-4, batch 128, 50 epochs, MLP hidden 64 x 2 layers,
    embedding 64, train fraction 0.9, VSIB beta 1024, 68% interval, delta 0.1, at least 5 gammas."""

    TAG: ClassVar[str] = "kz${.latent_dim}-i${.mi_bits}b"

    latent_dim: int = 2  # K_Z: dimension of each latent (Z_x, Z_y); MI spread equally over the K_Z pairs
    mi_bits: float = 2.0  # true I(X;Y) in bits (closed form of the latent Gaussian; embedding is injective)
    ambient_dim: int = 500  # K
    sizes: list[int] = field(default_factory=lambda: [256, 1024])  # N values swept inside the run
    repeats: int = 2  # independent data sets per N
    estimators: list[str] = field(
        default_factory=lambda: ["ksg", "infonce", "protocol"]
    )  # subset of ksg | infonce | protocol | protocol_vsib
    embedding_hidden: int = 64  # width of the random embedding MLP (NeuralMI: 64)
    embedding_activation: str = "tanh"  # tanh (injective, MI exact) | relu (NeuralMI's generator) | linear
    ksg_k: int = 3
    ksg_latent: bool = True  # also KSG on the latents (control)
    gammas: list[int] = field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6]
    )  # numbers of disjoint subsets (NeuralMI default 1..10)
    epochs: int = 50
    batch_size: int = 128
    lr: float = 5.0e-4
    critic_hidden: int = 64
    critic_embed_dim: int = 64
    critic_layers: int = 2
    vsib_beta: float = 1024.0  # VSIB: loss = KL - beta * InfoNCE
    train_fraction: float = 0.9
    smoothing_sigma: float = 1.0  # max-test: Gaussian smoothing of the held-out curve
    median_window: int = 3  # max-test: median filter before it
    # ratio: drop largest gamma until |a2/a1| < delta (paper-era) | t: |a2|/SE(a2) < t_threshold
    linearity: str = "ratio"
    delta: float = 0.1
    t_threshold: float = 2.0
    min_gamma_points: int = 5  # fewer gammas left in the linear region -> unreliable
    confidence: float = 0.68  # level of the extrapolated interval (NeuralMI default)
    leverage_threshold: float = 0.2  # leaving gamma = 1 out may move the intercept by at most 20%

    def __post_init__(self):
        self.sizes = [int(n) for n in self.sizes]
        self.gammas = sorted(int(g) for g in self.gammas)
        self.estimators = [str(e) for e in self.estimators]
        self.mi_bits = float(self.mi_bits)
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim: must be >= 1, got {self.latent_dim}")
        if self.mi_bits <= 0:
            raise ValueError(f"mi_bits: must be > 0, got {self.mi_bits}")
        if not self.latent_dim <= self.embedding_hidden <= self.ambient_dim:
            raise ValueError(
                f"embedding_hidden: need latent_dim <= embedding_hidden <= ambient_dim, got "
                f"{self.latent_dim}, {self.embedding_hidden}, {self.ambient_dim}"
            )
        if self.embedding_activation not in ("tanh", "relu", "linear"):
            raise ValueError(
                f"embedding_activation: must be tanh, relu or linear, got {self.embedding_activation!r}"
            )
        if not self.sizes or min(self.sizes) < 64 or len(set(self.sizes)) != len(self.sizes):
            raise ValueError(f"sizes: need distinct sample sizes >= 64, got {self.sizes}")
        if self.repeats < 1:
            raise ValueError(f"repeats: must be >= 1, got {self.repeats}")
        bad = [e for e in self.estimators if e not in ESTIMATORS]
        if bad or not self.estimators:
            raise ValueError(
                f"estimators: must be a non-empty subset of {list(ESTIMATORS)}, got {self.estimators}"
            )
        if len(set(self.gammas)) != len(self.gammas) or self.gammas[0] != 1 or len(self.gammas) < 3:
            raise ValueError(f"gammas: need at least 3 distinct values starting at 1, got {self.gammas}")
        if not 3 <= self.min_gamma_points <= len(self.gammas):
            raise ValueError(f"min_gamma_points: must be in [3, len(gammas)], got {self.min_gamma_points}")
        if min(self.sizes) // max(self.gammas) < 8:
            raise ValueError(
                f"gammas: the smallest chunk N/gamma must hold >= 8 samples (sizes {self.sizes})"
            )
        for name in ("ksg_k", "epochs", "batch_size", "critic_hidden", "critic_embed_dim", "critic_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1")
        for name in ("lr", "delta", "t_threshold", "leverage_threshold"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name}: must be > 0")
        if self.vsib_beta < 0 or self.smoothing_sigma < 0 or self.median_window < 1:
            raise ValueError("vsib_beta, smoothing_sigma: must be >= 0; median_window: must be >= 1")
        if not 0.5 <= self.train_fraction < 1:
            raise ValueError(f"train_fraction: must be in [0.5, 1), got {self.train_fraction}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence: must be in (0, 1), got {self.confidence}")
        if self.linearity not in ("ratio", "t"):
            raise ValueError(f"linearity: must be ratio or t, got {self.linearity!r}")

    # -- estimators ----------------------------------------------------------------------------

    def _trainer_kwargs(self) -> dict:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "hidden": self.critic_hidden,
            "embed_dim": self.critic_embed_dim,
            "layers": self.critic_layers,
            "beta": self.vsib_beta,
            "train_fraction": self.train_fraction,
            "smoothing_sigma": self.smoothing_sigma,
            "median_window": self.median_window,
        }

    def protocol(self, x, y, critic: str, seed: int) -> tuple[dict, list[dict]]:
        """The paper's protocol on one data set: per-chunk max-test runs, then extrapolation and checks.
        Returns (summary in bits, per-chunk records)."""
        chunks = P.gamma_chunks(len(x), self.gammas, np.random.default_rng(trial_seed(seed, "chunks")))
        runs = []
        for g, parts in chunks.items():
            for i, idx in enumerate(parts):
                r = train_max_test(
                    x[idx], y[idx], critic, seed=trial_seed(seed, critic, g, i), **self._trainer_kwargs()
                )
                runs.append(
                    {
                        "gamma": g,
                        "chunk": i,
                        "n": len(idx),
                        "train_mi": r["train_mi"] / LN2,
                        "test_mi": r["test_mi"] / LN2,
                        "best_epoch": r["best_epoch"],
                        "ceiling": r["ceiling"] / LN2,
                    }
                )
        gam = np.array([r["gamma"] for r in runs], dtype=float)
        val = np.array([r["train_mi"] for r in runs])
        sat = {
            g: float(np.mean([r["train_mi"] / r["ceiling"] for r in runs if r["gamma"] == g]))
            for g in self.gammas
        }
        fit_kw = {"delta": self.delta, "t_threshold": self.t_threshold, "min_points": self.min_gamma_points}
        ex = P.extrapolate(gam, val, level=self.confidence, criterion=self.linearity, **fit_kw)
        flags = P.consistency_flags(ex, leverage_threshold=self.leverage_threshold, saturation=sat)
        other = "t" if self.linearity == "ratio" else "ratio"
        ex_other = P.extrapolate(gam, val, level=self.confidence, criterion=other, **fit_kw)
        flags_other = P.consistency_flags(
            ex_other, leverage_threshold=self.leverage_threshold, saturation=sat
        )
        ci95 = P.extrapolate(gam, val, level=0.95, criterion=self.linearity, **fit_kw)
        pi = P.extrapolate(
            gam, val, level=self.confidence, kind="prediction", criterion=self.linearity, **fit_kw
        )
        out = {
            "estimate": ex.estimate,
            "slope": ex.slope,
            "ci_low": ex.ci_low,
            "ci_high": ex.ci_high,
            "ci95_low": ci95.ci_low,
            "ci95_high": ci95.ci_high,
            "pi_low": pi.ci_low,
            "pi_high": pi.ci_high,
            "gammas_used": ex.gammas_used,
            "linear": flags["linear"],
            "leverage_ok": flags["leverage_ok"],
            "reliable": flags["reliable"],
            "reliable_strict": flags["reliable_strict"],
            "saturated_gammas": flags["saturated_gammas"],
            "loo_shift": ex.loo_shift,
            "curv_ratio": ex.curvature.get("ratio"),
            "curv_t": ex.curvature.get("t"),
            f"estimate_{other}": ex_other.estimate,
            f"ci_low_{other}": ex_other.ci_low,
            f"ci_high_{other}": ex_other.ci_high,
            f"reliable_{other}": flags_other["reliable"],
            "gamma1_mi": float(np.mean([r["train_mi"] for r in runs if r["gamma"] == 1])),
            "per_gamma": {
                int(g): float(np.mean([r["train_mi"] for r in runs if r["gamma"] == g])) for g in self.gammas
            },
        }
        return out, runs

    # -- one data set --------------------------------------------------------------------------

    def _trial(self, task: tuple[int, int, int]) -> dict:
        seed, n, rep = task
        old = torch.get_num_threads()
        torch.set_num_threads(1)  # small nets: one thread is fastest and keeps results independent of n_jobs
        try:
            return self._trial_inner(seed, n, rep)
        finally:
            torch.set_num_threads(old)

    def _trial_inner(self, seed: int, n: int, rep: int) -> dict:
        dseed = trial_seed(seed, "mie-data", self.latent_dim, self.mi_bits, n, rep)
        x, y, lat = P.latent_mi_dataset(
            n,
            self.latent_dim,
            self.ambient_dim,
            self.mi_bits * LN2,
            dseed,
            hidden=self.embedding_hidden,
            activation=self.embedding_activation,
            return_latents=True,
        )
        rec: dict = {
            "n": n,
            "repeat": rep,
            "true_bits": self.mi_bits,
            "latent_dim": self.latent_dim,
            "mi_bits": self.mi_bits,
            "ambient_dim": self.ambient_dim,
        }
        chunk_records: list[dict] = []
        if "ksg" in self.estimators:
            rec["ksg"] = ksg_mi(x, y, self.ksg_k) / LN2
            if self.ksg_latent:
                rec["ksg_latent"] = ksg_mi(lat["zx"], lat["zy"], self.ksg_k) / LN2
        if "infonce" in self.estimators:
            steps = self.epochs * math.ceil(n / self.batch_size)
            rec["infonce"] = (
                train_critic_mi(
                    x,
                    y,
                    "separable",
                    "infonce",
                    steps,
                    batch_size=min(self.batch_size, n),
                    lr=self.lr,
                    hidden=self.critic_hidden,
                    embed_dim=self.critic_embed_dim,
                    layers=self.critic_layers,
                    seed=trial_seed(dseed, "plain"),
                )
                / LN2
            )
        for est in PROTOCOLS:
            if est not in self.estimators:
                continue
            summary, runs = self.protocol(
                x, y, "vsib" if est == "protocol_vsib" else "separable", trial_seed(dseed, est)
            )
            rec[est] = summary["estimate"]
            for k, v in summary.items():
                if k != "estimate":
                    rec[f"{est}_{k}"] = v
            t = self.mi_bits
            rec[f"{est}_covered"] = bool(summary["ci_low"] <= t <= summary["ci_high"])
            rec[f"{est}_covered95"] = bool(summary["ci95_low"] <= t <= summary["ci95_high"])
            rec[f"{est}_covered_pi"] = bool(summary["pi_low"] <= t <= summary["pi_high"])
            other = "t" if self.linearity == "ratio" else "ratio"
            rec[f"{est}_covered_{other}"] = bool(
                summary[f"ci_low_{other}"] <= t <= summary[f"ci_high_{other}"]
            )
            chunk_records += [{"n": n, "repeat": rep, "estimator": est, **r} for r in runs]
        return {"record": rec, "chunks": chunk_records}

    # -- the run -------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        out_dir = Path(out_dir)
        tasks = [(int(seed), n, r) for n in self.sizes for r in range(self.repeats)]
        results = map_trials(self._trial, tasks, n_jobs)
        records = [res["record"] for res in results]
        chunks = [c for res in results for c in res["chunks"]]
        flat = [{k: (str(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()} for r in records]
        write_trials(out_dir / "trials.csv", flat)
        if chunks:
            write_trials(out_dir / "chunks.csv", chunks)
        points = []
        for n in self.sizes:
            rs = [r for r in records if r["n"] == n]
            for est in [
                *self.estimators,
                *(["ksg_latent"] if "ksg" in self.estimators and self.ksg_latent else []),
            ]:
                vals = [r[est] for r in rs if est in r]
                if not vals:
                    continue
                err = [v - self.mi_bits for v in vals]
                p = {
                    "n": n,
                    "estimator": est,
                    "trials": len(vals),
                    "median_bits": statistics.median(vals),
                    "median_error_bits": statistics.median(err),
                    "mean_abs_error_bits": float(np.mean(np.abs(err))),
                    "sd_bits": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                }
                if est in PROTOCOLS:
                    cov = sum(bool(r[f"{est}_covered"]) for r in rs)
                    rel = sum(bool(r[f"{est}_reliable"]) for r in rs)
                    lo, hi = wilson_interval(cov, len(rs))
                    p.update(
                        {
                            "covered": cov,
                            "coverage": cov / len(rs),
                            "ci_low": lo,
                            "ci_high": hi,
                            "reliable": rel,
                            "reliable_rate": rel / len(rs),
                            "covered95": sum(bool(r[f"{est}_covered95"]) for r in rs),
                        }
                    )
                points.append(p)
        summary: dict = {
            "latent_dim": self.latent_dim,
            "mi_bits": self.mi_bits,
            "ambient_dim": self.ambient_dim,
            "datasets": len(records),
        }
        for est in PROTOCOLS:
            if est in self.estimators:
                summary[f"{est}_coverage"] = float(np.mean([r[f"{est}_covered"] for r in records]))
                summary[f"{est}_reliable_rate"] = float(np.mean([r[f"{est}_reliable"] for r in records]))
        for est in self.estimators:
            summary[f"{est}_median_error_bits"] = statistics.median(r[est] - self.mi_bits for r in records)
        return {**summary, "points": points, "trial_records": records}
