"""The run of Yang, Li, Jiang, Chen, Li, "Multi-Subspace Multi-Modal Modeling for Diffusion Models: Estimation,
Convergence and Mixture of Experts" (arXiv 2601.01475, ICLR 2026). No official code.

Two parts (``part``), one run each per seed:

``synthetic`` (one run = one ambient dimension D): a MoLR-MoG truth (K subspaces of dimension d in R^D, each
with ``modes`` well-separated latent Gaussian modes); for every total training-set size n of ``n_grid``
(nested samples) the same samples train
- ``mog``: the MoE-latent MoG score (``diffusion.molr_mog.MoLRMoGDenoiser``, the paper's model, structure
  known, parameters learned; clustering warm start);
- ``gaussian``: the same network with one latent mode per subspace (the paper's MoE-latent Gaussian / MoLRG);
- ``mlp``: a generic time-embedded MLP denoiser (``diffusion.mlp``).
All by the denoising loss with EDM noise levels and weighting (equivalently denoising score matching).
Metric: the σ²-weighted score error σ² E||ŝ(x_t) − ∇log p_t(x_t)||² = E||D̂(x_t) − D*(x_t)||² / σ² against the
closed form, averaged over ``eval_sigmas`` (fresh points of the true p_t); samples from the probability-flow
ODE are judged by their sliced Wasserstein distance to fresh true samples and by how their assignment to
the true modes matches the true weights (total variation).

``mnist`` (one run): the paper's practical model at MNIST scale. Each digit k is a subspace with a linear
"VAE" x = μ_k + A_k z (per-digit PCA, d = ``digit_dim``); in its latent, three experts are trained by the
denoising loss: a latent MoG (``digit_modes`` modes), a latent Gaussian and a latent MLP (the analogue of the
paper's MoE-latent U-Net). Class-conditional samples (expert k alone: with A_k fixed, the diffusion in the
orthogonal complement is pure noise and drops out, so expert k's latent diffusion is the exact conditional
model) are decoded and scored by an MNIST classifier trained in the run: the probability it gives the
intended digit (our analogue of the paper's CLIP score), its accuracy, a Fréchet distance in its feature
space to real test digits, and the samples' diversity relative to real digits.
"""

from __future__ import annotations

import base64
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from subspacelab.diffusion.losses import NoiseLevels
from subspacelab.diffusion.metrics import frechet_distance, sliced_wasserstein
from subspacelab.diffusion.mlp import MLPDenoiser
from subspacelab.diffusion.molr_mog import MoLRMoGDenoiser, molr_mog_truth, subspace_start, warm_start
from subspacelab.diffusion.samplers import sample as draw_samples
from subspacelab.diffusion.schedules import VESchedule
from subspacelab.experiments.harness import map_trials, trial_seed, write_trials
from subspacelab.lit.diffusion import fit_denoiser, loss_history
from subspacelab.lit.fit import is_distributed
from subspacelab.numerics.union_of_subspaces import random_bases

PARTS = ("synthetic", "mnist")
MODELS = ("mog", "gaussian", "mlp")


