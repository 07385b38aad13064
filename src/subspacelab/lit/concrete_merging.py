"""Learning Concrete merging's mask through Lightning (tanganke/subspace_fusion; FusionBench's
``clip_concrete_task_arithmetic``): test-time adaptation of one shared Concrete mask on unlabelled inputs.

The only parameters are the mask logits (``merging.ConcreteMask``). Each step draws a relaxed mask z (temperature T,
its noise from a generator seeded by the run's seed and the step, so every DDP rank and a resumed run draw the same
mask), merges the backbone theta = theta_0 + lambda sum_i tau_i z / mean(z), runs every task's unlabelled inputs
through the merged backbone and that task's head, and minimises the sum over tasks of the mean Shannon entropy of
the predicted class distribution. A batch holds one input of every task per row, (b, tasks, ...); the loss is a
sum over tasks of means over equal-sized slices, so two DDP ranks on halves of a batch, or k accumulated
micro-batches, take the step of the whole batch. Adam on the logits (the code: lr 1e-3)."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from torch import nn
from torch.func import functional_call

from subspacelab.lit.history import EpochHistory
from subspacelab.merging.arithmetic import StateDict
from subspacelab.merging.concrete import ConcreteMask, masked_task_arithmetic


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """The mean over rows of -sum_c p_c log p_c, p = softmax(logits)."""
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1).mean()


class ConcreteMaskModule(EpochHistory, L.LightningModule):
    HISTORY_KEY = "concrete_mask_history"

    def __init__(
        self,
        backbone: nn.Module,
        heads: Sequence[nn.Module],
        pretrained: StateDict,
        finetuned: Sequence[StateDict],
        scale: float = 0.3,
        temperature: float = 0.5,
        lr: float = 1e-3,
        seed: int = 0,
    ):
        super().__init__()
        # the networks are fixed: kept out of the module's parameters (and of DDP's), frozen
        self._frozen = {
            "backbone": backbone.requires_grad_(False),
            "heads": [h.requires_grad_(False) for h in heads],
        }
        self.pretrained = {k: v.detach() for k, v in pretrained.items()}
        self.finetuned = [{k: v.detach() for k, v in f.items()} for f in finetuned]
        self.mask = ConcreteMask(self.pretrained)
        self.scale, self.temperature, self.lr, self.seed = (
            float(scale),
            float(temperature),
            float(lr),
            int(seed),
        )
        self._init_history()

    def on_fit_start(self):  # the fixed tensors and networks follow the mask to its device
        move = lambda d: {k: v.to(self.device) for k, v in d.items()}  # noqa: E731
        self.pretrained, self.finetuned = move(self.pretrained), [move(f) for f in self.finetuned]
        self._frozen["backbone"].to(self.device)
        for head in self._frozen["heads"]:
            head.to(self.device)

    def merged(self, mask) -> dict[str, torch.Tensor]:
        return masked_task_arithmetic(self.pretrained, self.finetuned, mask, self.scale)

    def task_logits(self, weights: dict, x: torch.Tensor, task: int) -> torch.Tensor:
        return self._frozen["heads"][task](functional_call(self._frozen["backbone"], weights, (x,)))

    def training_step(self, batch, batch_idx):
        inputs = batch[0]  # (b, tasks, ...): one unlabelled input of every task per row
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.global_step))
        weights = self.merged(self.mask.sample(self.temperature, generator=generator))
        loss = sum(
            prediction_entropy(self.task_logits(weights, inputs[:, t], t)) for t in range(inputs.shape[1])
        )
        self.record(loss=loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.mask.parameters(), lr=self.lr)


def fit_concrete_mask(
    backbone: nn.Module,
    heads: Sequence[nn.Module],
    pretrained: StateDict,
    finetuned: Sequence[StateDict],
    unlabelled: torch.Tensor,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 16,
    scale: float = 0.3,
    temperature: float = 0.5,
    lr: float = 1e-3,
    trainer=None,
    **options,
) -> ConcreteMaskModule:
    """Learn the mask on ``unlabelled`` inputs (n, tasks, ...) in batches of a seeded per-epoch shuffle (each DDP
    rank its slice of every global batch); ``options`` go to the Trainer. Returns the fitted module."""
    from subspacelab.lit.paired_fit import fit_on_pairs

    module = ConcreteMaskModule(backbone, heads, pretrained, finetuned, scale, temperature, lr, seed)
    fit_on_pairs(module, unlabelled, torch.zeros(len(unlabelled)), seed=seed, epochs=epochs,
                 batch_size=batch_size, trainer=trainer, **options)  # fmt: skip
    return module
