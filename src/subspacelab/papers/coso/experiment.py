"""The CoSO experiment: one run = one (task stream, seed), a CPU-scale analogue of the paper's protocol. The
maths is in ``subspacelab.continual.coso``; streams, metrics and the harness (``continual.harness.setup`` builds the
stream and the pretrained network) in ``subspacelab.continual``. Official code: quinn-ch/CoSO (coso/coso_projector.py,
coso/adamw.py read; not copied).

1. a 784→hidden→hidden MLP pretrained with supervision on another dataset (Fashion-MNIST for MNIST streams), then
   frozen except the second layer's weight (``proj``, the CoSO target, like ViT's attn.proj) and per-task heads;
2. the stream (Split: disjoint class pairs; Permuted: one pixel permutation per task), ``n_train``/``n_test``
   examples per task;
3. every method from the same pretrained network and the same batches: sequential fine-tuning, one shared LoRA
   adapter, GaLore-style projection without history, a fixed orthogonal subspace, CoSO, and joint training;
4. R[i, j] for each protocol (task- / class-incremental), final average accuracy, forgetting, BWT, and for the
   history methods ‖M_tᵀ ΔW_t‖_F / ‖ΔW_t‖_F per task.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.continual.baselines import METHODS
from subspacelab.continual.harness import check_stream_settings, nan_to_none, run_method, setup
from subspacelab.continual.streams import PROTOCOLS
from subspacelab.experiments.harness import trial_seed
from subspacelab.lit.fit import is_global_zero, world_size


@dataclass
class Experiment:
    """CoSO (Cheng, Wan, Wu, Hou, Zhang; NeurIPS 2025; arXiv 2505.11816). One run = one (task stream, seed): pretrain a
    small MLP, freeze it except proj.weight + per-task heads, train every method over the stream, fill R[i, j].
    Tags: [code] quinn-ch/CoSO (coso_projector.py, adamw.py, exps/*.json); [notes] docs notes 31 §4; [ours] CPU scale.

    One (stream, seed) run (module doc)."""

    TAG: ClassVar[str] = "${.stream}_${.dataset}_${.n_tasks}"

    stream: str = "split"  # split | permuted
    dataset: str = "mnist"  # mnist | fashion_mnist
    n_tasks: int = 5
    protocols: list[str] = field(
        default_factory=lambda: ["task", "class"]
    )  # task- and class-incremental evaluation of the same training
    n_train: int = 2000  # training examples per task (class-balanced subset) [ours]
    n_test: int = 500  # test examples per task [ours]
    data_root: str = "data/raw"
    # --- backbone pre-training (another dataset), then frozen except proj.weight
    # the backbone is pretrained on another dataset [ours; paper: ImageNet ViT]
    pretrain_dataset: str = "fashion_mnist"
    n_pretrain: int = 10000
    pretrain_epochs: int = 3
    pretrain_lr: float = 1.0e-3
    pretrain_batch: int = 128
    hidden: int = 256  # proj is hidden x hidden [notes: a 256x256 layer]
    # --- continual training
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    steps_per_task: int = 200  # [ours; code: 20-40 epochs]
    batch: int = 64  # [ours; code 128]
    lr: float = 1.0e-3  # every method's trained weight [ours; code 3e-4 / 4e-4 with a cosine schedule]
    fc_lr: float = 1.0e-3  # current head [ours; code 5e-4 / 4e-4]
    eps: float = 1.0e-6  # [code]
    temperature: float = 3.0  # logits / 3 [code]
    # --- CoSO / projected baselines
    proj_rank: int = 8  # [notes §4; code 15-70]
    sketch_rank: int = 32  # FD sketch size [notes §4; code 100-160]
    update_gap: int = 1  # [code: cifar / imagenet-r]
    threshold: float = 0.98  # [code]
    db_decay: float = 1.0  # [code configs]
    ablation_update_gap: int = 20  # method coso_gap: CoSO refreshing P (and the sketch) every this many steps [code: DomainNet update_gap 20]
    # --- LoRA baseline
    lora_rank: int = 8  # [notes §4]
    lora_alpha: float = 8.0
    lora_seed: int = 0

    def __post_init__(self):
        self.protocols = [str(p) for p in self.protocols]
        self.methods = [str(m) for m in self.methods]
        check_stream_settings(self, METHODS)
        if not self.protocols or any(p not in PROTOCOLS for p in self.protocols):
            raise ValueError(f"protocols: a non-empty subset of {PROTOCOLS}")
        if (
            min(self.proj_rank, self.sketch_rank, self.update_gap, self.ablation_update_gap, self.lora_rank)
            < 1
        ):
            raise ValueError("proj_rank, sketch_rank, update_gap, ablation_update_gap, lora_rank: >= 1")
        if not 0 < self.threshold <= 1 or min(self.lr, self.fc_lr, self.temperature, self.pretrain_lr) <= 0:
            raise ValueError("threshold in (0, 1]; lr, fc_lr, temperature, pretrain_lr > 0")

    @property
    def tag(self) -> str:
        return f"{self.stream}_{self.dataset}_{self.n_tasks}"

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        """Every method over the stream; training through Lightning placed by ``trainer`` (the run's trainer
        section: one CPU by default, ``trainer=ddp trainer.devices=2`` on two processes, every rank running the
        same fits in order; rank 0 writes the files)."""
        torch.set_num_threads(1)
        started = time.perf_counter()
        base = setup(self, seed, trainer)
        tasks = base.tasks
        out: dict = {
            "stream": self.tag,
            "run_seed": int(seed),
            "n_tasks": self.n_tasks,
            "protocols": self.protocols,
            "pretrain_loss": base.pretrain_log,
            "pretrain_seconds": base.pretrain_seconds,
            "task_classes": [t.classes for t in tasks] if self.stream == "split" else None,
        }
        results, matrices = {}, {}
        for m in self.methods:
            r = run_method(
                m, base.net, tasks, self, trial_seed(seed, "train"), tuple(self.protocols), trainer=trainer
            )
            results[m] = {
                **r["metrics"],
                "history_leak": r["history_leak"],
                "log": r["log"],
                "seconds": r["seconds"],
            }
            matrices[m] = r["R"]
            msg = ", ".join(
                f"{p}: acc {v['final_acc']:.3f}"
                + (f" forget {v['forgetting']:.3f}" if v["forgetting"] is not None else "")
                for p, v in r["metrics"].items()
            )
            if is_global_zero():
                print(f"  {self.tag} {m}: {msg} ({r['seconds']:.1f} s)", flush=True)
        out["results"], out["R"] = results, matrices
        out_dir = Path(out_dir)
        if is_global_zero():
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "accuracy_matrix.json").write_text(json.dumps(nan_to_none(matrices), indent=1))
        out["world_size"] = world_size()
        out["seconds"] = time.perf_counter() - started
        return nan_to_none(out)