@dataclass
class Experiment:
    """MoLR-MoG (Yang, Li, Jiang, Chen, Li; arXiv 2601.01475, ICLR 2026). One run = the synthetic study at one ambient
    dimension D (every n of n_grid, every model on the same nested samples) or the MNIST study.

    One run: the synthetic study at one ambient dimension, or the MNIST study (module doc)."""

    TAG: ClassVar[str] = "${.part}-D${.ambient}"

    part: str = "synthetic"  # synthetic | mnist
    models: list[str] = field(
        default_factory=lambda: list(MODELS)
    )  # MoE-latent MoG (the paper) | MoE-latent Gaussian (MoLRG) | generic MLP score
    # --- synthetic truth: K subspaces of dimension d in R^D (orthogonal), `modes` latent Gaussian modes in each
    ambient: int = 64  # D
    K: int = 3
    d: int = 4  # d_k
    modes: int = 4  # n_k, latent modes per subspace
    separation: float = 3.0  # latent mode means at this distance from the origin (random directions)
    latent_std: float = 0.5  # each latent mode is N(m_kl, latent_std² I)
    n_grid: list[int] = field(
        default_factory=lambda: [100, 300, 1000, 3000, 10000]
    )  # total training samples (nested)
    # --- training, every model: denoising loss with EDM noise levels and weighting, Adam, cosine-decayed lr
    p_mean: float = -1.2  # ln σ ~ N(p_mean, p_std²)
    p_std: float = 1.2
    sigma_data: float | None = None  # EDM's σ_data; null: the training data's RMS per coordinate
    batch: int = 256
    steps: int = 2000  # Adam steps, cosine-decayed learning rate
    lr: float = 0.01  # MoG and Gaussian networks
    mlp_lr: float = 0.002
    mlp_width: int = 256  # the notes' "3 x 256, time-embedded" MLP
    mlp_depth: int = 3
    ksub_restarts: int = 64  # K-subspaces restarts of the warm start (random-point starts, <= 1000 samples)
    # --- evaluation
    eval_sigmas: list[float] = field(
        default_factory=lambda: [0.1, 0.3, 1.0]
    )  # noise levels of the score error
    score_points: int = 1000
    n_generate: int = 500  # probability-flow ODE samples per model (Heun, EDM grid, σ 80 -> 0.002)
    sampler_steps: int = 18
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    # --- mnist: per-digit PCA "VAE" (d = digit_dim) and latent experts; a classifier trained in the run judges samples
    data_root: str = "data/raw"
    digit_dim: int = 16
    digit_modes: int = 8  # latent MoG modes per digit
    train_per_digit: int | None = None  # null: every training image of the digit
    classifier_train: int | None = None  # images the judging classifier trains on (null: all 60,000)
    latent_mlp_width: int = 128
    classifier_epochs: int = 3
    samples_per_digit: int = 100
    grid_per_digit: int = 6  # samples per digit kept for the report's image grid

    def __post_init__(self):
        self.models = [str(m) for m in self.models]
        self.n_grid = sorted({int(v) for v in self.n_grid})
        self.eval_sigmas = [float(v) for v in self.eval_sigmas]
        if self.part not in PARTS:
            raise ValueError(f"part: one of {PARTS}, got {self.part!r}")
        bad = [m for m in self.models if m not in MODELS]
        if not self.models or bad:
            raise ValueError(f"models: a non-empty subset of {MODELS}, got {self.models}")
        if min(self.K, self.d, self.modes, self.digit_dim, self.digit_modes) < 1:
            raise ValueError("K, d, modes, digit_dim, digit_modes: must be >= 1")
        if self.part == "synthetic" and self.K * self.d > self.ambient:
            raise ValueError(
                f"ambient: need K*d <= ambient for orthogonal subspaces ({self.K}*{self.d} > {self.ambient})"
            )
        if not self.n_grid or self.n_grid[0] < self.K * self.modes:
            raise ValueError(f"n_grid: need n >= K*modes = {self.K * self.modes}")
        if self.separation <= 0 or self.latent_std <= 0:
            raise ValueError("separation, latent_std: must be > 0")
        if self.sigma_data is not None and self.sigma_data <= 0:
            raise ValueError("sigma_data: must be > 0 (or null: estimated from the data)")
        if (
            min(
                self.batch,
                self.steps,
                self.mlp_width,
                self.mlp_depth,
                self.ksub_restarts,
                self.latent_mlp_width,
            )
            < 1
        ):
            raise ValueError("batch, steps, widths, depth, ksub_restarts: must be >= 1")
        if min(self.lr, self.mlp_lr, self.p_std) <= 0:
            raise ValueError("lr, mlp_lr, p_std: must be > 0")
        if not self.eval_sigmas or min(self.eval_sigmas) <= 0:
            raise ValueError("eval_sigmas: positive noise levels")
        if min(self.score_points, self.n_generate, self.sampler_steps, self.samples_per_digit) < 2:
            raise ValueError("score_points, n_generate, sampler_steps, samples_per_digit: must be >= 2")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("need 0 < sigma_min < sigma_max")
        if self.train_per_digit is not None and self.train_per_digit < self.digit_dim + 1:
            raise ValueError("train_per_digit: need more images than digit_dim")
        if self.classifier_train is not None and self.classifier_train < 10:
            raise ValueError("classifier_train: need at least 10 images (or null: all)")
        if self.classifier_epochs < 1 or not 0 <= self.grid_per_digit <= self.samples_per_digit:
            raise ValueError("classifier_epochs >= 1 and 0 <= grid_per_digit <= samples_per_digit")

    def levels(self, sigma_data: float) -> NoiseLevels:
        return NoiseLevels("edm", p_mean=self.p_mean, p_std=self.p_std, sigma_data=sigma_data)

    def ve(self) -> VESchedule:
        return VESchedule(self.sigma_min, self.sigma_max)

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        """Every network trains through Lightning (``lit.diffusion.fit_denoiser``, ``lit.fit.fit``) placed by the
        run's ``trainer`` section; under DDP the grid runs in this process, in order."""
        started = time.perf_counter()
        jobs = 1 if is_distributed(trainer) else n_jobs
        if self.part == "synthetic":
            out = self._synthetic(seed, out_dir, jobs, trainer)
        else:
            out = _mnist(self, seed, trainer)
        out["part"] = self.part
        out["seconds"] = time.perf_counter() - started
        return out

    # ------------------------------------------------------------------------------------------
    # synthetic
    # ------------------------------------------------------------------------------------------
    def truth(self, seed: int):
        bases = random_bases(self.ambient, [self.d] * self.K, trial_seed(seed, "bases", self.ambient))
        return molr_mog_truth(
            bases, self.modes, self.separation, self.latent_std, trial_seed(seed, "modes", self.ambient)
        )

    def _synthetic(self, seed: int, out_dir: Path, n_jobs: int, trainer=None) -> dict:
        points = map_trials(lambda n: self._one_n(seed, n, trainer), self.n_grid, n_jobs)
        if out_dir is not None:
            write_trials(Path(out_dir) / "trials.csv", points)
        params = {m: self.network(m, 0).n_parameters() for m in self.models}
        return {
            "ambient": self.ambient,
            "K": self.K,
            "d": self.d,
            "modes": self.modes,
            "points": points,
            "parameters": params,
        }

    def network(self, model: str, seed: int, sigma_data: float = 0.5) -> nn.Module:
        if model == "mlp":
            return MLPDenoiser(self.ambient, self.mlp_width, self.mlp_depth, sigma_data=sigma_data, seed=seed)
        return MoLRMoGDenoiser(self.ambient, self.K, self.d, self.modes if model == "mog" else 1, seed=seed)

    def _one_n(self, seed: int, n: int, trainer=None) -> dict:
        torch.set_num_threads(1)
        truth = self.truth(seed)
        X_all, _ = truth.sample(max(self.n_grid), trial_seed(seed, "train", self.ambient))
        X = X_all[:n]
        sigma_data = self.sigma_data or float(X.pow(2).mean().sqrt())
        x0, _ = truth.sample(self.score_points, trial_seed(seed, "eval-points", self.ambient))
        fresh, comp = truth.sample(max(2000, self.n_generate), trial_seed(seed, "fresh", self.ambient))
        gen = torch.Generator().manual_seed(trial_seed(seed, "eval-noise", self.ambient))
        eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        point: dict = {"n": n, "sigma_data": sigma_data}
        bases = None
        for model in self.models:
            t0 = time.perf_counter()
            net = self.network(model, trial_seed(seed, model, "init", n), sigma_data)
            if model != "mlp":
                if bases is None:  # one K-subspaces start per cell, shared by the MoG and Gaussian networks
                    bases = subspace_start(X, self.K, self.d, trial_seed(seed, "ksub", n), self.ksub_restarts)
                point[f"{model}_warm_explained"] = warm_start(
                    net, X, trial_seed(seed, model, "warm", n), bases
                )
            hist = _train(
                net, X, self.levels(sigma_data), self, model, trial_seed(seed, model, "train", n), trainer
            )
            errs = {}
            with torch.no_grad():
                for sig in self.eval_sigmas:
                    xt = x0 + sig * eps
                    diff = net(xt, 1.0, sig).to(torch.float64) - truth.posterior_mean(xt, 1.0, sig)
                    errs[f"{sig:g}"] = float((diff**2).sum(1).mean()) / sig**2
                S = draw_samples(
                    "ode",
                    net,
                    self.ve(),
                    self.n_generate,
                    self.ambient,
                    seed=trial_seed(seed, "generate", self.ambient),
                    steps=self.sampler_steps,
                    t_min=0.0,
                    t_max=1.0,
                ).to(torch.float64)
            point[f"{model}_score_error"] = statistics.fmean(errs.values())
            point[f"{model}_score_error_by_sigma"] = errs
            point[f"{model}_final_loss"] = statistics.fmean(hist[-5:])
            point.update({f"{model}_{k}": v for k, v in _sample_quality(S, fresh, truth).items()})
            if model != "mlp":
                point[f"{model}_orthonormality"] = net.orthonormality_error()
            point[f"{model}_seconds"] = time.perf_counter() - t0
        # the yardstick: fresh true samples against fresh true samples
        point.update(
            {
                f"truth_{k}": v
                for k, v in _sample_quality(fresh[: self.n_generate], fresh[self.n_generate :], truth).items()
            }
        )
        return point


