"""Light-field super-resolution through Lightning: MLFSR's recipe (RSGao/MLFSR ``train.py``, ``distill_multi.py``).

The network maps low-resolution views to ``(super-resolved views, deep feature)``. Loss: the mean absolute error to
the high-resolution views; with a ``teacher`` (frozen, in eval mode, under no_grad, its weights stored with the
student's but never updated) the Transformer-to-Mamba term ``distill_weight`` x the mean absolute difference
between the teacher's and the student's deep features is added (0.1 in the code). Both terms are means over
equal-sized slices, so two DDP ranks on halves of a batch, or k accumulated micro-batches, take the step of the whole
batch. Adam (the code: lr 2e-4, weight decay 1e-4, the lr halved every 15 epochs; ours: a cosine from lr to
``min_lr`` over the run's optimizer steps). ``fit_super_resolver`` trains on in-memory tensors with a seeded
per-epoch shuffle.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

from subspacelab.lit.history import EpochHistory
from subspacelab.lit.optim import with_stepwise_cosine
from subspacelab.lit.paired_fit import fit_on_pairs


def sr_loss(sr, hr, student_feature=None, teacher_feature=None, distill_weight: float = 0.1) -> torch.Tensor:
    """L1(sr, hr) + distill_weight L1(teacher feature, student feature) (the second term only with a teacher)."""
    loss = F.l1_loss(sr, hr)
    if teacher_feature is not None:
        loss = loss + distill_weight * F.l1_loss(student_feature, teacher_feature)
    return loss


class SuperResolutionModule(EpochHistory, L.LightningModule):
    HISTORY_KEY = "super_resolution_history"

    def __init__(
        self,
        net: nn.Module,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        min_lr: float = 1e-5,
        teacher: nn.Module | None = None,
        distill_weight: float = 0.1,
    ):
        super().__init__()
        self.net, self.lr, self.weight_decay, self.min_lr = net, float(lr), float(weight_decay), float(min_lr)
        self.teacher, self.distill_weight = teacher, float(distill_weight)
        if teacher is not None:
            teacher.requires_grad_(False).eval()
        self._init_history()  # one row per epoch: the mean training loss

    def forward(self, x):
        return self.net(x)

    def on_train_epoch_start(self):
        if self.teacher is not None:  # the teacher stays in eval mode, whatever sets the module's mode
            self.teacher.eval()

    def training_step(self, batch, batch_idx):
        lr_views, hr_views = batch
        sr, feature = self.net(lr_views)
        teacher_feature = None
        if self.teacher is not None:
            with torch.no_grad():
                teacher_feature = self.teacher(lr_views)[1]
        loss = sr_loss(sr, hr_views, feature, teacher_feature, self.distill_weight)
        self.record(loss=loss)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return with_stepwise_cosine(
            optimizer, int(self.trainer.estimated_stepping_batches), self.min_lr / self.lr
        )


def fit_super_resolver(
    net: nn.Module,
    lr_views: torch.Tensor,
    hr_views: torch.Tensor,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 4,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    min_lr: float = 1e-5,
    teacher: nn.Module | None = None,
    distill_weight: float = 0.1,
    trainer=None,
    **options,
) -> SuperResolutionModule:
    """Train ``net`` on (low-resolution, high-resolution) views in batches of a seeded per-epoch shuffle (each DDP
    rank its slice of every global batch) through ``lit.fit.fit``; ``options`` go to the Trainer
    (accumulate_grad_batches, default_root_dir, ckpt_path, ...). Returns the fitted module, ``net`` in eval mode."""
    module = SuperResolutionModule(net, lr, weight_decay, min_lr, teacher, distill_weight)
    # Lightning warns of modules in eval mode at the start: with a teacher, the frozen teacher's, by design
    quiet = (r"Found \d+ module\(s\) in eval mode",) if teacher is not None else ()
    fit_on_pairs(module, lr_views, hr_views, seed=seed, epochs=epochs, batch_size=batch_size, trainer=trainer,
                 quiet=quiet, **options)  # fmt: skip
    net.eval()
    return module


@torch.no_grad()
def super_resolution_scores(
    net: nn.Module, lr_views: torch.Tensor, hr_views: torch.Tensor, batch: int = 16
) -> dict:
    """BasicLFSR's protocol on whole light fields: PSNR per view (data range 1, no clamp, no border crop), averaged
    over the views of a light field, then over the light fields; also the mean absolute error."""
    from subspacelab.data.light_fields import psnr_per_light_field

    net.eval()
    psnr, mae = [], []
    for i in range(0, len(lr_views), batch):
        sr = net(lr_views[i : i + batch])[0]
        psnr.append(psnr_per_light_field(sr, hr_views[i : i + batch]))
        mae.append((sr - hr_views[i : i + batch]).abs().flatten(1).mean(1))
    return {"psnr": float(torch.cat(psnr).mean()), "mae": float(torch.cat(mae).mean())}
