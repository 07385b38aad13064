"""The Share experiment: one run = one (task stream, seed), a CPU-scale analogue. The maths is in
``subspacelab.continual.share``; the stream, the pretrained network (``continual.harness.setup``, shared with
CoSO), metrics and the sequential baselines in ``subspacelab.continual``. Official code: ankit-vaidya19/Share
(peft/tuners/eigenflux/layer.py and ImageClassification/weight_update.py read; not copied).

1. the harness's 784→hidden→hidden MLP pretrained on another dataset, frozen except the layer ``proj`` (through
   the method) and the current task's head;
2. methods from the same pretrained network and batches: ``per_task_lora`` (one rank-r LoRA per task, switched in
   at evaluation: the upper bound Share compresses), ``lora`` (one LoRA trained sequentially, the harness's),
   ``share`` (module ``continual.share``: shared bases + per-task coefficients, merge after every task),
   ``share_wide`` (an ablation with larger k and φ) and ``joint`` (the harness's joint training of proj.weight);
   ``per_task_lora`` and ``share`` are methods of ``continual.adapters``; every method trains through the
   harness's Lightning loop (``continual.harness.run_method``: one fit per task);
3. R[i, j] task-incremental (adapters need the task id), final accuracy, forgetting, BWT, and the exact stored
   parameter counts of Share and per-task LoRA.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from subspacelab.continual.adapters import PerTaskLoRA, ShareMethod
from subspacelab.continual.harness import check_stream_settings, nan_to_none, run_method, setup
from subspacelab.continual.share import lora_stored_parameters
from subspacelab.experiments.harness import trial_seed
from subspacelab.lit.fit import is_global_zero, world_size

METHODS = ("per_task_lora", "lora", "share", "share_wide", "joint")


@dataclass
class Experiment:
    """Share (Kaushik, Vaidya, Chaudhari, Chellappa, Yuille; arXiv 2602.06043). One run = one (task stream, seed):
    pretrain a small MLP, freeze it except the layer proj (through the method) + per-task heads, train every method.
    Tags: [code] ankit-vaidya19/Share (peft/tuners/eigenflux/layer.py, weight_update.py); [notes] docs notes 11;
    [ours] CPU scale.

    One (stream, seed) run (module doc)."""

    TAG: ClassVar[str] = "${.stream}_${.dataset}_${.n_tasks}"

    stream: str = "split"  # split | permuted
    dataset: str = "mnist"  # mnist | fashion_mnist
    n_tasks: int = 5
    n_train: int = 2000  # per task [ours]
    n_test: int = 500  # per task [ours]
    data_root: str = "data/raw"
    # backbone pretrained on another dataset [ours; paper: pretrained ViT / LLMs]
    pretrain_dataset: str = "fashion_mnist"
    n_pretrain: int = 10000
    pretrain_epochs: int = 3
    pretrain_lr: float = 1.0e-3
    pretrain_batch: int = 128
    hidden: int = 256
    methods: list[str] = field(
        default_factory=lambda: list(METHODS)
    )  # share_wide: an ablation, not in the claims
    steps_per_task: int = 200  # [ours]
    batch: int = 64  # [ours]
    lr: float = 1.0e-2  # LoRA adapters, Share's first task, joint's weight [ours; tuned, see NOTES; 1e-3 in the first cpu run]
    fc_lr: float = 1.0e-3  # current head [ours]
    eps: float = 1.0e-6
    temperature: float = 3.0  # logits / 3 (the CoSO harness)
    # --- LoRA (per-task and sequential)
    lora_rank: int = 8  # per-task / sequential LoRA [notes §4; code eigenflux_r 8]
    lora_alpha: float = 8.0
    lora_seed: int = 0
    # --- Share
    # columns of each task's factors (official code: the adapter rank r) [code: loadings K x r, r = 8]
    share_p: int = 8
    share_k: int = 16  # max basis size per side [ours; code num_components 32 for ViT-B]
    share_phi: int = 2  # temporary factors' rank [notes: phi in [1, k/4]; code num_rank_updates 2]
    share_ev: float = 1.0  # explained-variance cut; 1.0 = k = min(share_k, rank) [ours; notes: 60 %]
    share_center: bool = True  # row-centre the stacked factors before the SVD (official code) [code]
    # Share's coefficients + temporary factors [ours; tuned, see NOTES; 1e-3 in the first cpu run]
    share_lr: float = 5.0e-2
    share_wide_phi: int = 8  # method share_wide (an ablation, not in the claims): phi and k of a wider Share
    share_wide_k: int = 64  # method share_wide only (ablation): max basis size

    def __post_init__(self):
        self.methods = [str(m) for m in self.methods]
        check_stream_settings(self, METHODS)
        if (
            min(
                self.lora_rank,
                self.share_p,
                self.share_k,
                self.share_phi,
                self.share_wide_k,
                self.share_wide_phi,
            )
            < 1
            or not 0 < self.share_ev <= 1
        ):
            raise ValueError("lora_rank, share_p, share_k, share_phi >= 1; share_ev in (0, 1]")

    @property
    def tag(self) -> str:
        return f"{self.stream}_{self.dataset}_{self.n_tasks}"

    def method(self, name: str):
        """The harness method ``name``: a name of ``continual.baselines`` or one of ``continual.adapters``."""
        if name == "per_task_lora":
            return PerTaskLoRA(self)
        if name in ("share", "share_wide"):
            return ShareMethod(self, wide=name == "share_wide")
        return name

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        """Every method over the stream; training through Lightning placed by ``trainer`` (the run's trainer
        section: one CPU by default, ``trainer=ddp trainer.devices=2`` on two processes, every rank running the
        same fits in order; rank 0 writes the files)."""
        torch.set_num_threads(1)
        started = time.perf_counter()
        base = setup(self, seed, trainer)
        net, tasks = base.net, base.tasks
        out: dict = {
            "stream": self.tag,
            "run_seed": int(seed),
            "n_tasks": self.n_tasks,
            "protocols": ["task"],
            "pretrain_loss": base.pretrain_log,
        }
        results, matrices = {}, {}
        for m in self.methods:
            r = run_method(
                self.method(m), net, tasks, self, trial_seed(seed, "train"), ("task",), trainer=trainer
            )
            results[m] = {
                **r["metrics"],
                "log": r["log"],
                "seconds": r["seconds"],
                **{k: r[k] for k in ("stored", "trainable") if k in r},
            }
            matrices[m] = r["R"]
            v = r["metrics"]["task"]
            extra = f" stored {r['stored']}" if "stored" in r else ""
            if is_global_zero():
                print(
                    f"  {self.tag} {m}: acc {v['final_acc']:.3f}"
                    + (f" forget {v['forgetting']:.3f}" if v["forgetting"] is not None else "")
                    + f"{extra} ({r['seconds']:.1f} s)",
                    flush=True,
                )
        out["results"], out["R"] = results, matrices
        m_, n_ = self.hidden, self.hidden
        out["stored"] = {
            "lora_per_task": lora_stored_parameters(m_, n_, self.lora_rank, self.n_tasks),
            "lora_one_adapter": self.lora_rank * (m_ + n_),
            "share": (results.get("share") or {}).get("stored"),
            "share_per_task_increment": 2 * self.share_k * self.share_p,
            "lora_per_task_increment": self.lora_rank * (m_ + n_),
            "heads": sum(self.hidden * t.n_classes + t.n_classes for t in tasks),
        }
        out_dir = Path(out_dir)
        if is_global_zero():
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "accuracy_matrix.json").write_text(json.dumps(nan_to_none(matrices), indent=1))
        out["world_size"] = world_size()
        out["seconds"] = time.perf_counter() - started
        return nan_to_none(out)
