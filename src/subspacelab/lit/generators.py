"""A random generator per DDP rank for modules that draw their own randomness (augmentations, noise).

``RankGenerator`` (a mixin placed before ``L.LightningModule``): ``self.generator`` is a CPU ``torch.Generator``
seeded ``self.seed + global_rank`` when training starts. Every rank's state goes into checkpoints (gathered,
a uint8 tensor: loads with ``weights_only=True``) and comes back on resume, so a resumed run draws what an
uninterrupted one would.
"""

from __future__ import annotations

import torch

KEY = "generator_states"


class RankGenerator:
    seed: int
    _generator: torch.Generator | None = None
    _restored: torch.Tensor | None = None

    @property
    def generator(self) -> torch.Generator:
        if self._generator is None:
            raise RuntimeError("the generator exists once training has started")
        return self._generator

    def on_train_start(self) -> None:
        self._generator = torch.Generator().manual_seed(int(self.seed) + self.global_rank)
        if self._restored is not None:
            self._generator.set_state(self._restored[self.global_rank % len(self._restored)].clone())
            self._restored = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = self.generator.get_state()
        if self.trainer.world_size > 1:  # called on every rank: gather every rank's state
            checkpoint[KEY] = self.all_gather(state).reshape(self.trainer.world_size, -1).cpu()
        else:
            checkpoint[KEY] = state[None]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._restored = checkpoint.get(KEY)
