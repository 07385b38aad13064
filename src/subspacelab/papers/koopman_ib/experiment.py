"""What one run of koopman_ib computes: one Koopman autoencoder trained (through Lightning) on one dynamical
system with one of four objectives, then judged on held-out trajectories.

Objectives (``dynamics.koopman.koopman_loss``, weights from the authors' cylinder.yaml and trainer):
``kae`` (prediction + 0.1 × reconstruction: the plain Koopman autoencoder), ``kae_mi`` (+ 2 × temporal InfoNCE),
``kae_mi_entropy`` (+ 2 × InfoNCE − 0.1 × von Neumann entropy: the entropy maximised, as the paper's Algorithm 2
does) and ``kae_mi_entropy_code`` (+ 2 × InfoNCE + 0.1 × entropy: the released code's sign).
The systems (``dynamics.systems``) and their train/test trajectories are shared by the four objectives of a seed.

Measured: relative L2 error of latent rollouts z_0 Kʰ from each test trajectory's first state, at several
horizons, with K the ridge operator fitted to all training latent pairs at once (``pooled_operator``; the mean
of the per-window operators that training uses, and that the code saves, is shrunk by the ridge towards 0 and
decays within a few dozen steps: its spectrum is recorded too); the effective rank (exp of the von Neumann
entropy) of the test latents; the moduli of K's eigenvalues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.configurable import one_of, require
from subspacelab.dynamics import koopman as kp
from subspacelab.dynamics.systems import SYSTEMS, observations
from subspacelab.experiments.harness import trial_seed

ENTROPY_SIGN = {"kae": None, "kae_mi": None, "kae_mi_entropy": -1.0, "kae_mi_entropy_code": 1.0}
OBJECTIVES = tuple(ENTROPY_SIGN)


@dataclass
class Experiment:
    """koopman_ib: one run = one system × objective × seed (module doc). Tags: [code] Wenxuan52/InformationKoopman
    (base.py, trainer.py, cylinder.yaml); [notes] the project notes' plan; [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "${.system}-${.objective}"  # the run's name in its run_dir (the seed is appended)

    system: str = "duffing"  # duffing | lorenz | stuart_landau
    objective: str = "kae_mi_entropy"  # kae | kae_mi | kae_mi_entropy | kae_mi_entropy_code
    # --- data [ours]
    train_trajectories: int = 60
    test_trajectories: int = 20
    length: int = 201  # states per trajectory
    window_stride: int = 8  # training windows start every this many steps
    obs_dim: int = 64  # lifted observations of duffing and lorenz (stuart_landau: its 16 x 16 field)
    # --- model [ours; code: conv encoder, latent 512]
    latent_dim: int = 16
    hidden: int = 128
    # --- the Lagrangian [code: cylinder.yaml, trainer defaults]
    seq_length: int = 16  # T
    identity_weight: float = 0.1  # lamb
    mi_weight: float = 2.0  # alpha [paper Table 12 too]
    entropy_weight: float = 0.1  # |gamma| [paper Table 12; code beta]; its sign is the objective's
    mi_window: int = 3  # k
    temperature: float = 0.1  # the trainer's default (the yaml's 0.07 is never passed)
    ridge: float = 0.1  # batch_pinv I_factor
    # --- optimisation [code: Adam 1e-3, StepLR(20, 0.8), clip 1, batch 16; epochs ours, paper 300]
    batch_size: int = 16
    epochs: int = 40
    lr: float = 1.0e-3
    step_epochs: int = 20
    gamma: float = 0.8
    clip: float = 1.0
    # --- evaluation [ours]
    horizons: list[int] = field(default_factory=lambda: [1, 10, 25, 50, 100])

    def __post_init__(self):
        one_of(self.system, SYSTEMS, "experiment.system")
        one_of(self.objective, OBJECTIVES, "experiment.objective")
        require(
            self.seq_length >= 2 * self.mi_window + 1, "experiment.seq_length", "must be >= 2 * mi_window + 1"
        )
        require(self.length > self.seq_length + 1, "experiment.length", "must exceed seq_length + 1")
        require(
            all(1 <= h < self.length for h in self.horizons),
            "experiment.horizons",
            f"each in 1..{self.length - 1}",
        )
        for name in (
            "train_trajectories",
            "test_trajectories",
            "window_stride",
            "latent_dim",
            "hidden",
            "epochs",
            "batch_size",
            "step_epochs",
        ):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        windows = self.train_trajectories * len(range(0, self.length - self.seq_length, self.window_stride))
        require(
            self.batch_size <= windows, "experiment.batch_size", f"at most the {windows} training windows"
        )
        for name in ("lr", "ridge", "temperature"):
            require(float(getattr(self, name)) > 0, f"experiment.{name}", "must be > 0")

    def weights(self) -> kp.LossWeights:
        sign = ENTROPY_SIGN[self.objective]
        return kp.LossWeights(
            identity=self.identity_weight,
            mi=0.0 if self.objective == "kae" else self.mi_weight,
            entropy=0.0 if sign is None else sign * self.entropy_weight,
            mi_window=self.mi_window,
            temperature=self.temperature,
            ridge=self.ridge,
        )

    def data(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(training windows (N, T+1, obs), test trajectories (M, length, obs)), standardised by the training
        trajectories' per-feature mean and spread (as the code's per-channel z-score)."""
        n = self.train_trajectories + self.test_trajectories
        obs = observations(
            self.system, n, self.length, trial_seed(seed, "koopman_ib", self.system), self.obs_dim
        )
        train, test = obs[: self.train_trajectories], obs[self.train_trajectories :]
        mean, std = train.mean((0, 1)), train.std((0, 1)) + 1e-8
        train, test = (train - mean) / std, (test - mean) / std
        starts = range(0, self.length - self.seq_length, self.window_stride)
        windows = np.concatenate([train[:, s : s + self.seq_length + 1] for s in starts])
        return torch.as_tensor(windows, dtype=torch.float32), torch.as_tensor(test, dtype=torch.float32)

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        from subspacelab.lit.fit import world_size
        from subspacelab.lit.koopman import fit_koopman

        torch.set_num_threads(1)  # 16 x 16 matrices: one thread is faster, and unhurt by a busy second core
        windows, test = self.data(seed)
        torch.manual_seed(trial_seed(seed, "koopman_ib", "init", self.system))
        model = kp.MLPAutoencoder(windows.shape[-1], self.latent_dim, self.hidden)
        fitted = fit_koopman(
            model,
            windows,
            self.weights(),
            epochs=self.epochs,
            batch=self.batch_size,
            seed=trial_seed(seed, "koopman_ib", "order", self.system),
            lr=self.lr,
            step_epochs=self.step_epochs,
            gamma=self.gamma,
            clip=self.clip,
            trainer=trainer,
            limit_val_batches=0,
            default_root_dir=str(out_dir),
        )
        model.eval()
        K = kp.pooled_operator(model, windows[:, :-1], windows[:, 1:], self.ridge)
        K_mean = kp.global_operator(model, windows[:, :-1], windows[:, 1:], self.ridge)
        with torch.no_grad():
            latents = model.encode(test)
        errors = kp.rollout_errors(model, K, test, self.horizons)
        return {
            "system": self.system,
            "objective": self.objective,
            "world_size": world_size(),
            "rollout_error": {str(h): e for h, e in errors.items()},
            "effective_rank": kp.effective_rank(latents),
            "spectrum": kp.spectrum(K),
            "window_mean_spectrum": kp.spectrum(K_mean),
            "final_losses": fitted.history[-1] if fitted.history else {},
        }