def _sample_quality(S: Tensor, fresh: Tensor, truth) -> dict:
    finite = torch.isfinite(S).all(1)
    S = S[finite]
    if S.shape[0] == 0:
        return {"sliced_w2": float("inf"), "mode_tv": 1.0, "frac_finite": 0.0}
    resp = truth.responsibilities(S, 1.0, 0.05)
    counts = torch.bincount(resp.argmax(1), minlength=resp.shape[1]).double() / S.shape[0]
    tv = 0.5 * float((counts - torch.exp(truth.log_weights)).abs().sum())
    return {
        "sliced_w2": sliced_wasserstein(S, fresh, seed=0),
        "mode_tv": tv,
        "frac_finite": float(finite.double().mean()),
    }


# ----------------------------------------------------------------------------------------------
# mnist
# ----------------------------------------------------------------------------------------------
class DigitClassifier(nn.Module):
    """784-256-256-10 ReLU MLP; ``features`` = the last hidden layer."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
        self.head = nn.Linear(256, 10)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def train_classifier(X: Tensor, y: Tensor, epochs: int, seed: int, trainer=None) -> DigitClassifier:
    """Adam (lr 1e-3) on the cross-entropy in shuffled batches of 128 for ``epochs`` epochs, through Lightning
    (``lit.SupervisedModule`` and the fit helper; under DDP each rank takes its slice of every global batch)."""
    from subspacelab.lit.classifier import fit_classifier

    torch.manual_seed(int(seed))
    clf = DigitClassifier()
    return fit_classifier(clf, X, y, 10, seed=int(seed), epochs=epochs, trainer=trainer)


def _train(
    net: nn.Module, X: Tensor, levels: NoiseLevels, exp: Experiment, model: str, seed: int, trainer
) -> list:
    """The denoiser's training through Lightning (``lit.diffusion.fit_denoiser``: on one process exactly the
    steps of a plain Adam loop, tested bit for bit); returns the loss every 1% of the steps."""
    lr = exp.mlp_lr if model == "mlp" else exp.lr
    fitted = fit_denoiser(net, X, levels, exp.steps, lr, exp.batch, seed, trainer=trainer)
    return loss_history(fitted.losses, exp.steps)


def _pairwise_spread(X: Tensor) -> float:
    return float(torch.pdist(X.double()).mean()) if X.shape[0] > 1 else 0.0


def _encode_grid(images: Tensor) -> dict:
    arr = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return {"shape": list(arr.shape), "b64": base64.b64encode(arr.tobytes()).decode()}


def _mnist(exp: Experiment, seed: int, trainer=None) -> dict:
    from subspacelab.data.vision import load_split, prepare_dataset

    prepare_dataset("mnist", exp.data_root)
    xtr, ytr = load_split("mnist", exp.data_root, train=True)
    xte, yte = load_split("mnist", exp.data_root, train=False)
    Xtr, Xte = xtr.reshape(len(xtr), -1).double() / 255, xte.reshape(len(xte), -1).double() / 255
    t0 = time.perf_counter()
    keep = slice(None) if exp.classifier_train is None else slice(0, exp.classifier_train)
    clf = train_classifier(
        Xtr[keep].float(), ytr[keep], exp.classifier_epochs, trial_seed(seed, "classifier"), trainer
    )
    with torch.no_grad():
        test_acc = float((clf(Xte.float()).argmax(1) == yte).double().mean())
    out: dict = {"classifier_test_accuracy": test_acc, "classifier_seconds": time.perf_counter() - t0}
    # per-digit linear "VAE": mean and top-d principal directions of the digit's training images
    decoders, latents = [], []
    rng = np.random.default_rng([int(seed), 7])
    for k in range(10):
        Xk = Xtr[ytr == k]
        if exp.train_per_digit is not None and Xk.shape[0] > exp.train_per_digit:
            Xk = Xk[torch.from_numpy(rng.choice(Xk.shape[0], exp.train_per_digit, replace=False))]
        mu = Xk.mean(0)
        _, _, Vh = torch.linalg.svd(Xk - mu, full_matrices=False)
        A = Vh[: exp.digit_dim].T.contiguous()
        decoders.append((mu, A))
        latents.append((Xk - mu) @ A)
    sigma_data = exp.sigma_data or float(torch.cat(latents).pow(2).mean().sqrt())
    out["sigma_data"] = sigma_data
    real = {k: Xte[yte == k][: exp.samples_per_digit] for k in range(10)}
    # the decoder's own ceiling: real test digits projected onto their digit's affine PCA subspace
    ceiling = torch.cat(
        [decoders[k][0] + ((real[k] - decoders[k][0]) @ decoders[k][1]) @ decoders[k][1].T for k in range(10)]
    )
    labels = torch.cat([torch.full((real[k].shape[0],), k) for k in range(10)])
    real_all = torch.cat([real[k] for k in range(10)])
    out["pca_ceiling"] = _judge(clf, ceiling, labels, real_all)
    out["real_test"] = _judge(clf, real_all, labels, real_all)
    grids = {
        "real": _encode_grid(
            torch.stack([real[k][: exp.grid_per_digit] for k in range(10)]).reshape(
                10, exp.grid_per_digit, 28, 28
            )
        )
    }
    for model in exp.models:
        t0 = time.perf_counter()
        samples, params, losses = [], 0, []
        for k in range(10):
            net = _latent_expert(exp, model, k, seed, sigma_data)
            if model != "mlp":
                warm_start(net, latents[k], seed=trial_seed(seed, model, "warm", k))
            hist = _train(
                net,
                latents[k],
                exp.levels(sigma_data),
                exp,
                model,
                trial_seed(seed, model, "train", k),
                trainer,
            )
            losses.append(statistics.fmean(hist[-5:]))
            params += net.n_parameters(include_bases=False) if model != "mlp" else net.n_parameters()
            with torch.no_grad():
                z = draw_samples(
                    "ode",
                    net,
                    exp.ve(),
                    exp.samples_per_digit,
                    exp.digit_dim,
                    seed=trial_seed(seed, "generate", k),
                    steps=exp.sampler_steps,
                    t_min=0.0,
                    t_max=1.0,
                ).to(torch.float64)
            mu, A = decoders[k]
            samples.append((mu + z @ A.T).clamp(0, 1))
        S = torch.cat(samples)
        out[model] = {
            **_judge(clf, S, labels, real_all),
            "expert_parameters": params,
            "final_loss": statistics.fmean(losses),
            "seconds": time.perf_counter() - t0,
        }
        grids[model] = _encode_grid(
            torch.stack([s[: exp.grid_per_digit] for s in samples]).reshape(10, exp.grid_per_digit, 28, 28)
        )
    out["decoder_parameters"] = sum(mu.numel() + A.numel() for mu, A in decoders)
    out["grids"] = grids
    return out


def _latent_expert(exp: Experiment, model: str, k: int, seed: int, sigma_data: float) -> nn.Module:
    if model == "mlp":
        return MLPDenoiser(
            exp.digit_dim,
            exp.latent_mlp_width,
            exp.mlp_depth,
            sigma_data=sigma_data,
            seed=trial_seed(seed, model, "init", k),
        )
    modes = exp.digit_modes if model == "mog" else 1
    return MoLRMoGDenoiser(
        exp.digit_dim,
        1,
        exp.digit_dim,
        modes,
        seed=trial_seed(seed, model, "init", k),
        learn_bases=False,
        bases=torch.eye(exp.digit_dim, dtype=torch.float64),
    )


@torch.no_grad()
def _judge(clf: DigitClassifier, S: Tensor, labels: Tensor, real: Tensor) -> dict:
    """Classifier-based scores of images S whose intended digits are ``labels`` (real: real test digits)."""
    logits = clf(S.float())
    prob = torch.softmax(logits, 1)
    intended = prob[torch.arange(S.shape[0]), labels]
    spread = statistics.fmean(
        _pairwise_spread(S[labels == k]) / max(_pairwise_spread(real[labels == k]), 1e-12) for k in range(10)
    )
    return {
        "intended_prob": float(intended.mean()),
        "accuracy": float((logits.argmax(1) == labels).double().mean()),
        "feature_fd": frechet_distance(clf.features(S.float()), clf.features(real.float())),
        "diversity_ratio": spread,
    }
