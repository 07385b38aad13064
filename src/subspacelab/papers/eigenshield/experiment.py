"""What one run of eigenshield computes: for one seed, a LeNet-5 classifier trained by the pipeline, EigenShield's
filter fitted on the 84-d embeddings of clean calibration images, and every defence scored against FGSM and PGD.

The filter (``defences.causal_subspace``): Marchenko-Pastur spikes of the embeddings' covariance, each eigenvector's
instability under perturbed calibration images (uniform noise of the attack's size), the causal subspace = the
spikes more stable than all but ``level`` of the bulk directions; embeddings are projected onto it before the head.

Defences, each a projection of the embedding before the classifier's head:
- ``none``: the classifier as trained;
- ``eigenshield``: the causal subspace (k directions);
- ``spikes``: every Marchenko-Pastur spike, without the robustness filter (an ablation);
- ``pca``: the top-k principal directions (k as eigenshield's; ours, the notes' control);
- ``random``: a random k-dimensional subspace of the same space (ours).
Attacks (torchattacks): FGSM and PGD (L-inf) crafted on the undefended classifier, then shown to every defence
(the paper's setting: the defence is not known to the attacker), and PGD crafted through each defence itself
(``pgd_adaptive``, an attacker who knows the filter). Attack success rate (ASR): among the test images a defence
classifies correctly, the share an attack makes it misclassify.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.configurable import require
from subspacelab.experiments.harness import trial_seed

DEFENCES = ("none", "eigenshield", "spikes", "pca", "random")
DATASETS = ("cifar10", "mnist", "fashion_mnist")


def unit_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (n, c, h, w) -> float in [0, 1]."""
    return images.float().div(255)


