"""Glue for Yang, Li, Jiang, Chen, Li, "Multi-Subspace Multi-Modal Modeling for Diffusion Models: Estimation,
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
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from subspacelab.diffusion.losses import NoiseLevels, TrainConfig, train_denoiser
from subspacelab.diffusion.metrics import sliced_wasserstein
from subspacelab.diffusion.mlp import MLPDenoiser
from subspacelab.diffusion.molr_mog import MoLRMoGDenoiser, molr_mog_truth, subspace_start, warm_start
from subspacelab.diffusion.samplers import sample as draw_samples
from subspacelab.diffusion.schedules import VESchedule
from subspacelab.experiments.harness import map_trials, trial_seed, write_trials
from subspacelab.numerics.union_of_subspaces import random_bases

PARTS = ("synthetic", "mnist")
MODELS = ("mog", "gaussian", "mlp")
LABELS = {"mog": "MoE-latent MoG (paper)", "gaussian": "MoE-latent Gaussian (MoLRG)", "mlp": "MLP score"}
COLORS = {"mog": "tab:blue", "gaussian": "tab:orange", "mlp": "tab:red", "pca_ceiling": "tab:gray"}


@dataclass
class Experiment:
    """One run: the synthetic study at one ambient dimension, or the MNIST study (module doc)."""

    part: str = "synthetic"
    models: list[str] = field(default_factory=lambda: list(MODELS))
    # --- synthetic truth
    ambient: int = 64
    K: int = 3
    d: int = 4
    modes: int = 4
    separation: float = 3.0  # latent mode means at this distance from the origin (random directions)
    latent_std: float = 0.5  # each latent mode is N(m_kl, latent_std² I)
    n_grid: list[int] = field(default_factory=lambda: [100, 300, 1000, 3000, 10000])  # total training samples
    # --- training (every model, both parts): EDM noise levels and weighting
    p_mean: float = -1.2
    p_std: float = 1.2
    sigma_data: float | None = None  # None: the training data's RMS per coordinate
    batch: int = 256
    steps: int = 2000  # Adam steps, cosine-decayed learning rate
    lr: float = 0.01  # MoG / Gaussian networks
    mlp_lr: float = 0.002
    mlp_width: int = 256
    mlp_depth: int = 3
    ksub_restarts: int = 64  # K-subspaces restarts of the warm start (on at most 1000 of the samples)
    # --- evaluation
    eval_sigmas: list[float] = field(default_factory=lambda: [0.1, 0.3, 1.0])
    score_points: int = 1000
    n_generate: int = 500
    sampler_steps: int = 18
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    # --- mnist
    data_root: str = "data/raw"
    digit_dim: int = 16
    digit_modes: int = 8
    train_per_digit: int | None = None  # None: every training image of the digit
    classifier_train: int | None = None  # None: all 60,000 training images
    latent_mlp_width: int = 128
    classifier_epochs: int = 3
    samples_per_digit: int = 100
    grid_per_digit: int = 6  # samples per digit stored for the report's grid

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
            raise ValueError(f"ambient: need K*d <= ambient for orthogonal subspaces ({self.K}*{self.d} > {self.ambient})")
        if not self.n_grid or self.n_grid[0] < self.K * self.modes:
            raise ValueError(f"n_grid: need n >= K*modes = {self.K * self.modes}")
        if self.separation <= 0 or self.latent_std <= 0:
            raise ValueError("separation, latent_std: must be > 0")
        if self.sigma_data is not None and self.sigma_data <= 0:
            raise ValueError("sigma_data: must be > 0 (or null: estimated from the data)")
        if min(self.batch, self.steps, self.mlp_width, self.mlp_depth, self.ksub_restarts, self.latent_mlp_width) < 1:
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

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        started = time.perf_counter()
        out = self._synthetic(seed, out_dir, n_jobs) if self.part == "synthetic" else _mnist(self, seed)
        out["part"] = self.part
        out["seconds"] = time.perf_counter() - started
        return out

    # ------------------------------------------------------------------------------------------
    # synthetic
    # ------------------------------------------------------------------------------------------
    def truth(self, seed: int):
        bases = random_bases(self.ambient, [self.d] * self.K, trial_seed(seed, "bases", self.ambient))
        return molr_mog_truth(bases, self.modes, self.separation, self.latent_std, trial_seed(seed, "modes", self.ambient))

    def _synthetic(self, seed: int, out_dir: Path, n_jobs: int) -> dict:
        points = map_trials(lambda n: self._one_n(seed, n), self.n_grid, n_jobs)
        if out_dir is not None:
            write_trials(Path(out_dir) / "trials.csv", points)
        params = {m: self.network(m, 0).n_parameters() for m in self.models}
        return {"ambient": self.ambient, "K": self.K, "d": self.d, "modes": self.modes, "points": points,
                "parameters": params}

    def network(self, model: str, seed: int, sigma_data: float = 0.5) -> nn.Module:
        if model == "mlp":
            return MLPDenoiser(self.ambient, self.mlp_width, self.mlp_depth, sigma_data=sigma_data, seed=seed)
        return MoLRMoGDenoiser(self.ambient, self.K, self.d, self.modes if model == "mog" else 1, seed=seed)

    def _one_n(self, seed: int, n: int) -> dict:
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
                point[f"{model}_warm_explained"] = warm_start(net, X, trial_seed(seed, model, "warm", n), bases)
            hist = train_denoiser(net, X, self.levels(sigma_data),
                                  TrainConfig(self.steps, self.mlp_lr if model == "mlp" else self.lr, self.batch,
                                              seed=trial_seed(seed, model, "train", n)))
            errs = {}
            with torch.no_grad():
                for sig in self.eval_sigmas:
                    xt = x0 + sig * eps
                    diff = net(xt, 1.0, sig).to(torch.float64) - truth.posterior_mean(xt, 1.0, sig)
                    errs[f"{sig:g}"] = float((diff**2).sum(1).mean()) / sig**2
                S = draw_samples("ode", net, self.ve(), self.n_generate, self.ambient,
                                 seed=trial_seed(seed, "generate", self.ambient), steps=self.sampler_steps,
                                 t_min=0.0, t_max=1.0).to(torch.float64)
            point[f"{model}_score_error"] = statistics.fmean(errs.values())
            point[f"{model}_score_error_by_sigma"] = errs
            point[f"{model}_final_loss"] = statistics.fmean(hist[-5:])
            point.update({f"{model}_{k}": v for k, v in _sample_quality(S, fresh, truth).items()})
            if model != "mlp":
                point[f"{model}_orthonormality"] = net.orthonormality_error()
            point[f"{model}_seconds"] = time.perf_counter() - t0
        # the yardstick: fresh true samples against fresh true samples
        point.update({f"truth_{k}": v for k, v in _sample_quality(fresh[: self.n_generate],
                                                                     fresh[self.n_generate:], truth).items()})
        return point


def _sample_quality(S: Tensor, fresh: Tensor, truth) -> dict:
    finite = torch.isfinite(S).all(1)
    S = S[finite]
    if S.shape[0] == 0:
        return {"sliced_w2": float("inf"), "mode_tv": 1.0, "frac_finite": 0.0}
    resp = truth.responsibilities(S, 1.0, 0.05)
    counts = torch.bincount(resp.argmax(1), minlength=resp.shape[1]).double() / S.shape[0]
    tv = 0.5 * float((counts - torch.exp(truth.log_weights)).abs().sum())
    return {"sliced_w2": sliced_wasserstein(S, fresh, seed=0), "mode_tv": tv, "frac_finite": float(finite.double().mean())}


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


def train_classifier(X: Tensor, y: Tensor, epochs: int, seed: int) -> DigitClassifier:
    torch.manual_seed(int(seed))
    clf = DigitClassifier()
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(int(seed))
    for _ in range(epochs):
        for idx in torch.randperm(X.shape[0], generator=gen).split(128):
            loss = nn.functional.cross_entropy(clf(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return clf.eval()


def frechet_distance(A: Tensor, B: Tensor) -> float:
    """||μ_A − μ_B||² + tr(Σ_A + Σ_B − 2 (Σ_A Σ_B)^{1/2}) between Gaussian fits of the rows of A and B.
    tr (Σ_A Σ_B)^{1/2} = Σ sqrt(λ_i(Σ_A Σ_B)): the eigenvalues of a product of two PSD matrices are real and
    >= 0 (round-off clipped), which also holds when the covariances are singular (fewer samples than features)."""
    a, b = A.double().numpy(), B.double().numpy()
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    lam = np.clip(np.linalg.eigvals(ca @ cb).real, 0.0, None)
    return float(((ma - mb) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.sqrt(lam).sum())


def _pairwise_spread(X: Tensor) -> float:
    return float(torch.pdist(X.double()).mean()) if X.shape[0] > 1 else 0.0


def _encode_grid(images: Tensor) -> dict:
    arr = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return {"shape": list(arr.shape), "b64": base64.b64encode(arr.tobytes()).decode()}


def decode_grid(blob: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(blob["b64"]), dtype=np.uint8).reshape(blob["shape"])


def _mnist(exp: Experiment, seed: int) -> dict:
    from subspacelab.data.vision import load_split, prepare_dataset

    prepare_dataset("mnist", exp.data_root)
    xtr, ytr = load_split("mnist", exp.data_root, train=True)
    xte, yte = load_split("mnist", exp.data_root, train=False)
    Xtr, Xte = xtr.reshape(len(xtr), -1).double() / 255, xte.reshape(len(xte), -1).double() / 255
    t0 = time.perf_counter()
    keep = slice(None) if exp.classifier_train is None else slice(0, exp.classifier_train)
    clf = train_classifier(Xtr[keep].float(), ytr[keep], exp.classifier_epochs, trial_seed(seed, "classifier"))
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
    ceiling = torch.cat([decoders[k][0] + ((real[k] - decoders[k][0]) @ decoders[k][1]) @ decoders[k][1].T
                         for k in range(10)])
    labels = torch.cat([torch.full((real[k].shape[0],), k) for k in range(10)])
    real_all = torch.cat([real[k] for k in range(10)])
    out["pca_ceiling"] = _judge(clf, ceiling, labels, real_all)
    out["real_test"] = _judge(clf, real_all, labels, real_all)
    grids = {"real": _encode_grid(torch.stack([real[k][: exp.grid_per_digit] for k in range(10)]).reshape(
        10, exp.grid_per_digit, 28, 28))}
    for model in exp.models:
        t0 = time.perf_counter()
        samples, params, losses = [], 0, []
        for k in range(10):
            net = _latent_expert(exp, model, k, seed, sigma_data)
            if model != "mlp":
                warm_start(net, latents[k], seed=trial_seed(seed, model, "warm", k))
            hist = train_denoiser(net, latents[k], exp.levels(sigma_data),
                                  TrainConfig(exp.steps, exp.mlp_lr if model == "mlp" else exp.lr, exp.batch,
                                              seed=trial_seed(seed, model, "train", k)))
            losses.append(statistics.fmean(hist[-5:]))
            params += net.n_parameters(include_bases=False) if model != "mlp" else net.n_parameters()
            with torch.no_grad():
                z = draw_samples("ode", net, exp.ve(), exp.samples_per_digit, exp.digit_dim,
                                 seed=trial_seed(seed, "generate", k), steps=exp.sampler_steps,
                                 t_min=0.0, t_max=1.0).to(torch.float64)
            mu, A = decoders[k]
            samples.append((mu + z @ A.T).clamp(0, 1))
        S = torch.cat(samples)
        out[model] = {**_judge(clf, S, labels, real_all), "expert_parameters": params,
                      "final_loss": statistics.fmean(losses), "seconds": time.perf_counter() - t0}
        grids[model] = _encode_grid(torch.stack([s[: exp.grid_per_digit] for s in samples]).reshape(
            10, exp.grid_per_digit, 28, 28))
    out["decoder_parameters"] = sum(mu.numel() + A.numel() for mu, A in decoders)
    out["grids"] = grids
    return out


def _latent_expert(exp: Experiment, model: str, k: int, seed: int, sigma_data: float) -> nn.Module:
    if model == "mlp":
        return MLPDenoiser(exp.digit_dim, exp.latent_mlp_width, exp.mlp_depth, sigma_data=sigma_data,
                           seed=trial_seed(seed, model, "init", k))
    modes = exp.digit_modes if model == "mog" else 1
    return MoLRMoGDenoiser(exp.digit_dim, 1, exp.digit_dim, modes, seed=trial_seed(seed, model, "init", k),
                           learn_bases=False, bases=torch.eye(exp.digit_dim, dtype=torch.float64))


@torch.no_grad()
def _judge(clf: DigitClassifier, S: Tensor, labels: Tensor, real: Tensor) -> dict:
    """Classifier-based scores of images S whose intended digits are ``labels`` (real: real test digits)."""
    logits = clf(S.float())
    prob = torch.softmax(logits, 1)
    intended = prob[torch.arange(S.shape[0]), labels]
    spread = statistics.fmean(_pairwise_spread(S[labels == k]) / max(_pairwise_spread(real[labels == k]), 1e-12)
                              for k in range(10))
    return {"intended_prob": float(intended.mean()), "accuracy": float((logits.argmax(1) == labels).double().mean()),
            "feature_fd": frechet_distance(clf.features(S.float()), clf.features(real.float())),
            "diversity_ratio": spread}


# ----------------------------------------------------------------------------------------------
# aggregation
# ----------------------------------------------------------------------------------------------
def synthetic_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("part") == "synthetic" and "points" in r]


def mnist_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("part") == "mnist"]


def error_table(rows: list[dict], model: str, metric: str = "score_error") -> dict[int, dict[int, float]]:
    """D -> n -> median over seeds of ``model``'s ``metric``."""
    vals: dict[int, dict[int, list[float]]] = {}
    for r in synthetic_rows(rows):
        for p in r["points"]:
            key = f"{model}_{metric}"
            if key in p:
                vals.setdefault(int(r["ambient"]), {}).setdefault(int(p["n"]), []).append(float(p[key]))
    return {D: {n: statistics.median(v) for n, v in sorted(byn.items())} for D, byn in sorted(vals.items())}


