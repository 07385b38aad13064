"""ADSL's training step through Lightning: each batch comes from one cluster and trains that cluster's learner
(its block of the embedding) with the margin loss on the code's mined pairs (``metric.margin``); in the
fine-tune phase (``whole = True``) the loss sees the whole embedding. Adam with coupled weight decay, as the code.

The module also keeps what the dynamic rule needs: ``taylor``, the sum over the epoch of activation x gradient of
every embedding neuron (the per-learner normalised output, as the code's hook), summed over DDP ranks at the end of
the epoch (W ranks give W times the one-process sum, each rank's rows carrying the gradient of the global loss
from every rank; the Taylor scores are scale-free). Under DDP the embeddings and labels of every rank are gathered (with a gradient for the embeddings), so
each rank mines and scores the global batch and the averaged gradient is the one-process gradient (batch norm
aside). ``learner_sizes`` and ``whole`` travel in checkpoints, with the epoch history."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from subspacelab.lit.batches import TensorData
from subspacelab.lit.cluster_batches import ClusterBalancedBatches
from subspacelab.lit.fit import fit
from subspacelab.lit.history import EpochHistory
from subspacelab.metric.margin import margin_loss, mine_pairs
from subspacelab.selfsup.objectives import gather_rows


def _gather_labels(y: Tensor) -> Tensor:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return y
    parts = [torch.empty_like(y) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, y.contiguous())
    return torch.cat(parts)


class SubspaceLearnersModule(EpochHistory, L.LightningModule):
    STATE_KEY = "subspace_learners"

    def __init__(
        self,
        net,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        margin: float = 0.2,
        beta: float = 1.2,
        cutoff: float = 0.5,
    ):
        super().__init__()
        if lr <= 0 or weight_decay < 0:
            raise ValueError("SubspaceLearnersModule: need lr > 0 and weight_decay >= 0")
        self.net = net
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.margin, self.beta, self.cutoff = float(margin), float(beta), float(cutoff)
        self.whole = False
        self.taylor = torch.zeros(net.embedding.out_features, dtype=torch.float64)
        self._init_history()

    def on_train_epoch_start(self) -> None:
        self.taylor = torch.zeros_like(self.taylor, device=self.device)

    def _accumulate(self, z: Tensor) -> None:
        def hook(grad: Tensor) -> None:
            self.taylor += (z.detach() * grad).sum(0).to(self.taylor)

        z.register_hook(hook)

    def training_step(self, batch, batch_idx) -> Tensor:
        x, y, cluster = batch
        z = self.net(x)
        self._accumulate(z)
        z_all, y_all = gather_rows(z), _gather_labels(y)
        block = z_all if self.whole else torch.split(z_all, self.net.sizes, dim=-1)[int(cluster[0])]
        loss = margin_loss(block, mine_pairs(block.detach(), y_all, self.cutoff), self.margin, self.beta)
        self.record(loss=loss)
        return loss

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        if self.trainer.world_size > 1:
            self.taylor = self.trainer.strategy.reduce(self.taylor, reduce_op="sum")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[self.STATE_KEY] = {"learner_sizes": list(self.net.sizes), "whole": self.whole}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get(self.STATE_KEY) or {}
        self.net.sizes = list(state.get("learner_sizes", self.net.sizes))
        self.whole = bool(state.get("whole", False))


def fit_subspace_learners(
    module: SubspaceLearnersModule,
    images: Tensor,
    classes: Tensor,
    clusters: Tensor,
    *,
    batch: int,
    per_class: int,
    steps_per_epoch: int,
    seed: int,
    epochs: int,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    **options,
) -> SubspaceLearnersModule:
    """Fit ``module`` for ``epochs`` epochs of ``steps_per_epoch`` batches (``lit.cluster_batches``). ``clusters``
    is read when each epoch's batches are drawn: a callback may rewrite it in place between epochs (reclustering).
    Returns the module."""

    def sampler(n, world, rank):
        return ClusterBalancedBatches(
            classes.numpy(), clusters.numpy(), batch, per_class, steps_per_epoch, seed, world, rank
        )

    data = TensorData(images, classes, clusters, sampler=sampler)
    return fit(
        module,
        data,
        trainer=trainer,
        seed=seed,
        callbacks=callbacks,
        ckpt_path=ckpt_path,
        max_epochs=epochs,
        reload_dataloaders_every_n_epochs=1,
        **options,
    )
