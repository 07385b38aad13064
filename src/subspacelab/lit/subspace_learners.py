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
        self._taylor_summed = False
        self._init_history()

    def on_train_epoch_start(self) -> None:
        self.taylor = torch.zeros_like(self.taylor, device=self.device)
        self._taylor_summed = False

    def summed_taylor(self) -> Tensor:
        """The epoch's Taylor sums over every DDP rank: reduced once, by whichever epoch-end hook asks first (the
        learner schedule's callback runs before the module's own hook)."""
        if self.trainer.world_size > 1 and not self._taylor_summed:
            self.taylor = self.trainer.strategy.reduce(self.taylor, reduce_op="sum")
        self._taylor_summed = True
        return self.taylor

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
        self.summed_taylor()

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


class LearnerSchedule(L.Callback):
    """ADSL's schedule around the training step (train.py; docs/research/dynamic_subspace_learners.md §2.2-2.5),
    run at the end of every epoch e (0-based) on every rank alike:

    1. the validation NMI (k-means of the validation embeddings, k = classes); a new best sets ``best_epoch`` and
       allows one more split (the code measures it on the test set; here on held-out training images);
    2. dynamic runs only, before the fine-tune phase: when ``patience`` epochs have passed since the best and a
       split is allowed, the newest learner is split by its neurons' Taylor scores (``metric.learners``);
    3. what the code does at the start of epoch e + 1: at ``finetune_epoch`` the loss takes the whole embedding and
       every image joins one cluster; otherwise, every ``recluster_every`` epochs (once more than one learner
       exists), k-means of the penultimate features of the training images into one cluster per learner, matched
       to the previous clusters (``metric.clusters``). ``clusters`` is rewritten in place; the next epoch's batches
       read it.

    ``rows`` holds one row per epoch (NMI, learner sizes, what happened); all of it is checkpointed."""

    def __init__(
        self,
        images: Tensor,
        clusters: Tensor,
        val_images: Tensor,
        val_labels: Tensor,
        *,
        seed: int,
        dynamic: bool,
        finetune_epoch: int,
        recluster_every: int = 2,
        patience: int = 2,
        threshold: float = 0.5,
    ):
        self.images, self.clusters = images, clusters
        self.val_images, self.val_labels = val_images, val_labels
        self.seed, self.dynamic = int(seed), bool(dynamic)
        self.finetune_epoch, self.every, self.patience = (
            int(finetune_epoch),
            int(recluster_every),
            int(patience),
        )
        self.threshold = float(threshold)
        self.best_nmi, self.best_epoch, self.may_split = -1.0, 0, True
        self.rows: list[dict] = []

    @torch.no_grad()
    def _embed(self, net, images: Tensor, penultimate: bool) -> Tensor:
        was = net.training
        net.eval()
        device = next(net.parameters()).device
        f = net.penultimate if penultimate else net
        out = torch.cat([f(images[i : i + 512].to(device)).cpu() for i in range(0, len(images), 512)])
        net.train(was)
        return out

    def cluster(self, net, epoch: int) -> None:
        """One cluster per learner (k-means of the penultimate features), matched to the current clusters."""
        from sklearn.cluster import KMeans

        from subspacelab.metric.clusters import match_clusters

        k = len(net.sizes)
        if k == 1:
            self.clusters.zero_()
            return
        features = self._embed(net, self.images, penultimate=True).double().numpy()
        found = KMeans(k, n_init=3, random_state=(self.seed * 1000 + epoch) % 2**32).fit_predict(features)
        self.clusters.copy_(torch.as_tensor(match_clusters(self.clusters.numpy(), found)))

    def on_train_epoch_end(self, trainer, module) -> None:
        from subspacelab.metric.evaluation import nmi_kmeans
        from subspacelab.metric.learners import split_newest_learner, taylor_scores

        e, net = trainer.current_epoch, module.net
        row = {"epoch": e + 1}
        nmi = nmi_kmeans(
            self._embed(net, self.val_images, penultimate=False), self.val_labels, seed=self.seed
        )
        row["val_nmi"] = nmi
        if nmi > self.best_nmi:
            self.best_nmi, self.best_epoch, self.may_split = nmi, e, True
        taylor = module.summed_taylor().clone()
        if (
            self.dynamic
            and 0 < e < self.finetune_epoch
            and e >= self.best_epoch + self.patience
            and self.may_split
        ):
            start = sum(net.sizes[:-1])
            scores = taylor_scores(taylor[start:].float())
            generator = torch.Generator().manual_seed(self.seed * 1000 + e)
            w, b = net.embedding.weight, net.embedding.bias
            sizes = split_newest_learner(w.data, b.data, net.sizes, scores.to(w.device), self.threshold,
                                         generator=generator)  # fmt: skip
            if sizes is not None:
                net.sizes, self.may_split = sizes, False
                row["split"] = True
        nxt = e + 1
        if nxt == self.finetune_epoch:
            module.whole = True
            self.clusters.zero_()
            row["finetune"] = True
        elif nxt < self.finetune_epoch and nxt % self.every == 0 and len(net.sizes) > 1:
            self.cluster(net, nxt)
            row["reclustered"] = True
        row["sizes"] = list(net.sizes)
        self.rows.append(row)

    def state_dict(self) -> dict:
        return {
            "best_nmi": self.best_nmi,
            "best_epoch": self.best_epoch,
            "may_split": self.may_split,
            "rows": [dict(r) for r in self.rows],
            "clusters": self.clusters.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_nmi, self.best_epoch = float(state["best_nmi"]), int(state["best_epoch"])
        self.may_split, self.rows = bool(state["may_split"]), [dict(r) for r in state["rows"]]
        self.clusters.copy_(state["clusters"])