def loglog_slope(xs, ys) -> float:
    slope, _ = np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)
    return float(slope)


def _geo_mean(v) -> float:
    return float(math.exp(statistics.fmean(math.log(x) for x in v)))


def _fmt(v: float) -> str:
    return f"{v:.3g}"


# ----------------------------------------------------------------------------------------------
# derive rules
# ----------------------------------------------------------------------------------------------
def _ratio_cells(claim: dict, rows: list[dict]):
    """Median ``model`` error / median ``baseline`` error in every (D, n) cell with n >= ``min_n``.
    reproduced: every ratio <= ``max_ratio``; partly: at least half of them; not_reproduced: fewer."""
    dv = claim["derive"]
    metric = dv.get("metric", "score_error")
    a, b = error_table(rows, dv["model"], metric), error_table(rows, dv["baseline"], metric)
    ratios = {(D, n): a[D][n] / b[D][n] for D in a if D in b for n in a[D]
              if n in b[D] and n >= int(dv.get("min_n", 0)) and b[D][n] > 0}
    if not ratios:
        return {"value": "n/a"}, "not_run", f"no cells with both {dv['model']} and {dv['baseline']}"
    good = sum(v <= float(dv["max_ratio"]) for v in ratios.values())
    measured = {"value": f"{good}/{len(ratios)} cells with ratio <= {dv['max_ratio']:g} (median ratio "
                         f"{statistics.median(ratios.values()):.3g}, max {max(ratios.values()):.3g})",
                "ratios": {f"D={D},n={n}": v for (D, n), v in ratios.items()}}
    verdict = "reproduced" if good == len(ratios) else "partly" if good >= len(ratios) / 2 else "not_reproduced"
    return measured, verdict, f"{metric} of {LABELS[dv['model']]} / {LABELS[dv['baseline']]}, medians over seeds"


