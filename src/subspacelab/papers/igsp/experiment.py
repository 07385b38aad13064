"""What one run of igsp computes: for one seed, the continual-learning harness's MLP pretrained on Fashion-MNIST,
frozen except a mixture of low-rank experts on its layer ``proj`` (``continual.moe``) and one head per task, over
a paired MNIST stream: tasks come in pairs on the same pixel permutation, the second of a pair with its labels
deranged (visually identical, logically different). Three ways of giving each task experts, each trained through
the harness's Lightning loop (``continual.harness.run_method``):

- ``moe_isolated``: two new experts per task (isolated modules: no interference, parameters grow with tasks);
- ``moe_similarity``: reuse and keep training the experts of the earlier task with the most similar mean input
  (cosine >= ``moe_similarity``), else two new ones (similarity-driven sharing);
- ``igsp``: route over every historical expert (held) and four candidates with a penalty on the candidates' routing
  mass; after 20% of the task's steps, release the candidates the router barely uses, make the survivors read only
  the input outside the historical experts' directions, and fit without the penalty.

Scores (task-incremental, the harness's R matrix): final average accuracy, forgetting, the accuracy lost by the
first task of each pair once its partner is learned (``pair_forgetting``), trainable parameters per task (iGSP's
phase 1 ``trainable``, phase 2 ``trainable_fitted``, and their mean over the task's steps ``trainable_per_step``)
and the parameters stored at the end (experts and router rows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.configurable import require
from subspacelab.continual.harness import check_stream_settings, nan_to_none, run_method, setup
from subspacelab.continual.moe import METHODS as MOE
from subspacelab.experiments.harness import trial_seed
from subspacelab.lit.fit import world_size

METHODS = tuple(MOE)


def pair_forgetting(R: list[list[float]]) -> float | None:
    """Mean over the pairs (t, t + 1), t even, of R[t][t] - R[t + 1][t]: what the first task of a pair loses while
    its relabelled partner is learned."""
    drops = [R[t][t] - R[t + 1][t] for t in range(0, len(R) - 1, 2)]
    return sum(drops) / len(drops) if drops else None


@dataclass
class Experiment:
    """igsp: one run = one seed (module doc). Tags: [notes] the project notes' plan (37-igsp.md); [recon] our
    reconstruction of the unreleased method (docs/research/igsp.md); [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "${.stream}_${.dataset}_${.n_tasks}"

    stream: str = "paired"  # [ours] pairs of tasks: the same images, deranged labels in the second
    dataset: str = "mnist"
    n_tasks: int = 4  # [ours] two pairs
    n_train: int = 2000  # per task [notes]
    n_test: int = 500  # per task [ours]
    data_root: str = "data/raw"
    pretrain_dataset: str = (
        "fashion_mnist"  # [ours] the frozen backbone's pretraining, as the harness's papers
    )
    n_pretrain: int = 10000
    pretrain_epochs: int = 3
    pretrain_lr: float = 1.0e-3
    pretrain_batch: int = 128
    hidden: int = 256
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    steps_per_task: int = 200  # [ours]
    steps_per_epoch: int = 40  # [ours] 5 epochs per task: iGSP identifies after the first (20%)
    batch: int = 64  # [ours]
    lr: float = 1.0e-2  # [ours] AdamW on the experts and the router
    fc_lr: float = 1.0e-3  # [ours] the current head (the harness's papers)
    eps: float = 1.0e-6
    temperature: float = 3.0  # logits / 3 (the harness)
    lora_alpha: float = 4.0  # [ours] experts' scaling alpha / rank = 1
    lora_seed: int = 0
    moe_experts: int = 16  # [notes] the pool
    moe_rank: int = 4  # [notes]
    moe_top_k: int = 2  # [notes]
    moe_new: int = 2  # [ours] experts a new task gets (isolated, and similarity without a match)
    moe_candidates: int = 4  # [notes] iGSP's pre-expansion
    moe_penalty: float = 0.1  # [notes] lambda of the routing-mass penalty
    moe_prune_below: float = 0.05  # [notes] candidates under this mean routing mass are released
    moe_identify_epochs: int = 1  # [notes] identification after 20% of the task (1 epoch of 5)
    moe_similarity: float = 0.9  # [recon] cosine of mean inputs above which similarity sharing reuses experts

    def __post_init__(self):
        self.methods = [str(m) for m in self.methods]
        check_stream_settings(self, METHODS)
        require(self.steps_per_task % self.steps_per_epoch == 0, "experiment.steps_per_epoch",
                "must divide experiment.steps_per_task")  # fmt: skip
        require(1 <= self.moe_identify_epochs < self.steps_per_task // self.steps_per_epoch,
                "experiment.moe_identify_epochs", "must leave at least one epoch of the task after it")  # fmt: skip
        require(self.moe_experts >= max(self.moe_new, self.moe_candidates) * self.n_tasks,
                "experiment.moe_experts", "the pool must hold every task's new experts")  # fmt: skip
        require(0 < self.moe_prune_below < 1, "experiment.moe_prune_below", "must be in (0, 1)")

    @property
    def moe_tasks(self) -> int:
        return self.n_tasks

    @property
    def tag(self) -> str:
        return f"{self.stream}_{self.dataset}_{self.n_tasks}"

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        torch.set_num_threads(1)
        started = time.process_time()
        base = setup(self, seed, trainer)
        rows, matrices = [], {}
        for name in self.methods:
            r = run_method(MOE[name](self), base.net, base.tasks, self, trial_seed(seed, "train"), ("task",),
                           trainer=trainer, steps_per_epoch=self.steps_per_epoch)  # fmt: skip
            R, m = r["R"]["task"], r["metrics"]["task"]
            phase2 = [row.get("trainable_phase2", row["trainable"]) for row in r["log"]]
            share = (
                self.moe_identify_epochs * self.steps_per_epoch / self.steps_per_task
                if name == "igsp"
                else 1.0
            )
            per_step = [
                share * row["trainable"] + (1 - share) * p2 for row, p2 in zip(r["log"], phase2, strict=True)
            ]
            rows.append({
                "arm": name, "accuracy": m["final_acc"], "forgetting": m["forgetting"],
                "pair_forgetting": pair_forgetting(R), "trainable": r["trainable_mean"],
                "trainable_fitted": sum(phase2) / len(phase2), "trainable_per_step": sum(per_step) / len(per_step),
                "stored": r["stored"],
                "log": [{k: v for k, v in row.items() if k != "loss"} for row in r["log"]],
            })  # fmt: skip
            matrices[name] = R
        return nan_to_none({"world_size": world_size(), "stream": self.tag, "results": rows, "R": matrices,
                            "train_seconds": round(time.process_time() - started, 1)})  # fmt: skip