@dataclass
class Experiment:
    """eigenshield: one run = one seed (module doc). Tags: [paper] the abstract; [recon] our reconstruction (the
    paper's body could not be read; no code was released); [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "${.dataset}"  # the run's name in its run_dir (the seed is appended)

    data_root: str = "data/raw"
    dataset: str = "cifar10"  # [ours] the mirror's lossy CIFAR-10 stand-in, in colour
    train_size: int = 20000  # [ours] training images of the classifier
    epochs: int = 4  # [ours]
    batch: int = 128  # [ours]
    lr: float = 1.0e-3  # [ours] Adam
    calibration_size: int = 2000  # [ours] clean training images the filter is fitted on (n > d = 84)
    perturbations: int = 5  # [recon] perturbed copies of the calibration images for the robustness score
    level: float = 0.05  # [recon] a spike is causal when at most this quantile of the bulk is more stable
    eps: float = 0.03137254901960784  # [ours] 8/255, L-inf: the attacks' budget and the calibration noise
    pgd_steps: int = 10  # [ours]
    pgd_alpha: float = 0.00784313725490196  # [ours] 2/255
    test_size: int = 1000  # [ours] test images attacked
    defences: list[str] = field(default_factory=lambda: list(DEFENCES))

    def __post_init__(self):
        for name in ("train_size", "epochs", "batch", "calibration_size", "perturbations", "pgd_steps",
                     "test_size"):  # fmt: skip
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(self.dataset in DATASETS, "experiment.dataset", f"choose from {', '.join(DATASETS)}")
        require(
            self.calibration_size > 84,
            "experiment.calibration_size",
            "must exceed the embedding's 84 dimensions",
        )
        require(self.batch <= self.train_size, "experiment.batch", "must be <= experiment.train_size")
        require(0 < self.level < 1, "experiment.level", "must be in (0, 1)")
        require(0 < self.eps < 1 and 0 < self.pgd_alpha <= self.eps, "experiment.eps",
                "need 0 < pgd_alpha <= eps < 1")  # fmt: skip
        unknown = sorted(set(self.defences) - set(DEFENCES))
        require("none" in self.defences and not unknown, "experiment.defences",
                f"choose from {', '.join(DEFENCES)}, none included (got {unknown})")  # fmt: skip

    # --- the data and the classifier ------------------------------------------------------------------------------

    def data(self, seed: int) -> dict:
        """{"train", "calibration", "test": (x in [0, 1], y)}: disjoint training and calibration images, a seeded
        draw of test images."""
        from subspacelab.data.vision import load_split, prepare_dataset

        prepare_dataset(self.dataset, self.data_root)
        gen = torch.Generator().manual_seed(trial_seed(seed, "eigenshield", "split"))
        x, y = load_split(self.dataset, self.data_root, train=True)
        order = torch.randperm(len(x), generator=gen)
        require(len(order) >= self.train_size + self.calibration_size, "experiment.train_size",
                f"{self.dataset} has {len(order)} training images")  # fmt: skip
        train, cal = (
            order[: self.train_size],
            order[self.train_size : self.train_size + self.calibration_size],
        )
        xt, yt = load_split(self.dataset, self.data_root, train=False)
        test = torch.randperm(len(xt), generator=gen)[: self.test_size]
        return {"train": (unit_images(x[train]), y[train]), "calibration": (unit_images(x[cal]), y[cal]),
                "test": (unit_images(xt[test]), yt[test])}  # fmt: skip

    def classifier(self, data: dict, seed: int, trainer=None):
        """(embedder to 84-d, head): LeNet-5 trained through Lightning (``fit_classifier``)."""
        from torch import nn

        from subspacelab.lit.classifier import fit_classifier
        from subspacelab.models.vision import LeNet

        torch.manual_seed(trial_seed(seed, "eigenshield", "init"))
        net = LeNet(tuple(data["train"][0].shape[1:]))
        fit_classifier(net, *data["train"], 10, epochs=self.epochs, batch_size=self.batch, lr=self.lr,
                       seed=trial_seed(seed, "eigenshield", "train"), trainer=trainer)  # fmt: skip
        return nn.Sequential(net.features, net.classifier[:-1]).eval(), net.classifier[-1].eval()

    # --- the filter -----------------------------------------------------------------------------------------------

    @staticmethod
    @torch.no_grad()
    def embed(embedder, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([embedder(x[i : i + 500]) for i in range(0, len(x), 500)])

    def fit_filter(self, embedder, calibration: torch.Tensor, seed: int) -> dict:
        """The spectrum of the clean calibration embeddings, every eigenvector's instability under ``perturbations``
        copies of the calibration images with uniform noise of size ``eps``, and every defence's basis."""
        from subspacelab.defences.causal_subspace import (
            causal_directions,
            instability,
            random_basis,
            spectrum,
        )

        spec = spectrum(self.embed(embedder, calibration))
        gen = torch.Generator().manual_seed(trial_seed(seed, "eigenshield", "calibration-noise"))
        noisy = [
            (calibration + self.eps * (2 * torch.rand(calibration.shape, generator=gen) - 1)).clamp(0, 1)
            for _ in range(self.perturbations)
        ]
        scores = instability(spec, [self.embed(embedder, x) for x in noisy])
        causal = causal_directions(spec, scores, self.level)
        k, d = len(causal), spec.eigenvectors.shape[0]
        bases = {"eigenshield": spec.eigenvectors[:, causal], "spikes": spec.eigenvectors[:, : spec.n_spikes],
                 "pca": spec.eigenvectors[:, :k],
                 "random": random_basis(d, k, torch.Generator().manual_seed(trial_seed(seed, "eigenshield", "random")))}  # fmt: skip
        return {"spectrum": spec, "scores": scores, "causal": causal, "bases": bases}

    # --- the defences under attack --------------------------------------------------------------------------------

    def defended(self, embedder, head, spec, basis):
        from torch import nn

        from subspacelab.defences.causal_subspace import SubspaceProjection

        if basis is None:
            return nn.Sequential(embedder, head).eval()
        return nn.Sequential(embedder, SubspaceProjection(spec.mean, spec.scale, basis), head).eval()

    def attack(self, name: str, model, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        import torchattacks

        if name == "fgsm":
            atk = torchattacks.FGSM(model, eps=self.eps)
        else:
            atk = torchattacks.PGD(
                model, eps=self.eps, alpha=self.pgd_alpha, steps=self.pgd_steps, random_start=True
            )
        torch.manual_seed(trial_seed(seed, "eigenshield", "attack", name))  # PGD's random start
        return torch.cat([atk(x[i : i + 500], y[i : i + 500]) for i in range(0, len(x), 500)])

    @staticmethod
    @torch.no_grad()
    def predict(model, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, len(x), 500)])

    def score(self, model, x, y, adversarial: dict) -> dict:
        """Clean accuracy, and per attack the ASR among the correctly classified images and the robust accuracy."""
        right = self.predict(model, x) == y
        out = {"clean_accuracy": float(right.float().mean())}
        for name, xa in adversarial.items():
            fooled = (self.predict(model, xa) != y) & right
            out[f"asr_{name}"] = float(fooled.sum() / right.sum().clamp_min(1))
            out[f"robust_accuracy_{name}"] = float((right & ~fooled).float().mean())
        return out

    # --- the run --------------------------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        import time

        from subspacelab.lit.fit import world_size

        torch.set_num_threads(1)
        data = self.data(seed)
        start = time.process_time()
        embedder, head = self.classifier(data, seed, trainer)
        fitted = self.fit_filter(embedder, data["calibration"][0], seed)
        spec, k = fitted["spectrum"], len(fitted["causal"])
        x, y = data["test"]
        undefended = self.defended(embedder, head, spec, None)
        transfer = {name: self.attack(name, undefended, x, y, seed) for name in ("fgsm", "pgd")}
        rows = []
        for name in self.defences:
            basis = None if name == "none" else fitted["bases"][name]
            if basis is not None and basis.shape[1] == 0:
                continue  # no direction to project on: the defence is not run (the report says not run)
            model = self.defended(embedder, head, spec, basis)
            adaptive = transfer["pgd"] if name == "none" else self.attack("pgd", model, x, y, seed)
            rows.append({"arm": name, "dims": int(spec.eigenvectors.shape[0] if basis is None else basis.shape[1]),
                         **self.score(model, x, y, {**transfer, "pgd_adaptive": adaptive})})  # fmt: skip
        return {
            "world_size": world_size(),
            "results": rows,
            "filter": {
                "n_spikes": spec.n_spikes,
                "n_causal": k,
                "causal": fitted["causal"].tolist(),
                "noise_variance": spec.noise_variance,
                "edge": spec.edge,
                "eigenvalues": [round(float(v), 6) for v in spec.eigenvalues[:30]],
                "scores": [round(float(v), 6) for v in fitted["scores"][:30]],
            },  # fmt: skip
            "train_seconds": round(time.process_time() - start, 1),
        }