def _rate(claim: dict, rows: list[dict]):
    """Log-log slope of ``model``'s median error against n, per D, then averaged over D.
    reproduced: mean slope <= ``reproduced_max``; partly: <= ``partly_max``; not_reproduced otherwise."""
    dv = claim["derive"]
    table = error_table(rows, dv["model"], dv.get("metric", "score_error"))
    slopes = {D: loglog_slope(list(t), list(t.values())) for D, t in table.items() if len(t) >= 2}
    if not slopes:
        return {"value": "n/a"}, "not_run", "fewer than two n per D"
    mean = statistics.fmean(slopes.values())
    measured = {"value": f"slope {mean:.2f} (" + ", ".join(f"D={D}: {s:.2f}" for D, s in slopes.items()) + ")",
                "slope": mean, "per_D": {str(D): s for D, s in slopes.items()}}
    verdict = ("reproduced" if mean <= float(dv["reproduced_max"])
               else "partly" if mean <= float(dv["partly_max"]) else "not_reproduced")
    return measured, verdict, "slope of the σ²-weighted squared score error against n (log-log)"


def _dimension_ratio(claim: dict, rows: list[dict]):
    """Geometric mean over n of error(D_max) / error(D_min) for ``model`` (medians over seeds).
    direction "flat": reproduced <= ``reproduced_ratio``, partly <= ``partly_ratio``;
    direction "grows": reproduced >= ``reproduced_ratio``, partly >= ``partly_ratio``."""
    dv = claim["derive"]
    table = error_table(rows, dv["model"], dv.get("metric", "score_error"))
    if len(table) < 2:
        return {"value": "n/a"}, "not_run", "fewer than two ambient dimensions"
    lo, hi = min(table), max(table)
    ns = [n for n in table[lo] if n in table[hi]]
    if not ns:
        return {"value": "n/a"}, "not_run", "no common n"
    per_n = {n: table[hi][n] / table[lo][n] for n in ns}
    g = _geo_mean(per_n.values())
    measured = {"value": f"error(D={hi}) / error(D={lo}) = {g:.2f} (geometric mean over n; "
                         + ", ".join(f"n={n}: {v:.2f}" for n, v in per_n.items()) + ")",
                "ratio": g, "per_n": {str(n): v for n, v in per_n.items()}}
    if dv["direction"] == "flat":
        verdict = ("reproduced" if g <= dv["reproduced_ratio"] else "partly" if g <= dv["partly_ratio"]
                   else "not_reproduced")
    else:
        verdict = ("reproduced" if g >= dv["reproduced_ratio"] else "partly" if g >= dv["partly_ratio"]
                   else "not_reproduced")
    return measured, verdict, LABELS[dv["model"]]


