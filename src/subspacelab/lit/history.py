"""``EpochHistory``: a LightningModule mixin that keeps one row per epoch of the mean of each logged loss part,
averaged over DDP ranks, saved in and restored from checkpoints (so a resumed run's history equals an
uninterrupted one's). The module calls ``self.record(loss=..., part=...)`` in its training step; ``HISTORY_KEY``
names the checkpoint entry. The hooks call ``super()``, so the mixin composes with other mixins' hooks."""

from __future__ import annotations

from collections import defaultdict

import torch


class EpochHistory:
    HISTORY_KEY = "epoch_history"

    def _init_history(self) -> None:
        self.history: list[dict] = []
        self._stats: dict[str, list[float]] = defaultdict(list)

    def record(self, **parts) -> None:
        for key, v in parts.items():
            self._stats[key].append(float(v.detach() if isinstance(v, torch.Tensor) else v))

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        keys = sorted(self._stats)
        means = torch.tensor([sum(self._stats[k]) / len(self._stats[k]) for k in keys], dtype=torch.float64)
        if self.trainer.world_size > 1:
            means = self.trainer.strategy.reduce(means, reduce_op="mean")
        self.history.append({"epoch": self.current_epoch + 1, **dict(zip(keys, means.tolist(), strict=True))})
        self._stats.clear()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[self.HISTORY_KEY] = [dict(row) for row in self.history]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self.history = [dict(row) for row in checkpoint.get(self.HISTORY_KEY, [])]
