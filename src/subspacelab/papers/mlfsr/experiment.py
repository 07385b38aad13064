"""What one run of mlfsr computes: for one seed, every arm trained on the same synthetic light fields (x2, 5 x 5
views), scored on whole test light fields with BasicLFSR's PSNR, and each architecture's inference time and peak
activation memory measured at growing input sizes.

Arms (docs/research/mlfsr.md section 9), all ``models.lfsr.LightFieldSR`` with the same skeleton and a different
token mixer on the spatial, angular and EPI subspaces:
- ``cnn``: a 3 x 3 convolution on each subspace slice (local; the CNN baseline);
- ``transformer``: global self-attention over the same sequences (the tiny-transformer baseline, and the teacher);
- ``mamba``: MLFSR's bidirectional Mamba scan of every subspace;
- ``mamba_t2m``: the same with the Transformer-to-Mamba loss, 0.1 x L1 between its deep features and those of the
  seed's trained ``transformer`` (frozen).
The ``bicubic`` row is the per-view bicubic upsample: the floor every network starts from.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.configurable import require
from subspacelab.experiments.harness import map_trials, trial_seed

ARMS = ("cnn", "transformer", "mamba", "mamba_t2m")
MIXER = {"cnn": "conv", "transformer": "transformer", "mamba": "mamba", "mamba_t2m": "mamba"}
FIRST = ("transformer", "cnn")  # trained first: the transformer is mamba_t2m's teacher


@functools.lru_cache(maxsize=2)
def light_fields(
    data_root: str, train_scenes: int, test_scenes: int, size: int, ang: int, scale: int, seed: int
):
    """``Experiment.data``'s light fields (read-only: the trials share them)."""
    from subspacelab.data.light_fields import downsample_views, layered_scenes
    from subspacelab.data.vision import load_split, prepare_dataset

    prepare_dataset("fashion_mnist", data_root)
    train_images, _ = load_split("fashion_mnist", data_root, train=True)
    test_images, _ = load_split("fashion_mnist", data_root, train=False)
    hr = layered_scenes(train_images, train_scenes, trial_seed(seed, "mlfsr", "train"), ang=ang, size=size)
    hr_test = layered_scenes(test_images, test_scenes, trial_seed(seed, "mlfsr", "test"), ang=ang, size=size)
    half = size // 2  # each training light field -> its 4 quadrants (the LR views' 2 x 2 patches)
    hr = torch.cat([hr[..., i : i + half, j : j + half] for i in (0, half) for j in (0, half)])
    return downsample_views(hr, scale), hr, downsample_views(hr_test, scale), hr_test