def _samples_better(claim: dict, rows: list[dict]):
    """At the largest n of every D: ``model``'s sample ``metric`` / ``baseline``'s (medians over seeds).
    reproduced: every ratio <= ``max_ratio``; partly: every ratio < 1; not_reproduced otherwise."""
    dv = claim["derive"]
    metric = dv.get("metric", "sliced_w2")
    a, b = error_table(rows, dv["model"], metric), error_table(rows, dv["baseline"], metric)
    t = error_table(rows, "truth", metric)
    per = {}
    for D in a:
        if D in b:
            n = max(a[D])
            per[D] = {"n": n, "model": a[D][n], "baseline": b[D][n], "truth": t.get(D, {}).get(n),
                      "ratio": a[D][n] / b[D][n] if b[D][n] > 0 else float("inf")}
    if not per:
        return {"value": "n/a"}, "not_run", "no runs with both models"
    value = "; ".join(f"D={D}: {_fmt(v['model'])} vs {_fmt(v['baseline'])} (fresh true samples {_fmt(v['truth'] or 0)})"
                      for D, v in per.items())
    ratios = [v["ratio"] for v in per.values()]
    verdict = ("reproduced" if all(r <= dv["max_ratio"] for r in ratios)
               else "partly" if all(r < 1 for r in ratios) else "not_reproduced")
    return {"value": value, "per_D": {str(D): v for D, v in per.items()}}, verdict, f"{metric} at the largest n"


