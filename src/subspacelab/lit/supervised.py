"""Supervised classification around any wrapped model (full space or a subspace method).

The wrapped model exposes ``effective_parameters()`` and ``forward_with(params, x)`` (see
``subspacelab.subspace.reparam``), so the optional L2 penalty is taken on the parameters the
network actually uses (theta0 + P z for a subspace model), as Keras' kernel regulariser did in the
paper's code, without computing them twice.

Optimizers: ``adam``, ``adamw``, ``sgd`` (torch) and ``grassmann_sgd`` (GCR's Riemannian SGD: the
subspaces of every ``GCRHead`` move along Grassmann geodesics, everything else is plain SGD). An optional
learning-rate ``schedule`` (linear warm-up, cosine decay to ``min_lr_ratio`` of the peak) steps per
optimizer step over the whole run.
"""

from __future__ import annotations

import inspect

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.classification import MulticlassAccuracy

from subspacelab.lowrank.schedules import cosine_with_min_lr
from subspacelab.subspace.grassmann import GrassmannSGD, manifold_param_groups


def kernel_l2(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of squares of the weight matrices / conv kernels (biases excluded)."""
    return sum(p.pow(2).sum() for p in params.values() if p.dim() > 1)


OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "adamw": torch.optim.AdamW,
    "grassmann_sgd": GrassmannSGD,
}


def build_optimizer(params, name: str = "adam", lr: float = 1e-3, **kw) -> torch.optim.Optimizer:
    """``params``: tensors or parameter groups (``grassmann_sgd`` reads each group's ``manifold``)."""
    optimizers = OPTIMIZERS
    if name not in optimizers:
        raise KeyError(f"unknown optimizer {name!r}; valid: {', '.join(sorted(optimizers))}")
    kw = {k: v for k, v in kw.items() if v is not None}
    accepted = inspect.signature(optimizers[name]).parameters
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise ValueError(f"train.optimizer.{unknown[0]} is not an option of {name}; set it to null")
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    return optimizers[name](params, lr=lr, **kw)


class SupervisedModule(L.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        optimizer: dict | None = None,
        l2: float = 0.0,
        schedule: dict | None = None,
    ):
        super().__init__()
        self.net = net
        self.optimizer_cfg = dict(optimizer or {"name": "adam", "lr": 1e-3})
        self.schedule = {"warmup_steps": 0, "min_lr_ratio": 1.0, **(schedule or {})}
        self.l2 = float(l2)
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        params = self.net.effective_parameters()
        logits = self.net.forward_with(params, x)
        loss = F.cross_entropy(logits, y)
        if self.l2:
            loss = loss + self.l2 * kernel_l2(params)
        self.train_acc(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        # the epoch mean too: a run shorter than trainer.log_every_n_steps logs no step value at all
        self.log("train/loss_epoch", loss, on_step=False, on_epoch=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def _evaluate(self, batch, metric, prefix):
        x, y = batch
        logits = self(x)
        metric(logits, y)
        self.log(f"{prefix}/loss", F.cross_entropy(logits, y), sync_dist=True)
        self.log(f"{prefix}/acc", metric, prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, self.val_acc, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, self.test_acc, "test")

    def configure_optimizers(self):
        if self.optimizer_cfg.get("name") == "grassmann_sgd":
            params = [
                {**g, "params": [p for p in g["params"] if p.requires_grad]}
                for g in manifold_param_groups(self.net)
            ]
        else:
            params = [p for p in self.parameters() if p.requires_grad]
        optimizer = build_optimizer(params, **self.optimizer_cfg)
        warmup, floor = int(self.schedule["warmup_steps"]), float(self.schedule["min_lr_ratio"])
        if warmup == 0 and floor == 1.0:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: cosine_with_min_lr(step, total, warmup, floor)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
