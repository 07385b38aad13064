"""Causal language modelling around any ``transformers`` causal LM and a low-rank pre-training recipe
(``subspacelab.lowrank.recipes``). The recipe owns everything method-specific; this module only runs
the loss, the schedule and the hooks in the order the papers' training loops use:

    backward -> clip gradients -> recipe.before_step (SwitchLoRA switches here) -> optimizer.step
             -> recipe.after_step (ReLoRA merges here) -> scheduler.step

Validation loss is the mean next-token cross-entropy over all validation tokens; perplexity = exp(loss).
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch.nn import functional as F

from subspacelab.lowrank.measure import AllReduceCounter, optimizer_state_bytes


class CausalLMModule(L.LightningModule):
    def __init__(self, net: torch.nn.Module, recipe, optimizer: dict | None = None):
        super().__init__()
        self.net = net
        self.recipe = recipe
        self.optimizer_cfg = dict(optimizer or {"lr": 1e-3})
        self.curve: list[tuple[int, float]] = []  # (optimizer steps, validation loss)
        self.comm = AllReduceCounter()
        self.tokens_seen = 0
        self._val_sum = self._val_count = None
        self.state_bytes: int | None = None  # the optimizer's state at the end of training (on_train_end)
        self.batches_this_epoch = 0  # checkpointed: a resumed run skips them (LMDataModule.resume_skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids=x).logits

    def _loss_sum(self, x, y) -> torch.Tensor:
        logits = self(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="sum")

    def on_train_epoch_start(self):
        self.batches_this_epoch = 0

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.batches_this_epoch += 1
        loss = self._loss_sum(x, y) / y.numel()
        self.tokens_seen += y.numel() * self.trainer.world_size
        self.log("train/loss", loss, prog_bar=True)
        # the epoch mean too: a run shorter than trainer.log_every_n_steps logs no step value at all
        self.log("train/loss_epoch", loss, on_step=False, on_epoch=True)
        return loss

    # -- validation: token-weighted mean over the whole split, summed over ranks -------------------------
    def on_validation_epoch_start(self):
        self._val_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._val_count = torch.zeros((), dtype=torch.float64, device=self.device)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self._val_sum += self._loss_sum(x, y).double()
        self._val_count += y.numel()

    def _finish_eval(self, prefix: str) -> float:
        total = self.trainer.strategy.reduce(self._val_sum, reduce_op="sum")
        count = self.trainer.strategy.reduce(self._val_count, reduce_op="sum")
        loss = float(total / count)
        # already reduced over ranks: every rank logs the same number (sync_dist only silences Lightning's warning)
        self.log(f"{prefix}/loss", loss, sync_dist=True)
        self.log(f"{prefix}/ppl", math.exp(min(loss, 50.0)), sync_dist=True)
        return loss

    def on_validation_epoch_end(self):
        loss = self._finish_eval("val")
        if not self.trainer.sanity_checking:
            self.curve.append((int(self.global_step), loss))

    def on_test_epoch_start(self):
        self.on_validation_epoch_start()

    def test_step(self, batch, batch_idx):
        self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self):
        self._finish_eval("test")

    # -- optimisation --------------------------------------------------------------------------------
    def configure_optimizers(self):
        c = {k: v for k, v in self.optimizer_cfg.items() if v is not None}
        kw = {"lr": float(c.get("lr", 1e-3)), "weight_decay": float(c.get("weight_decay", 0.0))}
        if "betas" in c:
            kw["betas"] = tuple(c["betas"])
        if "eps" in c:
            kw["eps"] = float(c["eps"])
        optimizer = self.recipe.optimizer(self.net, **kw)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.recipe.lr_multiplier)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.clip_gradients(
            optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm
        )
        self.recipe.before_step(int(self.global_step), optimizer)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        self.recipe.after_step(
            int(self.global_step) + 1, optimizer
        )  # global_step counts this step after the hook

    def on_train_start(self):
        from torch.nn.parallel import DistributedDataParallel

        model = self.trainer.strategy.model
        if isinstance(model, DistributedDataParallel):
            model.register_comm_hook(self.comm, AllReduceCounter.hook)

    def on_train_end(self):
        opt = self.trainer.optimizers[0] if self.trainer.optimizers else None
        if opt is not None:
            self.state_bytes = optimizer_state_bytes(opt)

    # -- resumable recipe state ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint):
        checkpoint["recipe_state"] = self.recipe.state_dict()
        for state in checkpoint.get("optimizer_states", []):
            self.recipe.pack_optimizer_state(state)
        checkpoint["lm_curve"] = list(self.curve)
        checkpoint["tokens_seen"] = self.tokens_seen
        checkpoint["batches_this_epoch"] = self.batches_this_epoch
        checkpoint["allreduce"] = [self.comm.bytes, self.comm.calls]  # counted over the whole run

    def on_load_checkpoint(self, checkpoint):
        self.recipe.load_state_dict(checkpoint.get("recipe_state", {}))
        for state in checkpoint.get("optimizer_states", []):
            self.recipe.unpack_optimizer_state(state)
        self.curve = [tuple(c) for c in checkpoint.get("lm_curve", [])]
        self.tokens_seen = int(checkpoint.get("tokens_seen", 0))
        self.comm.bytes, self.comm.calls = (int(v) for v in checkpoint.get("allreduce", (0, 0)))
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "resume_skip"):
            datamodule.resume_skip = int(checkpoint.get("batches_this_epoch", 0))