def _mnist_scores(rows: list[dict], metric: str) -> dict[str, float]:
    vals: dict[str, list[float]] = {}
    for r in mnist_rows(rows):
        for m in (*MODELS, "pca_ceiling", "real_test"):
            if m in r and metric in r[m]:
                vals.setdefault(m, []).append(float(r[m][metric]))
    return {m: statistics.fmean(v) for m, v in vals.items()}


def _mnist_gap(claim: dict, rows: list[dict]):
    """Mean over seeds of ``metric`` (classifier probability of the intended digit): ``model`` − ``baseline``.
    reproduced: >= ``reproduced_gap``; partly: >= ``partly_gap``; not_reproduced otherwise."""
    dv = claim["derive"]
    s = _mnist_scores(rows, dv.get("metric", "intended_prob"))
    if dv["model"] not in s or dv["baseline"] not in s:
        return {"value": "n/a"}, "not_run", "no MNIST run with both models"
    gap = s[dv["model"]] - s[dv["baseline"]]
    measured = {"value": f"{s[dv['model']]:.3f} vs {s[dv['baseline']]:.3f} (gap {gap:+.3f}; real test digits "
                         f"{s.get('real_test', float('nan')):.3f}, PCA-decoder ceiling {s.get('pca_ceiling', float('nan')):.3f})",
                "gap": gap, "scores": s}
    verdict = ("reproduced" if gap >= dv["reproduced_gap"] else "partly" if gap >= dv["partly_gap"]
               else "not_reproduced")
    return measured, verdict, f"{LABELS[dv['model']]} vs {LABELS[dv['baseline']]}"


