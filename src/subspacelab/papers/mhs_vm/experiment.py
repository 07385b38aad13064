"""What one run of mhs_vm computes: for one seed, every arm trained on every dataset from the same data, then scored
on the test images with VM-UNet's pooled-pixel protocol.

Arms (docs/research/mhs_vm.md; PixDeep/MHS-VM ``mhsm.py`` and JCruan519/VM-UNet ``vmamba.py``), all one small
VM-UNet (``models.vm_unet.VMUNet``) that differs only in its token mixer:
- ``ss2d``: VM-UNet's SS2D (expand 2, four raster routes, plain sum): the baseline MHS-VM replaces;
- ``mhs``: MHS-VM's multi-head scan, 4 heads in subspaces of d/4 channels with the C, X, S, Z route patterns, the
  routes fused by the route attention (threshold ``t``);
- ``mhs_sum``: the same heads with the routes summed (the same parameters: the route attention has none);
- ``ss2d_expand1``: SS2D at width d, about as many parameters as MHS (ours: is a gain more than a smaller model?).
Datasets (``data.segmentation``): ``shapes`` (synthetic low-contrast shapes and outlined interiors) and
``fashion_mnist`` (garment masks by threshold of the clean image; noisy, contrast-scaled inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.configurable import require
from subspacelab.experiments.harness import map_trials, trial_seed

ARMS = ("ss2d", "mhs", "mhs_sum", "ss2d_expand1")
DATASETS = ("shapes", "fashion_mnist")


@dataclass
class Experiment:
    """mhs_vm: one run = one seed, every arm on every dataset (module doc). Tags: [code] the official code
    (PixDeep/MHS-VM, VM-UNet's recipe; the paper's body could not be read); [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "vmunet"  # the run's name in its run_dir (the seed is appended)

    data_root: str = "data/raw"
    datasets: list[str] = field(default_factory=lambda: list(DATASETS))
    train_size: int = (
        3072  # [ours] training images per dataset (2 epochs of 96 batches: the 30-minute budget)
    )
    test_size: int = 1024  # [ours] test images per dataset
    # --- the network [code: 256 x 256 RGB, dims 96-192-384-768, depths 2-2-2-2 / 2-2-2-1, d_state 16]
    dims: list[int] = field(
        default_factory=lambda: [32, 64]
    )  # [ours] 32 x 32 grey inputs, 8 x 8 and 4 x 4 tokens
    depths: list[int] = field(default_factory=lambda: [1, 1])  # [ours] encoder blocks per stage
    decoder_depths: list[int] = field(default_factory=lambda: [1, 1])  # [ours]
    d_state: int = 8  # [ours; code 16]
    heads: int = 4  # [code] head_num 4: the C, X, S, Z patterns
    t: float = 0.5  # [code] the route attention's threshold in the ISIC 2018 config
    # --- the training [code: AdamW 1e-3, wd 1e-2, batch 32, BCE + Dice, cosine to 1e-5, 300 epochs]
    lr: float = 1.0e-3  # [code]
    weight_decay: float = 1.0e-2  # [code]
    min_lr: float = 1.0e-5  # [code] the cosine's floor (one cosine here: the code restarts every 50 epochs)
    batch: int = 32  # [code]
    epochs: int = 2  # [ours]
    arms: list[str] = field(default_factory=lambda: list(ARMS))

    def __post_init__(self):
        for name in ("train_size", "test_size", "d_state", "batch", "epochs"):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(self.batch <= self.train_size, "experiment.batch", "must be <= experiment.train_size")
        require(len(self.dims) == len(self.depths) == len(self.decoder_depths) >= 1, "experiment.dims",
                "dims, depths and decoder_depths need one entry per stage")  # fmt: skip
        require(self.heads in (3, 4) and all(d % self.heads == 0 for d in self.dims), "experiment.heads",
                "must be 3 or 4 and divide every entry of experiment.dims")  # fmt: skip
        require(all(d % 4 == 0 for d in self.dims), "experiment.dims", "every width must be divisible by 4")
        require(
            32 % (4 * 2 ** (len(self.dims) - 1)) == 0, "experiment.dims", "too many stages for 32 x 32 inputs"
        )
        require(
            self.lr > 0 and 0 <= self.min_lr <= self.lr, "experiment.lr", "need 0 <= min_lr <= lr, lr > 0"
        )
        for name, chosen, valid in (("arms", self.arms, ARMS), ("datasets", self.datasets, DATASETS)):
            unknown = sorted(set(chosen) - set(valid))
            require(
                chosen and not unknown,
                f"experiment.{name}",
                f"choose from {', '.join(valid)} (got {unknown})",
            )

    # --- the data and the network ----------------------------------------------------------------------------

    def data(self, dataset: str, seed: int):
        """(train x, masks, test x, masks), the inputs standardised by the training images' mean and sd."""
        from subspacelab.data import segmentation

        n = self.train_size + self.test_size
        if dataset == "shapes":
            x, m = segmentation.synthetic_shapes(n, trial_seed(seed, "mhs_vm", "shapes"))
            xtr, mtr, xte, mte = (
                x[: self.train_size],
                m[: self.train_size],
                x[self.train_size :],
                m[self.train_size :],
            )
        else:
            from subspacelab.data.vision import load_split, prepare_dataset

            prepare_dataset("fashion_mnist", self.data_root)
            train, _ = load_split("fashion_mnist", self.data_root, train=True)
            test, _ = load_split("fashion_mnist", self.data_root, train=False)
            require(self.train_size <= len(train) and self.test_size <= len(test), "experiment.train_size",
                    "train or test size exceeds the split")  # fmt: skip
            gen = torch.Generator().manual_seed(trial_seed(seed, "mhs_vm", "pick"))
            pick = torch.randperm(len(train), generator=gen)[: self.train_size]
            xtr, mtr = segmentation.thresholded(train[pick], trial_seed(seed, "mhs_vm", "noise"))
            xte, mte = segmentation.thresholded(
                test[: self.test_size], trial_seed(seed, "mhs_vm", "test-noise")
            )
        mean, std = xtr.mean(), xtr.std()
        return (xtr - mean) / std, mtr, (xte - mean) / std, mte

    def network(self, arm: str, seed: int):
        from subspacelab.models.vm_unet import VMUNet

        torch.manual_seed(
            trial_seed(seed, "mhs_vm", "init")
        )  # every arm of a seed draws from the same stream
        return VMUNet(arm, 1, tuple(self.dims), tuple(self.depths), tuple(self.decoder_depths), self.d_state,
                      self.heads, self.t)  # fmt: skip

    # --- the arms ----------------------------------------------------------------------------------------------

    def run_trial(self, trial: tuple[str, str], seed: int, out_dir: Path, trainer=None) -> dict:
        import time

        from subspacelab.lit.segmentation import fit_segmenter, segmentation_scores
        from subspacelab.models.vm_unet import count_mixer_parameters

        torch.set_num_threads(1)
        dataset, arm = trial
        xtr, mtr, xte, mte = self.data(dataset, seed)
        net = self.network(arm, seed)
        start = time.process_time()
        module = fit_segmenter(net, xtr, mtr, seed=trial_seed(seed, "mhs_vm", "order"), epochs=self.epochs,
                               batch_size=self.batch, lr=self.lr, weight_decay=self.weight_decay, min_lr=self.min_lr,
                               trainer=trainer, default_root_dir=str(out_dir / dataset / arm))  # fmt: skip
        seconds = time.process_time() - start
        return {"dataset": dataset, "arm": arm, **segmentation_scores(net, xte, mte),
                "parameters": sum(p.numel() for p in net.parameters()), "mixer_parameters": count_mixer_parameters(net),
                "train_seconds": round(seconds, 1), "history": module.history}  # fmt: skip

    def threshold_baseline(self, dataset: str, seed: int) -> dict:
        """The best single intensity threshold (either polarity) on the training images, scored on the test images:
        what a model with no spatial context reaches."""
        xtr, mtr, xte, mte = self.data(dataset, seed)
        best = (-1.0, 0.0, 1.0)
        for level in torch.quantile(xtr.flatten()[::7], torch.linspace(0.02, 0.98, 49)).tolist():
            for sign in (1.0, -1.0):
                pred = sign * (xtr - level) > 0
                dsc = float(2 * (pred & (mtr > 0.5)).sum() / (pred.sum() + (mtr > 0.5).sum()))
                best = max(best, (dsc, level, sign))
        _, level, sign = best
        pred, true = sign * (xte - level) > 0, mte > 0.5
        tp, fp, fn = int((pred & true).sum()), int((pred & ~true).sum()), int((~pred & true).sum())
        return {"dsc": 2 * tp / (2 * tp + fp + fn), "iou": tp / (tp + fp + fn), "level": level, "sign": sign}

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        from subspacelab.lit.fit import is_distributed, world_size

        trials = [(d, a) for d in self.datasets for a in self.arms]
        jobs = 1 if is_distributed(trainer) else min(n_jobs, len(trials))
        rows = map_trials(lambda t: self.run_trial(t, seed, Path(out_dir), trainer), trials, jobs)
        # one entry per arm, its metrics per dataset (reporting.arms reads "shapes.dsc")
        results = [{"arm": "threshold", **{d: self.threshold_baseline(d, seed) for d in self.datasets}}]
        for arm in self.arms:
            per = {r["dataset"]: {k: v for k, v in r.items() if k not in ("dataset", "arm")}
                   for r in rows if r["arm"] == arm}  # fmt: skip
            results.append({"arm": arm, **per})
        return {"world_size": world_size(), "results": results}
