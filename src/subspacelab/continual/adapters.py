"""Methods with per-task adapters on the trained layer ``proj`` of a :class:`~subspacelab.continual.harness.
ContinualNet` (the Share paper's methods), in the interface of :class:`~subspacelab.continual.baselines.Method`:

- ``PerTaskLoRA`` (``per_task_lora``): a fresh rank-r LoRA adapter on the frozen ``proj`` for every task (AdamW at
  ``lr``), kept after the task and switched in to evaluate it: the upper bound Share compresses;
- ``ShareMethod`` (``share`` / ``share_wide``): ``continual.share.ShareLayer`` on ``proj``: a plain LoRA on the
  first task (``lr``), then the task's coefficients + temporary factors on the frozen shared bases (``share_lr``),
  merged into the bases when the task ends (``ShareLayer.merge``); ``share_wide`` uses ``share_wide_k`` and
  ``share_wide_phi``.

Both draw their initialisations from one generator seeded ``lora_seed`` running across the stream. What they keep
outside the network (the finished adapters; Share's per-task coefficients and bases; the generator) is their
``state_dict``, so a run resumed mid-task rebuilds the layer exactly.
"""

from __future__ import annotations

import torch

from subspacelab.continual.baselines import Method
from subspacelab.continual.share import ShareLayer, lora_stored_parameters
from subspacelab.lowrank.lora import LoRALinear


def _adamw(params, lr: float, cfg) -> torch.optim.AdamW:
    return torch.optim.AdamW(params, lr=lr, eps=cfg.eps, weight_decay=0.0)


class _PerTask(Method):
    """Shared parts: the frozen base layer, the initialisation generator, the trainable count per task."""

    def setup(self, net) -> None:
        net.proj.weight.requires_grad_(False)
        self.base = net.proj
        self.gen = torch.Generator().manual_seed(int(self.cfg.lora_seed))
        self.trainable: list[int] = []

    def _optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        self.trainable.append(int(sum(p.numel() for p in params)))
        return _adamw(params, lr, self.cfg)

    def end_task(self, net, opt, test=None) -> dict:
        return {"trainable": self.trainable[-1]}

    def state_dict(self) -> dict:
        return {"generator": self.gen.get_state(), "trainable": list(self.trainable)}

    def load_state_dict(self, net, state: dict) -> None:
        self.gen.set_state(state["generator"])
        self.trainable = [int(v) for v in state["trainable"]]


class PerTaskLoRA(_PerTask):
    name = "per_task_lora"

    def setup(self, net) -> None:
        super().setup(net)
        self.adapters: list[tuple[torch.Tensor, torch.Tensor]] = []

    def optimizer(self, net):
        r, alpha = self.cfg.lora_rank, self.cfg.lora_alpha
        net.proj = LoRALinear(self.base, r=r, alpha=alpha, generator=self.gen)
        return self._optimizer([net.proj.lora_A, net.proj.lora_B], self.cfg.lr)

    def end_task(self, net, opt, test=None) -> dict:
        self.adapters.append((net.proj.lora_A.detach().clone(), net.proj.lora_B.detach().clone()))
        return super().end_task(net, opt, test)

    def eval_task(self, net, task: int) -> None:
        net.proj.lora_A.data.copy_(self.adapters[task][0])
        net.proj.lora_B.data.copy_(self.adapters[task][1])

    def state_dict(self) -> dict:
        return {**super().state_dict(), "adapters": [list(ab) for ab in self.adapters]}

    def load_state_dict(self, net, state: dict) -> None:
        super().load_state_dict(net, state)
        self.adapters = [(a.clone(), b.clone()) for a, b in state["adapters"]]

    def summary(self, net, log) -> dict:
        T = len(self.adapters)
        stored = lora_stored_parameters(self.base.out_features, self.base.in_features, self.cfg.lora_rank, T)
        assert stored == sum(a.numel() + b.numel() for a, b in self.adapters)  # the count is the tensors'
        return {"stored": int(stored), "trainable": max(self.trainable)}


class ShareMethod(_PerTask):
    def __init__(self, cfg, wide: bool = False):
        super().__init__(cfg)
        self.wide = bool(wide)
        self.name = "share_wide" if wide else "share"

    def setup(self, net) -> None:
        super().setup(net)
        c = self.cfg
        net.proj = ShareLayer(
            self.base,
            p=c.share_p,
            k_max=c.share_wide_k if self.wide else c.share_k,
            phi=c.share_wide_phi if self.wide else c.share_phi,
            alpha=c.lora_alpha,
            ev=c.share_ev,
            center=c.share_center,
        )
        self._layer = net.proj

    def optimizer(self, net):
        first = net.proj.n_tasks == 0
        params = net.proj.start_task(self.gen)
        return self._optimizer(params, self.cfg.lr if first else self.cfg.share_lr)

    def end_task(self, net, opt, test=None) -> dict:
        info = super().end_task(net, opt, test)
        if test is not None:  # the current task before the merge (temporary factors still in place)
            feats, y, t = test
            with torch.no_grad():
                pred = net.logits(feats, [t])[0].argmax(1)
            info["acc_before_merge"] = float((pred == y).float().mean())
        info.update(net.proj.merge())
        info["stored"] = net.proj.stored_parameters()
        return info

    def eval_task(self, net, task: int) -> None:
        net.proj.set_task(task)

    def state_dict(self) -> dict:
        return {**super().state_dict(), **self._layer_state(self._layer)}

    @staticmethod
    def _layer_state(layer: ShareLayer) -> dict:
        return {
            "beta": layer.beta.clone(),
            "alpha_basis": layer.alpha_basis.clone(),
            "coef_B": [E.clone() for E in layer.coef_B],
            "coef_A": [E.clone() for E in layer.coef_A],
        }

    def load_state_dict(self, net, state: dict) -> None:
        super().load_state_dict(net, state)
        layer = net.proj
        layer.beta, layer.alpha_basis = state["beta"].clone(), state["alpha_basis"].clone()
        layer.coef_B = [E.clone() for E in state["coef_B"]]
        layer.coef_A = [E.clone() for E in state["coef_A"]]

    def summary(self, net, log) -> dict:
        return {"stored": int(net.proj.stored_parameters()), "trainable": max(self.trainable)}