def _mnist_close_fewer(claim: dict, rows: list[dict]):
    """``model`` within ``tol`` of ``baseline`` in ``metric`` (mean over seeds) with at least ``min_factor``
    times fewer expert parameters: reproduced; within ``partly_tol`` (any parameter ratio), or within ``tol``
    with a smaller saving: partly; not_reproduced otherwise."""
    dv = claim["derive"]
    s = _mnist_scores(rows, dv.get("metric", "intended_prob"))
    p = _mnist_scores(rows, "expert_parameters")
    if dv["model"] not in s or dv["baseline"] not in s:
        return {"value": "n/a"}, "not_run", "no MNIST run with both models"
    gap = s[dv["model"]] - s[dv["baseline"]]
    factor = p[dv["baseline"]] / p[dv["model"]]
    measured = {"value": f"{s[dv['model']]:.3f} vs {s[dv['baseline']]:.3f} (gap {gap:+.3f}) with "
                         f"{factor:.1f}x fewer expert parameters ({p[dv['model']]:.0f} vs {p[dv['baseline']]:.0f})",
                "gap": gap, "param_factor": factor}
    if gap >= -dv["tol"] and factor >= dv["min_factor"]:
        verdict = "reproduced"
    elif gap >= -dv["partly_tol"]:
        verdict = "partly"
    else:
        verdict = "not_reproduced"
    return measured, verdict, "expert parameters exclude the per-digit PCA decoders, which every model shares"