@dataclass
class Experiment:
    """mlfsr: one run = one seed, every arm (module doc). Tags: [code] RSGao/MLFSR (the paper's body could not be
    read); [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "lfsr"  # the run's name in its run_dir (the seed is appended)

    data_root: str = "data/raw"
    train_scenes: int = (
        400  # [ours] light fields to train on, each cut into 4 patches (2 x 2 of the LR views)
    )
    test_scenes: int = 100  # [ours] whole light fields to test on
    size: int = 32  # [ours] HR view side (the code: whole scenes for testing)
    ang: int = 5  # [code] 5 x 5 views
    scale: int = 2  # [code] x2 (and x4)
    # --- the network [code: C 64, 3 groups, d_state 8, expand 2]
    channels: int = 16  # [ours]
    groups: int = 1  # [ours]
    d_state: int = 4  # [ours; code 8]
    # --- the training [code: Adam lr 2e-4, wd 1e-4, batch 4, StepLR(15, 0.5), 150 epochs; T2M 0.1]
    lr: float = 1.0e-3  # [ours] a short run
    weight_decay: float = 0.0  # [ours; code 1e-4]
    min_lr: float = 1.0e-4  # [ours] one cosine
    batch: int = 4  # [code]
    epochs: int = 1  # [ours]
    distill_weight: float = 0.1  # [code] the T2M weight
    # --- the efficiency measurement [ours]: LR view sides of one light field, inference only
    efficiency_sizes: list[int] = field(default_factory=lambda: [16, 24, 32, 48])
    arms: list[str] = field(default_factory=lambda: list(ARMS))

    def __post_init__(self):
        for name in ("train_scenes", "test_scenes", "channels", "groups", "d_state", "batch", "epochs"):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(self.ang in (3, 5), "experiment.ang", "must be 3 or 5")
        require(self.scale in (2, 4), "experiment.scale", "must be 2 or 4")
        require(
            self.size % (2 * self.scale) == 0, "experiment.size", "must be divisible by 2 x experiment.scale"
        )
        require(
            self.batch <= 4 * self.train_scenes, "experiment.batch", "must be <= 4 x experiment.train_scenes"
        )
        require(
            self.lr > 0 and 0 <= self.min_lr <= self.lr, "experiment.lr", "need 0 <= min_lr <= lr, lr > 0"
        )
        require(self.distill_weight >= 0, "experiment.distill_weight", "must be >= 0")
        require(
            all(int(s) >= 2 for s in self.efficiency_sizes),
            "experiment.efficiency_sizes",
            "sides must be >= 2",
        )
        unknown = sorted(set(self.arms) - set(ARMS))
        require(
            self.arms and not unknown, "experiment.arms", f"choose from {', '.join(ARMS)} (got {unknown})"
        )
        require("mamba_t2m" not in self.arms or "transformer" in self.arms, "experiment.arms",
                "mamba_t2m needs the transformer arm (its teacher)")  # fmt: skip

    # --- the data and the networks ------------------------------------------------------------------------------

    def data(self, seed: int):
        """(train LR patches, HR patches, test LR light fields, HR light fields): views (n, ang², side, side); made
        once per process and seed (every trial of a run and the bicubic row read the same light fields)."""
        return light_fields(
            self.data_root, self.train_scenes, self.test_scenes, self.size, self.ang, self.scale, seed
        )

    def network(self, arm: str, seed: int):
        from subspacelab.models.lfsr import LightFieldSR

        torch.manual_seed(trial_seed(seed, "mlfsr", "init", MIXER[arm]))  # mamba and mamba_t2m start equal
        return LightFieldSR(MIXER[arm], self.channels, self.groups, self.ang, self.scale, self.d_state)

    # --- the arms ----------------------------------------------------------------------------------------------

    def run_trial(self, arm: str, seed: int, out_dir: Path, trainer=None, teacher_state=None) -> dict:
        import time

        from subspacelab.lit.super_resolution import fit_super_resolver, super_resolution_scores

        torch.set_num_threads(1)
        x, y, x_test, y_test = self.data(seed)
        net, teacher = self.network(arm, seed), None
        if arm == "mamba_t2m":
            teacher = self.network("transformer", seed)
            teacher.load_state_dict(teacher_state)
        start = time.process_time()
        module = fit_super_resolver(net, x, y, seed=trial_seed(seed, "mlfsr", "order"), epochs=self.epochs,
                                    batch_size=self.batch, lr=self.lr, weight_decay=self.weight_decay,
                                    min_lr=self.min_lr, teacher=teacher, distill_weight=self.distill_weight,
                                    trainer=trainer, default_root_dir=str(out_dir / arm))  # fmt: skip
        seconds = time.process_time() - start
        row = {"arm": arm, **super_resolution_scores(net, x_test, y_test),
               "parameters": sum(p.numel() for p in net.parameters()), "train_seconds": round(seconds, 1),
               "history": module.history}  # fmt: skip
        if arm == "transformer":
            row["state"] = {k: v.clone() for k, v in net.state_dict().items()}
        return row

    def bicubic(self, seed: int) -> dict:
        from subspacelab.data.light_fields import psnr_per_light_field, upsample_views

        _, _, x_test, y_test = self.data(seed)
        sr = upsample_views(x_test, self.scale)
        return {"arm": "bicubic", "psnr": float(psnr_per_light_field(sr, y_test).mean()),
                "mae": float((sr - y_test).abs().mean())}  # fmt: skip

    def efficiency(self, seed: int) -> dict:
        """Per architecture and LR side: one light field's inference, its process seconds (the best of 3 after a
        warm-up, one thread) and its peak activation memory (``torch``'s MemTracker: the live tensors' bytes,
        weights excluded)."""
        from subspacelab.models.cost import inference_cost

        torch.set_num_threads(1)
        out = {}
        for arm in ("cnn", "transformer", "mamba"):
            if arm in self.arms:
                net = self.network(arm, seed).eval()
                views = lambda s: torch.rand(1, self.ang**2, s, s, generator=torch.Generator().manual_seed(s))  # noqa: E731
                out[arm] = {str(s): inference_cost(net, views(int(s))) for s in self.efficiency_sizes}
        return out

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        from subspacelab.lit.fit import is_distributed, world_size

        jobs = 1 if is_distributed(trainer) else n_jobs
        first = [a for a in FIRST if a in self.arms]
        rows = map_trials(
            lambda a: self.run_trial(a, seed, Path(out_dir), trainer), first, min(jobs, len(first))
        )
        teacher = next((r.pop("state") for r in rows if r["arm"] == "transformer"), None)
        second = [a for a in self.arms if a not in FIRST]
        rows += map_trials(lambda a: self.run_trial(a, seed, Path(out_dir), trainer, teacher), second,
                           min(jobs, len(second)))  # fmt: skip
        by_arm = {r["arm"]: r for r in rows}
        speed = self.efficiency(seed)
        results = [self.bicubic(seed)]
        results += [{**by_arm[a], **({"efficiency": speed[a]} if a in speed else {})} for a in self.arms]
        return {"world_size": world_size(), "results": results}
