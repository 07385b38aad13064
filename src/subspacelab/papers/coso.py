"""Glue for Cheng, Wan, Wu, Hou, Zhang, "Continuous Subspace Optimization for Continual Learning" (CoSO, NeurIPS
2025, arXiv 2505.11816). Official code: quinn-ch/CoSO (coso/coso_projector.py, coso/adamw.py read; not copied).
The maths is in ``subspacelab.continual.coso``; streams, metrics and the harness in ``subspacelab.continual``.

One run = one (task stream, seed), a CPU-scale analogue of the paper's protocol:

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
import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from subspacelab.continual.baselines import METHODS
from subspacelab.continual.harness import ContinualNet, pretrain, run_method
from subspacelab.continual.streams import KINDS, PROTOCOLS, make_stream
from subspacelab.experiments.harness import trial_seed

DATASETS = ("mnist", "fashion_mnist")
LABELS = {"seq_ft": "sequential FT", "lora": "sequential LoRA", "galore": "GaLore (no history)",
          "fixed_subspace": "fixed orthogonal subspace", "coso": "CoSO", "coso_gap": "CoSO, ablation update_gap",
          "joint": "joint (upper bound)"}


@dataclass
class Experiment:
    """One (stream, seed) run (module doc). Fields = conf/experiment/coso.yaml."""

    stream: str = "split"  # split | permuted
    dataset: str = "mnist"
    n_tasks: int = 5
    protocols: list[str] = field(default_factory=lambda: ["task", "class"])
    n_train: int = 2000  # training examples per task (class-balanced subset)
    n_test: int = 500  # test examples per task
    data_root: str = "data/raw"
    # --- backbone pre-training (another dataset), then frozen except proj.weight
    pretrain_dataset: str = "fashion_mnist"
    n_pretrain: int = 10000
    pretrain_epochs: int = 3
    pretrain_lr: float = 1.0e-3
    pretrain_batch: int = 128
    hidden: int = 256
    # --- continual training
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    steps_per_task: int = 200
    batch: int = 64
    lr: float = 1.0e-3  # proj weight (every method)
    fc_lr: float = 1.0e-3  # current head
    eps: float = 1.0e-6
    temperature: float = 3.0
    # --- CoSO / projected baselines
    proj_rank: int = 8
    sketch_rank: int = 32
    update_gap: int = 1
    threshold: float = 0.98
    db_decay: float = 1.0
    ablation_update_gap: int = 20  # method coso_gap: CoSO refreshing P (and the sketch) every this many steps
    # --- LoRA baseline
    lora_rank: int = 8
    lora_alpha: float = 8.0
    lora_seed: int = 0

    def __post_init__(self):
        self.protocols = [str(p) for p in self.protocols]
        self.methods = [str(m) for m in self.methods]
        if self.stream not in KINDS:
            raise ValueError(f"stream: one of {KINDS}, got {self.stream!r}")
        if self.dataset not in DATASETS or self.pretrain_dataset not in DATASETS:
            raise ValueError(f"dataset, pretrain_dataset: one of {DATASETS}")
        if not self.protocols or any(p not in PROTOCOLS for p in self.protocols):
            raise ValueError(f"protocols: a non-empty subset of {PROTOCOLS}")
        if not self.methods or any(m not in METHODS for m in self.methods):
            raise ValueError(f"methods: a non-empty subset of {METHODS}")
        if self.n_tasks < 2 or (self.stream == "split" and 10 % self.n_tasks):
            raise ValueError("n_tasks: >= 2 (and dividing the 10 classes for split streams)")
        if min(self.n_train, self.n_test, self.hidden, self.batch, self.steps_per_task) < 1 or self.batch > self.n_train:
            raise ValueError("n_train, n_test, hidden, batch, steps_per_task >= 1 and batch <= n_train")
        if min(self.proj_rank, self.sketch_rank, self.update_gap, self.ablation_update_gap, self.lora_rank) < 1:
            raise ValueError("proj_rank, sketch_rank, update_gap, ablation_update_gap, lora_rank: >= 1")
        if not 0 < self.threshold <= 1 or min(self.lr, self.fc_lr, self.temperature, self.pretrain_lr) <= 0:
            raise ValueError("threshold in (0, 1]; lr, fc_lr, temperature, pretrain_lr > 0")

    @property
    def tag(self) -> str:
        return f"{self.stream}_{self.dataset}_{self.n_tasks}"

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        from subspacelab.data.vision import load_split, prepare_dataset

        torch.set_num_threads(1)
        started = time.perf_counter()
        for ds in {self.dataset, self.pretrain_dataset}:
            prepare_dataset(ds, self.data_root)
        data = {"train": load_split(self.dataset, self.data_root, True),
                "test": load_split(self.dataset, self.data_root, False)}
        tasks = make_stream(self.stream, data, self.n_tasks, trial_seed(seed, "stream", self.tag),
                            n_train=self.n_train, n_test=self.n_test)
        xp, yp = load_split(self.pretrain_dataset, self.data_root, True)
        gen = torch.Generator().manual_seed(trial_seed(seed, "pretrain-subset"))
        keep = torch.randperm(len(yp), generator=gen)[: self.n_pretrain]
        torch.manual_seed(trial_seed(seed, "init"))
        net = ContinualNet(xp[0].numel(), self.hidden)
        t0 = time.perf_counter()
        pre_log = pretrain(net, xp[keep].reshape(len(keep), -1).float() / 255.0, yp[keep], self.pretrain_epochs,
                           self.pretrain_lr, self.pretrain_batch, trial_seed(seed, "pretrain"))
        out: dict = {"stream": self.tag, "run_seed": int(seed), "n_tasks": self.n_tasks, "protocols": self.protocols,
                     "pretrain_loss": pre_log, "pretrain_seconds": time.perf_counter() - t0,
                     "task_classes": [t.classes for t in tasks] if self.stream == "split" else None}
        results, matrices = {}, {}
        for m in self.methods:
            r = run_method(m, net, tasks, self, trial_seed(seed, "train"), tuple(self.protocols))
            results[m] = {**r["metrics"], "history_leak": r["history_leak"], "log": r["log"], "seconds": r["seconds"]}
            matrices[m] = r["R"]
            msg = ", ".join(f"{p}: acc {v['final_acc']:.3f}" + (f" forget {v['forgetting']:.3f}"
                                                               if v["forgetting"] is not None else "")
                            for p, v in r["metrics"].items())
            print(f"  {self.tag} {m}: {msg} ({r['seconds']:.1f} s)", flush=True)
        out["results"], out["R"] = results, matrices
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "accuracy_matrix.json").write_text(json.dumps(_nan_to_none(matrices), indent=1))
        out["seconds"] = time.perf_counter() - started
        return _nan_to_none(out)


def _nan_to_none(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    return x


# ----------------------------------------------------------------------------------------------
# aggregation: a row is a run's metrics.json
# ----------------------------------------------------------------------------------------------
def _runs(rows: list[dict]) -> dict[str, list[dict]]:
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if "results" in r and "stream" in r:
            by[r["stream"]].append(r)
    return dict(by)


def means(runs: list[dict], protocol: str, metric: str) -> dict[str, float]:
    """method -> seed mean of ``metric`` under ``protocol`` (methods without it are left out)."""
    vals: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for m, res in r["results"].items():
            v = (res.get(protocol) or {}).get(metric)
            if v is not None:
                vals[m].append(float(v))
    return {m: statistics.fmean(v) for m, v in vals.items()}


def _settings(rows, protocols):
    for stream, runs in sorted(_runs(rows).items()):
        for p in protocols:
            if p in runs[0]["protocols"]:
                yield stream, p, runs


def _compare(claim: dict, rows: list[dict]):
    """CoSO vs each baseline per (stream, protocol), seed means. ``better``: higher (accuracy) or lower
    (forgetting). reproduced: CoSO better than every baseline in every setting; partly: better than all but at most
    one baseline in every setting, or than every baseline in some setting; not reproduced: otherwise."""
    dv = claim["derive"]
    metric, higher = dv["metric"], dv.get("higher", True)
    wins, parts = {}, []
    for stream, p, runs in _settings(rows, dv["protocols"]):
        mm = means(runs, p, metric)
        if "coso" not in mm or not all(b in mm for b in dv["baselines"]):
            continue
        wins[f"{stream}/{p}"] = {b: (mm["coso"] > mm[b]) if higher else (mm["coso"] < mm[b]) for b in dv["baselines"]}
        parts.append(f"{stream}/{p}: " + ", ".join(f"{m} {mm[m]:.3f}" for m in ["coso", *dv["baselines"]]))
    if not wins:
        return {"value": "n/a"}, "not_run", "no setting has CoSO and every baseline"
    n_lost = [sum(not w for w in ws.values()) for ws in wins.values()]
    verdict = ("reproduced" if max(n_lost) == 0 else
               "partly" if max(n_lost) <= 1 or min(n_lost) == 0 else "not_reproduced")
    return {"value": "; ".join(parts) + f" ({metric}, seed means)", "wins": wins}, verdict, \
        f"{sum(len(r) for r in _runs(rows).values())} runs"


def _gap_grows(claim: dict, rows: list[dict]):
    """gap(T) = CoSO − best baseline (final average accuracy, seed means) on the short and the long stream.
    reproduced: gap(long) > gap(short) and gap(long) > 0; partly: gap(long) > gap(short) only; not otherwise."""
    dv, by = claim["derive"], _runs(rows)
    gaps = {}
    for s in (dv["short"], dv["long"]):
        if s not in by:
            return {"value": "n/a"}, "not_run", f"stream {s} was not run"
        mm = means(by[s], dv["protocol"], "final_acc")
        if "coso" not in mm or not any(b in mm for b in dv["baselines"]):
            return {"value": "n/a"}, "not_run", f"{s}: CoSO or the baselines were not run"
        best = max(dv["baselines"], key=lambda b: mm.get(b, -1.0))
        gaps[s] = (mm["coso"] - mm[best], best)
    gs, gl = gaps[dv["short"]][0], gaps[dv["long"]][0]
    verdict = "reproduced" if gl > gs and gl > 0 else "partly" if gl > gs else "not_reproduced"
    value = "; ".join(f"{s}: CoSO − {b} = {g:+.3f}" for s, (g, b) in gaps.items())
    return {"value": value, "gaps": {s: g for s, (g, _) in gaps.items()}}, verdict, "task-incremental, seed means"


def _orthogonal(claim: dict, rows: list[dict]):
    """max over runs and tasks t ≥ 1 of ‖M_tᵀ ΔW_t‖_F / ‖ΔW_t‖_F for CoSO. reproduced: ≤ tol; partly: ≤ 100·tol."""
    dv = claim["derive"]
    leaks = [v for r in rows for v in ((r.get("results") or {}).get(dv.get("method", "coso")) or {})
             .get("history_leak", [])]
    if not leaks:
        return {"value": "n/a"}, "not_run", "no CoSO run with a non-empty history"
    mx = max(leaks)
    verdict = "reproduced" if mx <= dv["tol"] else "partly" if mx <= 100 * dv["tol"] else "not_reproduced"
    return {"value": f"max {mx:.2e} over {len(leaks)} task updates", "max": mx}, verdict, "float32"


def _joint(claim: dict, rows: list[dict]):
    """joint ≥ every sequential method per setting (seed means of final accuracy). reproduced: in every setting;
    partly: joint ≥ CoSO in every setting; not reproduced: otherwise."""
    dv = claim["derive"]
    full, vs_coso, parts = [], [], []
    for stream, p, runs in _settings(rows, dv["protocols"]):
        mm = means(runs, p, "final_acc")
        if "joint" not in mm or "coso" not in mm:
            continue
        others = [m for m in mm if m != "joint"]
        full.append(all(mm["joint"] >= mm[m] for m in others))
        vs_coso.append(mm["joint"] >= mm["coso"])
        parts.append(f"{stream}/{p}: joint {mm['joint']:.3f}, best sequential {max(mm[m] for m in others):.3f}")
    if not full:
        return {"value": "n/a"}, "not_run", "joint or CoSO was not run"
    verdict = "reproduced" if all(full) else "partly" if all(vs_coso) else "not_reproduced"
    return {"value": "; ".join(parts)}, verdict, "harness sanity check, not a claim of the paper"


def _paper_only(claim: dict, rows: list[dict]):
    return {"value": "n/a"}, "not_run", "needs the paper's ViT-B/16 + ImageNet-R setting, not implemented here"


RULES = {"coso_compare": _compare, "coso_gap_grows": _gap_grows, "coso_orthogonal": _orthogonal,
         "coso_joint_bound": _joint, "coso_paper_table": _paper_only}


# ----------------------------------------------------------------------------------------------
# report pieces
# ----------------------------------------------------------------------------------------------
def tables(rows: list[dict]) -> str:
    lines = []
    for stream, runs in sorted(_runs(rows).items()):
        for p in runs[0]["protocols"]:
            acc, fg, bwt, la = (means(runs, p, k) for k in ("final_acc", "forgetting", "bwt", "learning_acc"))
            lines += [f"\n**{stream}, {p}-incremental** ({len(runs)} seed(s))\n",
                      "| method | final avg acc | avg forgetting | BWT | learning acc (R[j, j]) |",
                      "|---|---|---|---|---|"]
            for m in LABELS:
                if m in acc:
                    f, b, lr = (f"{d[m]:.3f}" if m in d else "–" for d in (fg, bwt, la))
                    lines.append(f"| {LABELS[m]} | {acc[m]:.3f} | {f} | {b} | {lr} |")
    return "\n".join(lines)


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(_settings(rows, PROTOCOLS))
    if not settings:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.6), squeeze=False)
    for ax, (stream, p, runs) in zip(axes[0], settings, strict=True):
        for m in LABELS:
            curves = [r["results"][m][p]["acc_curve"] for r in runs if m in r["results"]
                      and (r["results"][m].get(p) or {}).get("acc_curve")]
            if curves:
                T = len(curves[0])
                ax.plot(range(1, T + 1), [statistics.fmean(c[i] for c in curves) for i in range(T)], "o-",
                        label=LABELS[m], ms=3)
            elif m == "joint" and m in runs[0]["results"]:
                ax.axhline(statistics.fmean(r["results"][m][p]["final_acc"] for r in runs), color="k", ls="--",
                           label=LABELS[m])
        ax.set(title=f"{stream} ({p}-IL)", xlabel="tasks learned", ylabel="average accuracy so far", ylim=(0, 1))
        ax.legend(fontsize=6)
    fig.tight_layout()
    path = out_dir / "coso_accuracy_vs_tasks.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


NOTES: list[str] = [
    "Sources: the paper's abstract/introduction (arXiv 2505.11816 HTML, the body and Table 1 were not readable through "
    "the search tool) and the official code quinn-ch/CoSO (coso/coso_projector.py, coso/adamw.py), which fixes the "
    "update: history projection G − M Mᵀ G first, SVD of the projected gradient every update_gap steps (P = top "
    "proj_rank left vectors), a Frequent-Directions sketch updated on those steps, Adam on PᵀG with moments neither "
    "reset nor rotated when P changes within a task, no scale factor, eps 1e-6, and at task end the sketch directions "
    "with cumulative energy < 0.98 appended to M. The headline 78.19% / +2.77 points (ImageNet-R, 20 tasks) comes from "
    "a third-party summary and could NOT be checked against the paper's table; it is quoted, not claimed.",
    "Scale (deviation): a 784→256→256 MLP pretrained on another dataset (Fashion-MNIST for MNIST streams, 10k images, "
    "3 epochs) instead of a ViT-B/16; only the second layer's weight (the CoSO target, like attn.proj) and the current "
    "task's head are trained; its bias and the first layer are frozen. Split MNIST / Split Fashion-MNIST (5 tasks of 2 "
    "classes) and Permuted MNIST (5 and 10 tasks), 2000 training / 500 test examples per task, 200 steps of batch 64 "
    "per task. CoSO: proj_rank 8, sketch 32, update_gap 1, threshold 0.98 (the notes' small-scale values).",
    "CoSO projects on the LEFT (output) side of the (out x in) weight, as the official code does with torch's Linear "
    "layout; P columns with a zero singular value are zeroed (they are arbitrary in the official code and could leak "
    "into the history).",
    "Baselines share the pretrained network, batches and heads: sequential FT (AdamW on the full weight), one LoRA "
    "adapter (r = 8, α = 8) trained continually, GaLore-style projection without history (= CoSO with no history), a "
    "fixed orthogonal subspace (the first step's projector kept for the whole task, sketch/history as CoSO), joint "
    "training (same total steps on the union; upper bound). Every method uses the same lr 1e-3 (not tuned).",
    "Evaluation: task-incremental = argmax over the task's own head; class-incremental (Split streams) = argmax over "
    "the concatenated heads seen so far. Loss = CE of logits / 3 over the current head (official code). Old heads are "
    "frozen, so task-incremental forgetting comes from the trained layer only; class-incremental accuracy also "
    "depends on the calibration of heads trained on their own classes only.",
    "Ablation added after the first cpu run (which showed CoSO learning each task less well than the fixed "
    "subspace): method coso_gap = CoSO with update_gap 20 (the official DomainNet value) instead of 1, and the "
    "learning accuracy mean_j R[j, j] in the tables. The contract's claims, thresholds and the CoSO arm they use were "
    "not changed; coso_gap is reported, not claimed.",
    "DDP: the optimizer only reads p.grad, so under DDP it works on the all-reduced gradient; a 2-process gloo test "
    "(tests/integration/test_coso_ddp.py) checks that projector, sketch and history are identical on both ranks and "
    "equal to one process on the full batch. There is no Lightning module for the harness.",
    "Not done: the paper's ViT-B/16 / ImageNet-R / CIFAR-100 / DomainNet settings, the cosine learning-rate schedule "
    "of the official code.",
]