RULES = {
    "molr_mog_ratio": _ratio_cells,
    "molr_mog_rate": _rate,
    "molr_mog_dimension": _dimension_ratio,
    "molr_mog_samples": _samples_better,
    "molr_mog_mnist_gap": _mnist_gap,
    "molr_mog_mnist_close": _mnist_close_fewer,
}


# ----------------------------------------------------------------------------------------------
# plots and tables
# ----------------------------------------------------------------------------------------------
def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    syn = synthetic_rows(rows)
    if syn:
        Ds = sorted({int(r["ambient"]) for r in syn})
        # 1. error vs n, one panel per D, with an n^{-1/2} and an n^{-1} guide
        fig, axes = plt.subplots(1, len(Ds), figsize=(4.2 * len(Ds), 3.8), squeeze=False, sharey=True)
        for ax, D in zip(axes[0], Ds, strict=True):
            for m in MODELS:
                t = error_table(syn, m).get(D)
                if t:
                    ax.plot(list(t), list(t.values()), marker="o", color=COLORS[m], label=LABELS[m])
            t = error_table(syn, "mog").get(D)
            if t:
                n0, e0 = min(t), t[min(t)]
                ns = np.array(sorted(t), dtype=float)
                ax.plot(ns, e0 * (ns / n0) ** -0.5, "k:", lw=1, label="∝ n^-1/2")
                ax.plot(ns, e0 * (ns / n0) ** -1.0, "k--", lw=0.8, label="∝ n^-1")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("training samples n")
            ax.set_title(f"D = {D}")
        axes[0][0].set_ylabel("σ²-weighted score error (median over seeds)")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / "molr_mog_error_vs_n.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
        # 2. error vs D at each n
        fig, ax = plt.subplots(figsize=(5, 3.8))
        for m in MODELS:
            table = error_table(syn, m)
            if not table:
                continue
            ns = sorted({n for t in table.values() for n in t})
            for i, n in enumerate(ns):
                ds = [D for D in Ds if n in table.get(D, {})]
                ax.plot(ds, [table[D][n] for D in ds], marker="o", color=COLORS[m], alpha=0.35 + 0.65 * i / max(1, len(ns) - 1),
                        label=LABELS[m] if i == len(ns) - 1 else None)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("ambient dimension D")
        ax.set_ylabel("σ²-weighted score error")
        ax.set_title("error vs D (one line per n; darker = larger n)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / "molr_mog_error_vs_D.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    mn = [r for r in mnist_rows(rows) if "grids" in r]
    if mn:
        grids = mn[0]["grids"]
        names = [g for g in ("real", *MODELS) if g in grids]
        fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 4.6), squeeze=False)
        for ax, name in zip(axes[0], names, strict=True):
            g = decode_grid(grids[name])  # (10, per, 28, 28)
            tile = g.transpose(0, 2, 1, 3).reshape(10 * 28, g.shape[1] * 28)
            ax.imshow(tile, cmap="gray", vmin=0, vmax=255)
            ax.set_title("real test digits" if name == "real" else LABELS[name], fontsize=8)
            ax.axis("off")
        fig.suptitle(f"class-conditional samples, one row per digit (seed {mn[0].get('seed', 0)})", fontsize=9)
        fig.tight_layout()
        path = out_dir / "molr_mog_mnist_samples.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def tables(rows: list[dict]) -> str:
    lines = []
    syn = synthetic_rows(rows)
    if syn:
        lines += ["σ²-weighted score error E||D̂ − D*||²/σ² (mean over σ, median over seeds), and the sliced W2 of "
                  "ODE samples to fresh true samples:", "",
                  "| D | n | " + " | ".join(f"{m} error" for m in MODELS) + " | " +
                  " | ".join(f"{m} SW2" for m in MODELS) + " | truth SW2 |",
                  "|---|---|" + "---|" * (2 * len(MODELS) + 1)]
        err = {m: error_table(syn, m) for m in MODELS}
        sw = {m: error_table(syn, m, "sliced_w2") for m in (*MODELS, "truth")}
        for D in sorted({D for t in err.values() for D in t}):
            for n in sorted({n for m in MODELS for n in err[m].get(D, {})}):
                cells = [_fmt(err[m][D][n]) if n in err[m].get(D, {}) else "-" for m in MODELS]
                cells += [_fmt(sw[m][D][n]) if n in sw[m].get(D, {}) else "-" for m in (*MODELS, "truth")]
                lines.append(f"| {D} | {n} | " + " | ".join(cells) + " |")
        params = {}
        for r in syn:
            params.setdefault(int(r["ambient"]), r.get("parameters", {}))
        lines += ["", "Parameters: " + "; ".join(f"D={D}: " + ", ".join(f"{m} {v}" for m, v in p.items())
                                                 for D, p in sorted(params.items()))]
    mn = mnist_rows(rows)
    if mn:
        metrics = ("intended_prob", "accuracy", "feature_fd", "diversity_ratio")
        lines += ["", "MNIST, class-conditional samples judged by the pipeline's classifier (mean over seeds; "
                  f"classifier test accuracy {statistics.fmean(r['classifier_test_accuracy'] for r in mn):.4f}):", "",
                  "| images | " + " | ".join(metrics) + " | expert parameters |", "|---|" + "---|" * (len(metrics) + 1)]
        for m in ("real_test", "pca_ceiling", *MODELS):
            if not any(m in r for r in mn):
                continue
            vals = [statistics.fmean(r[m][k] for r in mn if m in r) for k in metrics]
            params = statistics.fmean(r[m].get("expert_parameters", 0) for r in mn if m in r)
            name = {"real_test": "real test digits", "pca_ceiling": "real digits through the PCA decoder"}.get(m, LABELS.get(m))
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {params:.0f} |")
        lines.append(f"\nPer-digit PCA decoders (shared by every model): {mn[0]['decoder_parameters']} parameters.")
    return "\n".join(lines)


