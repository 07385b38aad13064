"""What one run of concrete_merging computes: for one seed, a small convolutional backbone pretrained by the
pipeline on a mixed pool, fine-tuned (with a new head) on each task, the fine-tuned backbones merged by every
method, and every merge scored on every task's test images with that task's head.

Tasks (28 x 28 grey): ``mnist``, ``fashion_mnist``, ``cifar10`` (the offline mirror's lossy CIFAR-10 stand-in in
grey, resized) and ``mnist_rotated`` (MNIST turned 90 degrees, absent from pretraining). Pretraining pool: disjoint
images of the first three, as one 30-class problem.

Arms (tanganke/subspace_fusion, FusionBench; docs in NOTES.md):
- ``individual``: each task's own fine-tuned backbone (the ceiling);
- ``task_arithmetic``: theta_0 + 0.3 sum_i tau_i (the code's lambda);
- ``ties``: TIES-merging, top 20% per task vector, sign election, disjoint sum, lambda 0.3 (the code's);
- ``concrete_ta``: task arithmetic (lambda 0.3) through one shared Concrete mask learned by minimising the merged
  model's prediction entropy on the unlabelled test images of every task; scored with one relaxed draw of the
  learned mask (the code's evaluation);
- ``random_mask_ta``: the same with one relaxed draw of the untrained mask (keep probability 1/2): the control
  that separates the learned subspace from masking and rescaling as such (ours);
- ``task_arithmetic_tuned``: task arithmetic with lambda chosen on held-out labelled images from {0.1, ..., 1.0}
  (ours: the best a validation set gives plain task arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.configurable import require
from subspacelab.experiments.harness import trial_seed

TASKS = ("mnist", "fashion_mnist", "cifar10", "mnist_rotated")
PRETRAIN_SOURCES = ("mnist", "fashion_mnist", "cifar10")
FEATURES = 84  # the backbone's output: LeNet-5's penultimate layer
ARMS = ("individual", "task_arithmetic", "ties", "concrete_ta", "random_mask_ta", "task_arithmetic_tuned")


def grey28(images: torch.Tensor) -> torch.Tensor:
    """uint8 (n, c, h, w) -> float (n, 1, 28, 28) in [0, 1]: channels averaged, resized with antialiasing."""
    x = images.float().div(255).mean(1, keepdim=True)
    if x.shape[-1] != 28:
        x = torch.nn.functional.interpolate(
            x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False
        )
    return x


@dataclass
class Experiment:
    """concrete_merging: one run = one seed (module doc). Tags: [code] tanganke/subspace_fusion and FusionBench's
    concrete_subspace configs (the paper's body could not be read); [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "cnn"  # the run's name in its run_dir (the seed is appended)

    data_root: str = "data/raw"
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    pretrain_per_source: int = 5000  # [ours] images of each source in the 30-class pretraining pool
    pretrain_epochs: int = 3  # [ours]
    finetune_size: int = 5000  # [ours] labelled training images per task
    finetune_epochs: int = 3  # [ours]
    val_size: int = 1000  # [ours] held-out labelled images per task (task_arithmetic_tuned's lambda)
    test_size: int = 2000  # [ours] test images per task (unlabelled to the mask; their labels score)
    batch: int = 64  # [ours]
    lr: float = 1.0e-3  # [ours] Adam, pretraining and fine-tuning
    scale: float = 0.3  # [code] task arithmetic's lambda, in TA, TIES and Concrete TA
    scale_grid: list[float] = field(
        default_factory=lambda: [round(0.1 * i, 1) for i in range(1, 11)]
    )  # [code]
    ties_top: float = 0.2  # [code] K = 20: the top 20% of each task vector
    temperature: float = 0.5  # [code]
    mask_lr: float = 1.0e-3  # [code] Adam on the mask logits
    mask_batch: int = 16  # [code] unlabelled images per task per step
    mask_epochs: int = 16  # [code] 2000 steps of 16 per task: 16 passes over 2,000 test images per task
    arms: list[str] = field(default_factory=lambda: list(ARMS))

    def __post_init__(self):
        for name in ("pretrain_per_source", "pretrain_epochs", "finetune_size", "finetune_epochs", "val_size",
                     "test_size", "batch", "mask_batch", "mask_epochs"):  # fmt: skip
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(self.mask_batch <= self.test_size, "experiment.mask_batch", "must be <= experiment.test_size")
        require(0 < self.ties_top <= 1, "experiment.ties_top", "must be in (0, 1]")
        require(self.temperature > 0, "experiment.temperature", "must be > 0")
        require(
            self.scale_grid and all(s > 0 for s in self.scale_grid),
            "experiment.scale_grid",
            "needs values > 0",
        )
        for name, chosen, valid in (("arms", self.arms, ARMS), ("tasks", self.tasks, TASKS)):
            unknown = sorted(set(chosen) - set(valid))
            require(
                chosen and not unknown,
                f"experiment.{name}",
                f"choose from {', '.join(valid)} (got {unknown})",
            )
        require(len(self.tasks) >= 2, "experiment.tasks", "merging needs at least two tasks")

    # --- the data -------------------------------------------------------------------------------------------------

    def _split(self, name: str, train: bool):
        from subspacelab.data.vision import load_split, prepare_dataset

        source = "mnist" if name == "mnist_rotated" else name
        prepare_dataset(source, self.data_root)
        x, y = load_split(source, self.data_root, train=train)
        return grey28(x), y

    def data(self, seed: int) -> dict:
        """{"pretrain": (x, y 0..29), task: {"train", "val", "test": (x, y)}}: disjoint images everywhere (MNIST's
        training split serves pretraining, the mnist task and the rotated task in three disjoint parts)."""
        gen = torch.Generator().manual_seed(trial_seed(seed, "concrete_merging", "split"))
        train = {s: self._split(s, True) for s in PRETRAIN_SOURCES}
        order = {s: torch.randperm(len(train[s][0]), generator=gen) for s in PRETRAIN_SOURCES}
        used = {s: 0 for s in PRETRAIN_SOURCES}

        def take(source, n):
            idx = order[source][used[source] : used[source] + n]
            require(
                len(idx) == n, "experiment.finetune_size", f"{source}'s training split has too few images"
            )
            used[source] += n
            return train[source][0][idx], train[source][1][idx]

        px, py = zip(*(take(s, self.pretrain_per_source) for s in PRETRAIN_SOURCES), strict=True)
        out = {"pretrain": (torch.cat(px), torch.cat([y + 10 * i for i, y in enumerate(py)]))}
        for task in self.tasks:
            source = "mnist" if task == "mnist_rotated" else task
            turn = (lambda x: torch.rot90(x, 1, (2, 3))) if task == "mnist_rotated" else (lambda x: x)
            xtr, ytr = take(source, self.finetune_size)
            xva, yva = take(source, self.val_size)
            xte, yte = self._split(source, False)
            pick = torch.randperm(len(xte), generator=gen)[: self.test_size]
            out[task] = {
                "train": (turn(xtr), ytr),
                "val": (turn(xva), yva),
                "test": (turn(xte[pick]), yte[pick]),
            }
        return out

    # --- the networks ---------------------------------------------------------------------------------------------

    def backbone(self):
        """LeNet-5 without its last layer (``models.vision.LeNet``: two 5 x 5 convolutions, 120, 84): an
        84-d feature."""
        from torch import nn

        from subspacelab.models.vision import LeNet

        lenet = LeNet((1, 28, 28))
        return nn.Sequential(lenet.features, lenet.classifier[:-1])

    def train_models(self, data: dict, seed: int, trainer=None):
        """(the pretrained backbone, each task's fine-tuned backbone and head): fit_classifier through Lightning."""
        import copy

        from torch import nn

        from subspacelab.lit.classifier import fit_classifier

        torch.manual_seed(trial_seed(seed, "concrete_merging", "pretrain-init"))
        base = self.backbone()
        x, y = data["pretrain"]
        fit_classifier(nn.Sequential(base, nn.Linear(FEATURES, 30)), x, y, 30, epochs=self.pretrain_epochs,
                       seed=trial_seed(seed, "concrete_merging", "pretrain"), batch_size=self.batch, lr=self.lr,
                       trainer=trainer)  # fmt: skip
        tuned, heads = [], []
        for task in self.tasks:
            torch.manual_seed(trial_seed(seed, "concrete_merging", "head", task))
            net = nn.Sequential(copy.deepcopy(base), nn.Linear(FEATURES, 10))
            x, y = data[task]["train"]
            fit_classifier(net, x, y, 10, epochs=self.finetune_epochs, batch_size=self.batch, lr=self.lr,
                           seed=trial_seed(seed, "concrete_merging", "finetune", task), trainer=trainer)  # fmt: skip
            tuned.append(net[0].eval())
            heads.append(net[1].eval())
        return base.eval(), tuned, heads

    # --- the run --------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def accuracy(self, weights: dict, head, x: torch.Tensor, y: torch.Tensor) -> float:
        from torch.func import functional_call

        net = self.backbone()
        logits = torch.cat(
            [head(functional_call(net, weights, (x[i : i + 500],))) for i in range(0, len(x), 500)]
        )
        return float((logits.argmax(1) == y).float().mean())

    def scores(self, weights_per_task: list[dict], heads, data: dict, split: str = "test") -> dict:
        per_task = {t: self.accuracy(w, h, *data[t][split])
                    for t, w, h in zip(self.tasks, weights_per_task, heads, strict=True)}  # fmt: skip
        return {"per_task": per_task, "accuracy": sum(per_task.values()) / len(per_task)}

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        import time

        from subspacelab.lit.concrete_merging import fit_concrete_mask
        from subspacelab.lit.fit import world_size
        from subspacelab.merging import ConcreteMask, masked_task_arithmetic, task_arithmetic, ties_merge

        torch.set_num_threads(1)
        data = self.data(seed)
        start = time.process_time()
        base, tuned, heads = self.train_models(data, seed, trainer)
        theta0 = {k: v.detach().clone() for k, v in base.state_dict().items()}
        thetas = [{k: v.detach().clone() for k, v in t.state_dict().items()} for t in tuned]
        every = lambda w: [w] * len(self.tasks)  # noqa: E731 - one merged backbone serves every task
        merges = {"individual": thetas, "task_arithmetic": every(task_arithmetic(theta0, thetas, self.scale)),
                  "ties": every(ties_merge(theta0, thetas, self.scale, self.ties_top, "sum"))}  # fmt: skip
        results = {}
        if "task_arithmetic_tuned" in self.arms:
            val = {s: self.scores(every(task_arithmetic(theta0, thetas, s)), heads, data, "val")["accuracy"]
                   for s in self.scale_grid}  # fmt: skip
            best = max(self.scale_grid, key=lambda s: (val[s], -s))
            merges["task_arithmetic_tuned"] = every(task_arithmetic(theta0, thetas, best))
            results["task_arithmetic_tuned"] = {
                "scale": best,
                "validation": {str(s): a for s, a in val.items()},
            }
        draw = lambda arm: torch.Generator().manual_seed(trial_seed(seed, "concrete_merging", "draw", arm))  # noqa: E731
        if "random_mask_ta" in self.arms:
            untrained = ConcreteMask(theta0).sample(self.temperature, generator=draw("random_mask_ta"))
            merges["random_mask_ta"] = every(masked_task_arithmetic(theta0, thetas, untrained, self.scale))
        if "concrete_ta" in self.arms:
            unlabelled = torch.stack([data[t]["test"][0] for t in self.tasks], 1)  # (n, tasks, 1, 28, 28)
            module = fit_concrete_mask(base, heads, theta0, thetas, unlabelled, epochs=self.mask_epochs,
                                       seed=trial_seed(seed, "concrete_merging", "mask"), batch_size=self.mask_batch,
                                       scale=self.scale, temperature=self.temperature, lr=self.mask_lr,
                                       trainer=trainer, default_root_dir=str(Path(out_dir) / "mask"))  # fmt: skip
            with torch.no_grad():
                learned = module.mask.sample(self.temperature, generator=draw("concrete_ta"))
                keep = torch.cat([torch.sigmoid(p).flatten() for p in module.mask.logits])
            merges["concrete_ta"] = every(masked_task_arithmetic(theta0, thetas, learned, self.scale))
            results["concrete_ta"] = {"history": module.history, "mean_keep_probability": float(keep.mean()),
                                      "kept_above_half": float((keep > 0.5).float().mean())}  # fmt: skip
        seconds = time.process_time() - start
        rows = [{"arm": arm, **self.scores(merges[arm], heads, data), **results.get(arm, {})}
                for arm in self.arms if arm in merges]  # fmt: skip
        ceiling = next((r["per_task"] for r in rows if r["arm"] == "individual"), None)
        scored = [
            t for t in self.tasks if ceiling and ceiling[t] > 0
        ]  # a task no individual model learned: left out
        for r in rows:  # the paper's normalised accuracy: merged over individual, averaged over the tasks
            if scored:
                r["normalized"] = sum(r["per_task"][t] / ceiling[t] for t in scored) / len(scored)
        return {"world_size": world_size(), "results": rows, "train_seconds": round(seconds, 1)}
