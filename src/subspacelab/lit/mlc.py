"""MLC (Ding et al., ICCV 2023) trained by Lightning: the same objective as the paper experiment's plain loop
(``subspacelab.papers.mlc.experiment``), so it runs on one CPU, one GPU or several under DDP.

- ``MLCModule``: ``stage="tcr"`` trains the TCR pre-training loss, ``stage="mlc"`` the MLC loss −R(Z) + R_c(Z, Γ)
  with Γ = Sinkhorn(C Cᵀ) on two augmented views of every batch (``clustering.mlc.tcr_step`` / ``mlc_step``, the
  functions the plain loop calls). Each rank draws its augmentations from ``seed + rank``. Under DDP every rank
  computes R, R_c and Γ on its own shard of the batch (Γ couples only the samples of one rank's batch), and DDP
  averages the gradients, so every rank takes the same step. Adam with one learning rate for the backbone
  (frozen when 0) and one for the heads, as ``papers.mlc.experiment.mlc_optimizer``.
- ``fit_mlc``: trains a ``clustering.mlc.MLCNet`` on a tensor of images for ``steps`` steps (Trainer options passed on).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from subspacelab.clustering import mlc as M

STAGES = ("tcr", "mlc")


class MLCModule(L.LightningModule):
    def __init__(
        self,
        net: M.MLCNet,
        stage: str = "mlc",
        lr_backbone: float = 1e-4,
        lr_heads: float = 1e-3,
        eps2: float = 0.5,
        eta: float = 0.175,
        sinkhorn_iters: int = 10,
        tcr_lambda: float = 100.0,
        seed: int = 0,
    ):
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"MLCModule: stage one of {STAGES}, got {stage!r}")
        if lr_heads <= 0 or lr_backbone < 0 or eps2 <= 0 or eta <= 0 or sinkhorn_iters < 1:
            raise ValueError("MLCModule: need lr_heads, eps2, eta > 0, lr_backbone >= 0, sinkhorn_iters >= 1")
        self.net, self.stage = net, stage
        self.lr_backbone, self.lr_heads = float(lr_backbone), float(lr_heads)
        self.eps2, self.eta, self.sinkhorn_iters, self.tcr_lambda = (
            float(eps2),
            float(eta),
            int(sinkhorn_iters),
            float(tcr_lambda),
        )
        self.seed = int(seed)
        self._gen: torch.Generator | None = None

    def on_train_start(self) -> None:
        self._gen = torch.Generator().manual_seed(self.seed + self.global_rank)

    def training_step(self, batch, batch_idx) -> Tensor:
        (x,) = batch
        if self.stage == "tcr":
            loss, stats = M.tcr_step(self.net, x, self._gen, self.eps2, self.tcr_lambda)
        else:
            loss, stats = M.mlc_step(self.net, x, self._gen, self.eps2, self.eta, self.sinkhorn_iters)
        for key, v in stats.items():
            self.log(f"train/{key}", v, prog_bar=key == "loss")
        return loss

    def configure_optimizers(self):
        heads = [*self.net.pre_feature.parameters(), *self.net.feature_head.parameters()]
        if self.stage == "mlc":
            heads += list(self.net.cluster_head.parameters())
        groups = [{"params": heads, "lr": self.lr_heads}]
        for p in self.net.backbone.parameters():
            p.requires_grad_(self.lr_backbone > 0)
        if self.lr_backbone > 0:
            groups.append({"params": list(self.net.backbone.parameters()), "lr": self.lr_backbone})
        if self.stage == "tcr":  # the cluster head is not used by TCR
            for p in self.net.cluster_head.parameters():
                p.requires_grad_(False)
        return torch.optim.Adam(groups)


def fit_mlc(
    net: M.MLCNet,
    X: Tensor,
    steps: int,
    stage: str = "mlc",
    batch: int = 512,
    seed: int = 0,
    callbacks=(),
    module_kwargs: dict | None = None,
    **trainer_kwargs,
) -> L.Trainer:
    """Train ``net`` on the images X (N, C, H, W in [0, 1]) for ``steps`` optimiser steps (minibatches reshuffled
    every epoch; under DDP each rank gets its shard). ``module_kwargs`` go to ``MLCModule``, ``trainer_kwargs`` to
    ``L.Trainer`` (accelerator, devices, strategy, ...)."""
    data = torch.utils.data.TensorDataset(X)
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=batch,
        shuffle=True,
        drop_last=X.shape[0] >= batch,
        generator=torch.Generator().manual_seed(seed),
    )
    opts = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        **trainer_kwargs,
    }
    trainer = L.Trainer(max_steps=steps, callbacks=list(callbacks), **opts)
    trainer.fit(MLCModule(net, stage, seed=seed, **(module_kwargs or {})), train_dataloaders=loader)
    return trainer
