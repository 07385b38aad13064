"""Binary segmentation through Lightning: VM-UNet's recipe (JCruan519/VM-UNet; MHS-VM trains with it).

Loss: BCE + Dice with weights 1 and 1 on the sigmoid of the network's logits, the Dice term per image with
smoothing 1 and averaged over the batch (``bce_dice_loss``). Both terms are means over equal-sized slices, so two
DDP ranks on halves of a batch, or k accumulated micro-batches, take the step of the whole batch. AdamW
(lr 1e-3, weight decay 1e-2 in the code) and a cosine from lr down to ``min_lr`` over the run's optimizer steps
(the code's CosineAnnealingLR steps per epoch with restarts every 50 epochs; ours: one cosine, stated in the
paper's NOTES). ``fit_segmenter`` trains on in-memory tensors with a seeded per-epoch shuffle.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

from subspacelab.lit.history import EpochHistory
from subspacelab.lit.optim import with_stepwise_cosine
from subspacelab.lit.paired_fit import fit_on_pairs


def bce_dice_loss(logits: torch.Tensor, masks: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """BCE over all pixels + mean over images of 1 - (2 |P M| + s) / (|P| + |M| + s), P = sigmoid(logits)."""
    bce = F.binary_cross_entropy_with_logits(logits, masks)
    p, m = torch.sigmoid(logits).flatten(1), masks.flatten(1)
    dice = (2 * (p * m).sum(1) + smooth) / (p.sum(1) + m.sum(1) + smooth)
    return bce + (1 - dice).mean()


class SegmentationModule(EpochHistory, L.LightningModule):
    HISTORY_KEY = "segmentation_history"

    def __init__(self, net: nn.Module, lr: float = 1e-3, weight_decay: float = 1e-2, min_lr: float = 1e-5):
        super().__init__()
        self.net, self.lr, self.weight_decay, self.min_lr = net, float(lr), float(weight_decay), float(min_lr)
        self._init_history()  # one row per epoch: the mean training loss

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, masks = batch
        loss = bce_dice_loss(self.net(x), masks)
        self.record(loss=loss)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return with_stepwise_cosine(
            optimizer, int(self.trainer.estimated_stepping_batches), self.min_lr / self.lr
        )


def fit_segmenter(
    net: nn.Module,
    x: torch.Tensor,
    masks: torch.Tensor,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    min_lr: float = 1e-5,
    trainer=None,
    **options,
) -> SegmentationModule:
    """Train ``net`` (images -> logits of the masks' shape) on (x, masks) in batches of a seeded per-epoch shuffle
    (each DDP rank its slice of every global batch) through ``lit.fit.fit``; ``options`` go to the Trainer
    (accumulate_grad_batches, default_root_dir, ckpt_path, ...). Returns the fitted module, ``net`` in eval mode."""
    module = SegmentationModule(net, lr, weight_decay, min_lr)
    fit_on_pairs(
        module, x, masks, seed=seed, epochs=epochs, batch_size=batch_size, trainer=trainer, **options
    )
    net.eval()
    return module


@torch.no_grad()
def segmentation_scores(net: nn.Module, x: torch.Tensor, masks: torch.Tensor, batch: int = 256) -> dict:
    """VM-UNet's test protocol: sigmoid outputs and masks thresholded at 0.5, one confusion matrix pooled over
    every test pixel; "iou" = TP / (TP + FP + FN) (the code's "miou": the foreground IoU), "dsc" = 2TP / (2TP + FP
    + FN), accuracy, specificity, sensitivity; plus the mean over images of each image's Dice (``dsc_per_image``;
    an image with an empty mask and an empty prediction counts 1)."""
    net.eval()
    tp = fp = fn = tn = 0
    per_image = []
    for i in range(0, len(x), batch):
        pred = torch.sigmoid(net(x[i : i + batch])).flatten(1) > 0.5
        true = masks[i : i + batch].flatten(1) > 0.5
        a, b, c = (pred & true).sum(1), (pred & ~true).sum(1), (~pred & true).sum(1)
        tp, fp, fn = tp + int(a.sum()), fp + int(b.sum()), fn + int(c.sum())
        tn += int((~pred & ~true).sum())
        denom = 2 * a + b + c
        per_image.append(
            torch.where(denom > 0, 2 * a / denom.clamp(min=1), torch.ones_like(denom, dtype=torch.float))
        )
    ratio = lambda num, den: num / den if den else float("nan")  # noqa: E731
    return {
        "iou": ratio(tp, tp + fp + fn),
        "dsc": ratio(2 * tp, 2 * tp + fp + fn),
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "specificity": ratio(tn, tn + fp),
        "sensitivity": ratio(tp, tp + fn),
        "dsc_per_image": float(torch.cat(per_image).float().mean()),
    }
