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
3. R[i, j] task-incremental (adapters need the task id), final accuracy, forgetting, BWT, and the exact stored
   parameter counts of Share and per-task LoRA.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from subspacelab.continual import metrics
from subspacelab.continual.harness import (
    ContinualNet,
    batches,
    check_stream_settings,
    evaluate,
    freeze,
    nan_to_none,
    new_head,
    run_method,
    setup,
)
from subspacelab.continual.share import ShareLayer, lora_stored_parameters
from subspacelab.experiments.harness import trial_seed
from subspacelab.lowrank.lora import LoRALinear

METHODS = ("per_task_lora", "lora", "share", "share_wide", "joint")


@dataclass
class Experiment:
    """One (stream, seed) run (module doc). Fields = conf/experiment/share_lora.yaml."""

    stream: str = "split"
    dataset: str = "mnist"
    n_tasks: int = 5
    n_train: int = 2000
    n_test: int = 500
    data_root: str = "data/raw"
    pretrain_dataset: str = "fashion_mnist"
    n_pretrain: int = 10000
    pretrain_epochs: int = 3
    pretrain_lr: float = 1.0e-3
    pretrain_batch: int = 128
    hidden: int = 256
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    steps_per_task: int = 200
    batch: int = 64
    lr: float = 1.0e-2  # trained adapter / weight (every method)
    fc_lr: float = 1.0e-3
    eps: float = 1.0e-6
    temperature: float = 3.0
    # --- LoRA (per-task and sequential)
    lora_rank: int = 8
    lora_alpha: float = 8.0
    lora_seed: int = 0
    # --- Share
    share_p: int = 8  # columns of each task's factors (official code: the adapter rank r)
    share_k: int = 16  # max basis size per side
    share_phi: int = 2  # temporary factors' rank
    share_ev: float = 1.0  # explained-variance cut (1.0: keep min(k, rank))
    share_center: bool = True  # row-centre the stacked factors before the SVD (official code)
    share_lr: float = 5.0e-2
    share_wide_phi: int = 8  # method share_wide (an ablation, not in the claims): phi and k of a wider Share
    share_wide_k: int = 64

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

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        torch.set_num_threads(1)
        started = time.perf_counter()
        base = setup(self, seed)
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
            s = trial_seed(seed, "train")
            if m in ("lora", "joint"):
                r = run_method(m, net, tasks, self, s, ("task",))
            else:
                r = run_adapters(m, net, tasks, self, s)
            results[m] = {
                **r["metrics"],
                "log": r["log"],
                "seconds": r["seconds"],
                **{k: r[k] for k in ("stored", "trainable") if k in r},
            }
            matrices[m] = r["R"]
            v = r["metrics"]["task"]
            extra = f" stored {r['stored']}" if "stored" in r else ""
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
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "accuracy_matrix.json").write_text(json.dumps(nan_to_none(matrices), indent=1))
        out["seconds"] = time.perf_counter() - started
        return nan_to_none(out)


def run_adapters(name: str, base: ContinualNet, tasks, cfg: Experiment, seed: int) -> dict:
    """``per_task_lora`` or ``share`` over the stream, the harness's loop (same batches, heads, evaluation) with
    per-task parameters switched in before each task is evaluated."""
    t0 = time.perf_counter()
    net = copy.deepcopy(base)
    freeze(net)
    net.proj.weight.requires_grad_(False)
    with torch.no_grad():
        ftr = [net.features(t.x_train) for t in tasks]
        fte = [net.features(t.x_test) for t in tasks]
    T = len(tasks)
    R = [[math.nan] * T for _ in range(T)]
    base_proj = net.proj
    gen_init = torch.Generator().manual_seed(int(cfg.lora_seed))
    adapters: list[tuple[torch.Tensor, torch.Tensor]] = []
    wide = name == "share_wide"
    if wide:
        name = "share"
    if name == "share":
        net.proj = ShareLayer(
            base_proj,
            p=cfg.share_p,
            k_max=cfg.share_wide_k if wide else cfg.share_k,
            phi=cfg.share_wide_phi if wide else cfg.share_phi,
            alpha=cfg.lora_alpha,
            ev=cfg.share_ev,
            center=cfg.share_center,
        )

    class _Switch:
        def eval_task(self, net_, j):
            if name == "share":
                net_.proj.set_task(j)
            else:
                net_.proj.lora_A.data.copy_(adapters[j][0])
                net_.proj.lora_B.data.copy_(adapters[j][1])

    gen = torch.Generator().manual_seed(seed)
    log = []
    for t, task in enumerate(tasks):
        head = new_head(net, task.n_classes, seed * 1000 + t)
        head_opt = torch.optim.AdamW(head.parameters(), lr=cfg.fc_lr, eps=cfg.eps, weight_decay=0.0)
        for k, h in enumerate(net.heads):
            h.requires_grad_(k == t)
        if name == "share":
            params, lr = net.proj.start_task(gen_init), (cfg.lr if net.proj.n_tasks == 0 else cfg.share_lr)
        else:
            net.proj = LoRALinear(base_proj, r=cfg.lora_rank, alpha=cfg.lora_alpha, generator=gen_init)
            params, lr = [net.proj.lora_A, net.proj.lora_B], cfg.lr
        opt = torch.optim.AdamW(params, lr=lr, eps=cfg.eps, weight_decay=0.0)
        trainable = sum(p.numel() for p in params)
        for idx in batches(len(task.y_train), cfg.batch, cfg.steps_per_task, gen):
            loss = F.cross_entropy(net.logits(ftr[t][idx], [t])[0] / cfg.temperature, task.y_train[idx])
            opt.zero_grad(set_to_none=True)
            head_opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            head_opt.step()
        info = {"trainable": int(trainable)}
        if name == "share":  # the current task before the merge (temporary factors still in place)
            with torch.no_grad():
                pred = net.logits(fte[t], [t])[0].argmax(1)
            info["acc_before_merge"] = float((pred == task.y_test).float().mean())
            info.update(net.proj.merge())
            info["stored"] = net.proj.stored_parameters()
        else:
            adapters.append((net.proj.lora_A.detach().clone(), net.proj.lora_B.detach().clone()))
        R[t][: t + 1] = evaluate(net, fte, tasks, t, "task", _Switch())
        log.append({"task": t, "loss": float(loss.detach()), **info, "acc_task": R[t][: t + 1]})
    stored = (
        net.proj.stored_parameters()
        if name == "share"
        else lora_stored_parameters(net.proj.out_features, net.proj.in_features, cfg.lora_rank, T)
    )
    if name == "per_task_lora":  # the stored count is the adapters' own tensors
        assert stored == sum(a.numel() + b.numel() for a, b in adapters)
    return {
        "R": {"task": R},
        "metrics": {"task": metrics.summary(R)},
        "log": log,
        "stored": int(stored),
        "trainable": max(e["trainable"] for e in log),
        "seconds": time.perf_counter() - t0,
    }
