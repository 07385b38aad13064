"""What one run of comp_lora computes: for one seed, a small network pretrained by the pipeline on MNIST (the
"general" model and its head), adapted with a new head to a 16-shot few-shot task by every arm, then scored on the
few-shot task's test images (``accuracy``) and on MNIST's test images through the adapted backbone and the old head
(``retention``: the proxy of the VLM's zero-shot ability that few-shot tuning can erode).

Arms (``lowrank.lora``, ``lowrank.complement``; docs in NOTES.md):
- ``head_only``: the new head alone, the backbone frozen (a linear probe: retention kept by construction);
- ``lora``: LoRA on both hidden layers with the new head (the paper's baseline, CLIP-LoRA);
- ``comp_lora``: the same LoRA kept out of each layer's top ``excluded_rank`` singular directions;
- ``full``: every backbone weight with the new head.
Every arm starts from the same pretrained backbone and the same new head, and trains the same steps. A curve of
``comp_lora`` over ``curve_ranks`` (excluded_rank 0 is LoRA) shows the trade-off the chosen rank sits on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.configurable import require
from subspacelab.experiments.harness import trial_seed

ARMS = ("head_only", "lora", "comp_lora", "full")
TARGETS = ("fashion_mnist", "mnist_rotated")
PRETRAIN = "mnist"
LAYERS = (
    "1",
    "3",
)  # the two hidden linears of the backbone: nn.Sequential(Flatten, Linear, ReLU, Linear, ReLU)


@dataclass
class Experiment:
    """comp_lora: one run = one seed (module doc). Tags: [paper] the abstract and the CLIP-LoRA few-shot protocol it
    builds on; [recon] our reconstruction (the paper's body could not be read); [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "mlp"  # the run's name in its run_dir (the seed is appended)

    data_root: str = "data/raw"
    target: str = "fashion_mnist"  # [ours] the few-shot task: fashion_mnist or mnist_rotated
    hidden: int = 256  # [ours] backbone 784-256-256
    pretrain_size: int = 10000  # [ours] MNIST training images
    pretrain_epochs: int = 3  # [ours]
    pretrain_batch: int = 128  # [ours]
    shots: int = 16  # [paper] images per class in the few-shot training set
    adapt_epochs: int = 40  # [ours] 40 passes over 160 images in batches of 32: 200 steps
    batch: int = 32  # [paper] CLIP-LoRA's batch size
    lr: float = 1.0e-3  # [ours] Adam, every arm and pretraining
    rank: int = 4  # [ours] LoRA rank on both hidden layers (CLIP-LoRA: 2 on q, k, v)
    alpha: float = 4.0  # [ours] LoRA alpha (scaling alpha / rank = 1)
    excluded_rank: int = 32  # [recon] top singular directions of each layer kept out of comp_lora's update
    curve_ranks: list[int] = field(default_factory=lambda: [0, 8, 64, 128])  # [ours] more ranks to plot
    test_size: int = 2000  # [ours] test images of the few-shot task and of MNIST
    arms: list[str] = field(default_factory=lambda: list(ARMS))

    def __post_init__(self):
        for name in ("hidden", "pretrain_size", "pretrain_epochs", "pretrain_batch", "shots", "adapt_epochs",
                     "batch", "rank", "test_size"):  # fmt: skip
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(
            self.batch <= 10 * self.shots,
            "experiment.batch",
            "must be <= 10 * experiment.shots (the few-shot set)",
        )
        require(self.target in TARGETS, "experiment.target", f"choose from {', '.join(TARGETS)}")
        unknown = sorted(set(self.arms) - set(ARMS))
        require(
            self.arms and not unknown, "experiment.arms", f"choose from {', '.join(ARMS)} (got {unknown})"
        )
        top = self.hidden - self.rank  # the smaller side of both layers is ``hidden``
        for name, ranks in (("excluded_rank", [self.excluded_rank]), ("curve_ranks", self.curve_ranks)):
            require(
                all(0 <= int(k) <= top for k in ranks),
                f"experiment.{name}",
                f"must be in 0..{top} (hidden - rank)",
            )

    # --- the data -------------------------------------------------------------------------------------------------

    def _split(self, name: str, train: bool):
        from subspacelab.data.vision import load_split, prepare_dataset

        source = "mnist" if name == "mnist_rotated" else name
        prepare_dataset(source, self.data_root)
        x, y = load_split(source, self.data_root, train=train)
        x = x.float().div(255)  # uint8 -> [0, 1]
        return (torch.rot90(x, 1, (2, 3)) if name == "mnist_rotated" else x), y

    def data(self, seed: int) -> dict:
        """{"pretrain", "pretrain_test", "shots", "test": (x, y)}: ``shots`` training images per class of the target,
        drawn per seed; for mnist_rotated, the few-shot images are MNIST training images the pretraining did not
        use."""
        gen = torch.Generator().manual_seed(trial_seed(seed, "comp_lora", "split"))
        x, y = self._split(PRETRAIN, True)
        order = torch.randperm(len(x), generator=gen)
        pretrain, rest = order[: self.pretrain_size], order[self.pretrain_size :]
        tx, ty = self._split(self.target, True)
        pool = rest if self.target == "mnist_rotated" else torch.randperm(len(tx), generator=gen)
        picked = torch.cat([pool[ty[pool] == c][: self.shots] for c in range(10)])
        require(
            len(picked) == 10 * self.shots, "experiment.shots", f"{self.target} has too few images per class"
        )
        out = {"pretrain": (x[pretrain], y[pretrain]), "shots": (tx[picked], ty[picked])}
        for key, name in (("pretrain_test", PRETRAIN), ("test", self.target)):
            ex, ey = self._split(name, False)
            pick = torch.randperm(len(ex), generator=gen)[: self.test_size]
            out[key] = (ex[pick], ey[pick])
        return out

    # --- the networks ---------------------------------------------------------------------------------------------

    def backbone(self):
        from torch import nn

        h = self.hidden
        return nn.Sequential(nn.Flatten(), nn.Linear(784, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())

    def pretrain(self, data: dict, seed: int, trainer=None):
        """(backbone, MNIST head), trained together through Lightning (``fit_classifier``)."""
        from torch import nn

        from subspacelab.lit.classifier import fit_classifier

        torch.manual_seed(trial_seed(seed, "comp_lora", "pretrain-init"))
        net = nn.Sequential(self.backbone(), nn.Linear(self.hidden, 10))
        fit_classifier(net, *data["pretrain"], 10, epochs=self.pretrain_epochs, batch_size=self.pretrain_batch,
                       lr=self.lr, seed=trial_seed(seed, "comp_lora", "pretrain"), trainer=trainer)  # fmt: skip
        return net[0].eval(), net[1].eval()

    def adapted(self, arm: str, backbone, excluded_rank: int | None = None):
        """A copy of ``backbone`` prepared for ``arm``: frozen (head_only), with LoRA or Comp-LoRA injected in both
        hidden layers (only A and B train), or all trainable (full)."""
        import copy

        from subspacelab.lowrank.complement import ComplementLoRALinear
        from subspacelab.lowrank.lora import inject_lora

        net = copy.deepcopy(backbone).train()
        if arm == "head_only":
            net.requires_grad_(False)
        elif arm in ("lora", "comp_lora"):
            extra = (
                {} if arm == "lora" else {"layer_cls": ComplementLoRALinear, "excluded_rank": excluded_rank}
            )
            inject_lora(net, LAYERS, r=self.rank, alpha=self.alpha, seed=0, **extra)
        return net

    def adapt(
        self, arm: str, backbone, data: dict, seed: int, trainer=None, excluded_rank: int | None = None
    ):
        """(adapted backbone, new head): the arm's trainable part and a new 10-way head fitted on the few-shot set
        through Lightning; the new head's initial weights are the same for every arm of a seed."""
        from torch import nn

        from subspacelab.lit.classifier import fit_classifier

        torch.manual_seed(trial_seed(seed, "comp_lora", "new-head"))
        head = nn.Linear(self.hidden, 10)
        net = nn.Sequential(self.adapted(arm, backbone, excluded_rank), head)
        fit_classifier(net, *data["shots"], 10, epochs=self.adapt_epochs, batch_size=self.batch, lr=self.lr,
                       seed=trial_seed(seed, "comp_lora", "adapt"), trainer=trainer)  # fmt: skip
        return net[0].eval(), head.eval()

    @staticmethod
    @torch.no_grad()
    def accuracy(backbone, head, x: torch.Tensor, y: torch.Tensor) -> float:
        logits = torch.cat([head(backbone(x[i : i + 500])) for i in range(0, len(x), 500)])
        return float((logits.argmax(1) == y).float().mean())

    def score(self, backbone, new_head, old_head, data: dict) -> dict:
        from subspacelab.lowrank.complement import ComplementLoRALinear, principal_leak

        leaks = [principal_leak(m) for m in backbone.modules() if isinstance(m, ComplementLoRALinear)]
        return {
            "accuracy": self.accuracy(backbone, new_head, *data["test"]),
            "retention": self.accuracy(backbone, old_head, *data["pretrain_test"]),
            "trainable_backbone": sum(p.numel() for p in backbone.parameters() if p.requires_grad),
            **({"principal_leak": max(leaks)} if leaks else {}),
        }

    # --- the run --------------------------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        import time

        from subspacelab.lit.fit import world_size

        torch.set_num_threads(1)
        data = self.data(seed)
        start = time.process_time()
        backbone, old_head = self.pretrain(data, seed, trainer)
        pretrained = self.accuracy(backbone, old_head, *data["pretrain_test"])
        rows = []
        for arm in self.arms:
            k = self.excluded_rank if arm == "comp_lora" else None
            adapted, new_head = self.adapt(arm, backbone, data, seed, trainer, k)
            rows.append({"arm": arm, **self.score(adapted, new_head, old_head, data)})
        curve = []
        for k in self.curve_ranks:
            adapted, new_head = self.adapt("comp_lora", backbone, data, seed, trainer, int(k))
            curve.append({"excluded_rank": int(k), **self.score(adapted, new_head, old_head, data)})
        seconds = time.process_time() - start
        for r in rows:
            r["forgetting"] = pretrained - r["retention"]
        return {"world_size": world_size(), "pretrained_retention": pretrained, "results": rows, "curve": curve,
                "train_seconds": round(seconds, 1)}  # fmt: skip
