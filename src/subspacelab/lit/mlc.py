"""MLC (Ding et al., ICCV 2023) trained by Lightning: the TCR pre-training and the MLC objective of
``clustering.mlc``, on one CPU, one GPU or several processes under DDP (the MLC paper's experiment trains
through ``fit_mlc``).

- ``MLCModule``: ``stage="tcr"`` trains the TCR pre-training loss, ``stage="mlc"`` the MLC loss −R(Z) + R_c(Z, Γ)
  with Γ = Sinkhorn(C Cᵀ) on two augmented views of every batch (``clustering.mlc.tcr_step`` / ``mlc_step``).
  Augmentations come from the rank's generator (``lit.generators.RankGenerator``: seed + rank, checkpointed).
  Under DDP every rank computes R, R_c and Γ on its own slice of the global batch (Γ couples only the samples of
  one rank's slice: the objective of W ranks is that of W micro-batches, not of one W-times batch), and DDP
  averages the gradients, so every rank takes the same step. Adam with ``lr_backbone`` on the backbone (frozen
  when 0) and ``lr_heads`` on the heads (the cluster head only in the MLC stage). ``history`` holds one row per
  epoch: the mean of each training statistic over the epoch's steps (and over ranks).
- ``fit_mlc``: trains a ``clustering.mlc.MLCNet`` on a tensor of images through ``lit.fit.fit``, in full global
  batches of a seeded per-epoch shuffle (``lit.batches.EpochShuffle``).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from subspacelab.clustering import mlc as M
from subspacelab.lit.batches import EpochShuffle, TensorData
from subspacelab.lit.fit import fit
from subspacelab.lit.generators import RankGenerator
from subspacelab.lit.history import EpochHistory

STAGES = ("tcr", "mlc")


class MLCModule(EpochHistory, RankGenerator, L.LightningModule):
    HISTORY_KEY = "mlc_history"

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
        self._init_history()

    def on_fit_start(self) -> None:
        self.net.train()  # Lightning keeps the modes it finds; a read-out before the fit left eval mode

    def training_step(self, batch, batch_idx) -> Tensor:
        (x,) = batch
        gen = self.generator
        if self.stage == "tcr":
            loss, stats = M.tcr_step(self.net, x, gen, self.eps2, self.tcr_lambda)
        else:
            loss, stats = M.mlc_step(self.net, x, gen, self.eps2, self.eta, self.sinkhorn_iters)
        self.record(**stats)
        return loss

    def setup(self, stage: str) -> None:
        """Freeze what this stage does not train: before DDP wraps the module, so DDP expects no gradient there."""
        for p in self.net.cluster_head.parameters():
            p.requires_grad_(self.stage == "mlc")  # the cluster head is not used by TCR
        for p in self.net.backbone.parameters():
            p.requires_grad_(self.lr_backbone > 0)

    def configure_optimizers(self):
        heads = [*self.net.pre_feature.parameters(), *self.net.feature_head.parameters()]
        if self.stage == "mlc":
            heads += list(self.net.cluster_head.parameters())
        groups = [{"params": heads, "lr": self.lr_heads}]
        if self.lr_backbone > 0:
            groups.append({"params": list(self.net.backbone.parameters()), "lr": self.lr_backbone})
        return torch.optim.Adam(groups)


def mlc_data(X: Tensor, batch: int, seed: int) -> TensorData:
    """The images X in full global batches of ``batch`` of a per-epoch shuffle seeded by ``seed``."""
    return TensorData(X, sampler=lambda n, world, rank: EpochShuffle(n, batch, seed, world, rank))


def fit_mlc(
    net: M.MLCNet,
    X: Tensor,
    *,
    stage: str = "mlc",
    epochs: int | None = None,
    steps: int = -1,
    batch: int = 512,
    seed: int = 0,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    module_kwargs: dict | None = None,
    **options,
) -> MLCModule:
    """Train ``net`` on the images X (N, C, H, W in [0, 1]) for ``epochs`` epochs (or ``steps`` optimiser steps)
    in global batches of ``batch`` (each of W ranks gets batch / W); data order and augmentations drawn from
    ``seed``. ``trainer``: the run's trainer section (placement); ``module_kwargs`` go to ``MLCModule``,
    ``options`` to the Trainer. Returns the fitted module (``.history``: one row per epoch)."""
    module = MLCModule(net, stage, seed=seed, **(module_kwargs or {}))
    return fit(
        module,
        mlc_data(X, batch, seed),
        trainer=trainer,
        seed=seed,
        callbacks=callbacks,
        ckpt_path=ckpt_path,
        **{"max_epochs": epochs, "max_steps": steps, **options},
    )
