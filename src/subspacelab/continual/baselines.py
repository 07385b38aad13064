"""Methods a continual-learning run can use on the trained layer(s) of a :class:`~subspacelab.continual.harness.
ContinualNet`. A method builds the optimizer of the trained weight for each task and is told when a task ends;
the harness trains the current task's head itself (AdamW) and freezes the old heads.

- ``seq_ft``: sequential fine-tuning of the full weight with AdamW (no protection);
- ``lora``: one LoRA adapter (rank r, PEFT init) on the weight, trained continually across tasks with AdamW;
- ``galore``: GaLore-style projection (SVD of the gradient every ``update_gap`` steps, Adam in the projected
  space) with no history — :class:`~subspacelab.continual.coso.CoSO` with ``use_history=False``;
- ``fixed_subspace``: GPM/InfLoRA-like: one projector per task (the first step's gradient SVD, orthogonal to the
  history), the same sketch/history as CoSO — ``CoSO(fixed_projector=True)``;
- ``coso``: CoSO;
- ``coso_gap``: CoSO with ``update_gap = ablation_update_gap`` (an ablation: the projector, and the sketch, are
  refreshed every ``ablation_update_gap`` steps instead of ``update_gap``).

A method may keep per-task parameters (Share-like methods: one adapter per task) and switch them in
:meth:`Method.eval_task` before the harness evaluates task j; what it keeps outside the network and the
optimizers goes to the checkpoints through :meth:`Method.state_dict` (``continual.adapters``).
"""

from __future__ import annotations

import torch

from subspacelab.continual.coso import CoSO
from subspacelab.lowrank.lora import LoRALinear

METHODS = ("seq_ft", "lora", "galore", "fixed_subspace", "coso", "coso_gap", "joint")
PROJECTED = {
    "galore": {"use_history": False},
    "fixed_subspace": {"fixed_projector": True},
    "coso": {},
    "coso_gap": {},
}


class Method:
    name = "base"

    def __init__(self, cfg):
        self.cfg = cfg

    def setup(self, net) -> None:
        """Called once before the first task (e.g. to inject adapters)."""

    def begin_task(self, net, feats: torch.Tensor, task: int) -> None:
        """Called when task ``task`` starts, before :meth:`optimizer`, with its training features (the input of
        the trained layer); nothing by default."""

    def penalty(self, net) -> torch.Tensor | float:
        """A term added to the task's loss at every training step (after the step's forward pass); 0 by default."""
        return 0.0

    def callbacks(self, task: int) -> list:
        """Lightning callbacks of the fit of task ``task`` (run before the checkpoint callbacks); none by default."""
        return []

    def optimizer(self, net) -> torch.optim.Optimizer | None:
        """The optimizer of the trained weight(s) for the task that starts now."""
        raise NotImplementedError

    def end_task(self, net, opt, test=None) -> dict:
        """Called when a task's training is over, before it is evaluated; ``test``: (features, labels, task) of
        its test set. Returns what the task's log row records."""
        return {}

    def state_dict(self) -> dict:
        """What the method keeps outside the network and its optimizers (tensors, numbers, lists), taken when a
        task starts and saved in that task's checkpoints; empty by default."""
        return {}

    def load_state_dict(self, net, state: dict) -> None:
        """Restore :meth:`state_dict` (on ``net`` built by :meth:`setup`) before the task it was taken at."""

    def summary(self, net, log: list[dict]) -> dict:
        """Extra results of the whole stream (e.g. stored parameter counts); none by default."""
        return {}

    def eval_task(self, net, task: int) -> None:
        """Prepare ``net`` to evaluate task ``task`` (per-task parameters); nothing by default."""

    def history(self, net, opt) -> torch.Tensor | None:
        """The protected (historical) basis of the trained weight's output space, if the method has one."""
        return None


class SeqFT(Method):
    name = "seq_ft"

    def optimizer(self, net):
        return torch.optim.AdamW([net.proj.weight], lr=self.cfg.lr, eps=self.cfg.eps, weight_decay=0.0)


class LoRA(Method):
    name = "lora"

    def setup(self, net):
        gen = torch.Generator().manual_seed(int(self.cfg.lora_seed))
        net.proj = LoRALinear(net.proj, r=self.cfg.lora_rank, alpha=self.cfg.lora_alpha, generator=gen)

    def optimizer(self, net):
        return torch.optim.AdamW(
            [net.proj.lora_A, net.proj.lora_B], lr=self.cfg.lr, eps=self.cfg.eps, weight_decay=0.0
        )


class Projected(Method):
    def __init__(self, cfg, name: str):
        super().__init__(cfg)
        self.name = name
        self._opt: CoSO | None = None

    def optimizer(self, net):
        if self._opt is None:  # one optimizer for the whole stream: it carries the history
            gap = self.cfg.ablation_update_gap if self.name == "coso_gap" else self.cfg.update_gap
            self._opt = CoSO(
                [net.proj.weight],
                lr=self.cfg.lr,
                eps=self.cfg.eps,
                proj_rank=self.cfg.proj_rank,
                sketch_rank=self.cfg.sketch_rank,
                update_gap=gap,
                threshold=self.cfg.threshold,
                db_decay=self.cfg.db_decay,
                **PROJECTED[self.name],
            )
        return self._opt

    def end_task(self, net, opt, test=None):
        added = opt.end_task()
        return {"history_added": int(added[0]), "history_size": int(opt.history(net.proj.weight).shape[1])}

    def history(self, net, opt):
        return opt.history(net.proj.weight) if opt is not None else None


def make_method(name: str, cfg) -> Method:
    if name == "seq_ft":
        return SeqFT(cfg)
    if name == "lora":
        return LoRA(cfg)
    if name in PROJECTED:
        return Projected(cfg, name)
    raise ValueError(f"method: one of {METHODS}, got {name!r}")