NOTES: list[str] = [
    "No official code, and the paper's experimental section was not read (only the abstract, public summaries "
    "and reviews): the synthetic protocol (D in {32, 64, 128}, K = 3, d_k = 4, 4 modes, n from 10^2 to 10^4) is "
    "the reproduction notes' plan, and every threshold was fixed before the first cpu-scale run.",
    "Score error: σ² E||ŝ − ∇log p_t||² = E||D̂ − D*||²/σ² against the closed-form MoLR-MoG posterior mean, at "
    "σ in {0.1, 0.3, 1} on fresh points, averaged over σ. It is a squared error; the paper's Õ(1/√n) bound is "
    "read as a bound on this squared error, so a slope of −1/2 or steeper (a well-specified parametric model "
    "reaches −1) is judged consistent with it. An absolute rather than relative error is used because the true "
    "score's norm grows with D (the noise in the D − Kd orthogonal directions), which would make any relative "
    "error shrink with D by construction.",
    "Training: every network by the denoising loss with EDM noise levels (ln σ ~ N(−1.2, 1.2²)) and weighting, "
    "σ_data = the training data's RMS per coordinate, Adam with a cosine-decayed learning rate, 2000 steps of "
    "256. The MoG and Gaussian networks start from a clustering warm start (K-subspaces for A_k, k-means in "
    "the latent for the means, isotropic covariances, uniform weights); training then moves every parameter. "
    "The 'MoE-latent Gaussian' baseline learns a latent mean and covariance per subspace, which is stronger "
    "than MoLRG's zero-mean identity-covariance latent.",
    "MNIST: the paper's per-cluster VAEs are replaced by per-digit PCA (d = 16), its U-Net expert by a latent "
    "MLP, its CLIP score by the probability a pipeline-trained MNIST classifier gives the intended digit. "
    "Samples are class-conditional (digit k's expert alone); the paper's parachute/ImageNet numbers are not "
    "comparable in value, only in pattern.",
]
