"""Train a small network over a task stream with a given method and fill the accuracy matrix R[i, j].

Network (:class:`ContinualNet`): a frozen feature layer (Linear 784→hidden + ReLU, pretrained), the trained layer
``proj`` (Linear hidden→hidden, bias frozen; the layer the method acts on) + ReLU, and one head per task
(Linear hidden→n_classes). Only ``proj.weight`` (through the method) and the current task's head (AdamW,
``fc_lr``) are trained; old heads stay frozen. Because the feature layer is frozen its outputs are computed once.

Loss: cross-entropy of the current head's logits / ``temperature`` (CoSO's code uses 3). After task i, R[i, j] is
measured for every j ≤ i in each protocol (``task``: argmax over head j; ``class``: argmax over heads 0..i);
entries j > i are NaN. ``joint`` trains proj.weight (AdamW) and all heads on the union of the tasks for the same
total number of steps and fills only the last row (its upper bound).

:func:`setup` builds what every paper on this harness starts from (the task stream and the pretrained network),
so that the papers' experiments share one construction and the same seeds give the same stream and backbone.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from subspacelab.continual import metrics
from subspacelab.continual.baselines import make_method
from subspacelab.continual.streams import head_offsets, make_stream, predict
from subspacelab.experiments.harness import trial_seed


class ContinualNet(nn.Module):
    def __init__(self, in_dim: int, hidden: int, n_pretrain_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        self.proj = nn.Linear(hidden, hidden)
        self.pretrain_head = nn.Linear(hidden, n_pretrain_classes)
        self.heads = nn.ModuleList()

    def hidden(self, feats: torch.Tensor) -> torch.Tensor:
        return F.relu(self.proj(feats))

    def logits(self, feats: torch.Tensor, heads) -> list[torch.Tensor]:
        h = self.hidden(feats)
        return [self.heads[k](h) for k in heads]


def pretrain(
    net: ContinualNet, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, batch: int, seed: int
) -> list[float]:
    """Supervised pre-training of features + proj + pretrain_head (Adam); returns the mean loss per epoch."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(
        [*net.features.parameters(), *net.proj.parameters(), *net.pretrain_head.parameters()], lr=lr
    )
    log = []
    for _ in range(epochs):
        perm, tot = torch.randperm(len(x), generator=gen), []
        for i in range(0, len(x) - batch + 1, batch):
            idx = perm[i : i + batch]
            loss = F.cross_entropy(net.pretrain_head(net.hidden(net.features(x[idx]))), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot.append(float(loss.detach()))
        log.append(sum(tot) / max(len(tot), 1))
    return log


@dataclass
class Setup:
    """What a run on the harness starts from: the task stream, the pretrained network (not yet frozen), the
    pre-training loss per epoch and how long pre-training took."""

    tasks: list
    net: ContinualNet
    pretrain_log: list[float]
    pretrain_seconds: float


DATASETS = ("mnist", "fashion_mnist")  # the streams' and the backbone's pre-training data


def check_stream_settings(cfg, methods) -> None:
    """The settings every experiment on this harness shares (stream, datasets, methods, sizes); raises
    ``ValueError("<field>: <what is wrong>")`` as an experiment's ``__post_init__`` does."""
    from subspacelab.continual.streams import KINDS

    if cfg.stream not in KINDS:
        raise ValueError(f"stream: one of {KINDS}, got {cfg.stream!r}")
    if cfg.dataset not in DATASETS or cfg.pretrain_dataset not in DATASETS:
        raise ValueError(f"dataset, pretrain_dataset: one of {DATASETS}")
    if not cfg.methods or any(m not in methods for m in cfg.methods):
        raise ValueError(f"methods: a non-empty subset of {methods}")
    if cfg.n_tasks < 2 or (cfg.stream == "split" and 10 % cfg.n_tasks):
        raise ValueError("n_tasks: >= 2 (and dividing the 10 classes for split streams)")
    if min(cfg.n_train, cfg.n_test, cfg.hidden, cfg.batch, cfg.steps_per_task) < 1 or cfg.batch > cfg.n_train:
        raise ValueError("n_train, n_test, hidden, batch, steps_per_task >= 1 and batch <= n_train")


def setup(cfg, seed: int) -> Setup:
    """The stream ``cfg.stream`` of ``cfg.n_tasks`` tasks from ``cfg.dataset`` and a :class:`ContinualNet` with
    ``cfg.hidden`` units pretrained (:func:`pretrain`) on ``cfg.n_pretrain`` images of ``cfg.pretrain_dataset``.
    ``cfg`` needs the fields stream, dataset, n_tasks, n_train, n_test, data_root, pretrain_dataset, n_pretrain,
    pretrain_epochs, pretrain_lr, pretrain_batch, hidden and tag; every random draw is seeded from ``seed``."""
    from subspacelab.data.vision import load_split, prepare_dataset

    for ds in {cfg.dataset, cfg.pretrain_dataset}:
        prepare_dataset(ds, cfg.data_root)
    data = {
        "train": load_split(cfg.dataset, cfg.data_root, True),
        "test": load_split(cfg.dataset, cfg.data_root, False),
    }
    tasks = make_stream(
        cfg.stream,
        data,
        cfg.n_tasks,
        trial_seed(seed, "stream", cfg.tag),
        n_train=cfg.n_train,
        n_test=cfg.n_test,
    )
    xp, yp = load_split(cfg.pretrain_dataset, cfg.data_root, True)
    gen = torch.Generator().manual_seed(trial_seed(seed, "pretrain-subset"))
    keep = torch.randperm(len(yp), generator=gen)[: cfg.n_pretrain]
    torch.manual_seed(trial_seed(seed, "init"))
    net = ContinualNet(xp[0].numel(), cfg.hidden)
    t0 = time.perf_counter()
    log = pretrain(
        net,
        xp[keep].reshape(len(keep), -1).float() / 255.0,
        yp[keep],
        cfg.pretrain_epochs,
        cfg.pretrain_lr,
        cfg.pretrain_batch,
        trial_seed(seed, "pretrain"),
    )
    return Setup(tasks, net, log, time.perf_counter() - t0)


def nan_to_none(x):
    """``x`` with every float NaN (nested in dicts, lists, tuples) replaced by None, for JSON."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [nan_to_none(v) for v in x]
    return x


def freeze(net: ContinualNet) -> None:
    """Freeze every parameter except ``proj.weight``."""
    for p in net.parameters():
        p.requires_grad_(False)
    net.proj.weight.requires_grad_(True)


def new_head(net: ContinualNet, n_classes: int, seed: int) -> nn.Linear:
    """Append a freshly initialised head (seeded by ``seed``) for a task with ``n_classes`` classes."""
    torch.manual_seed(seed)
    head = nn.Linear(net.proj.out_features, n_classes)
    net.heads.append(head)
    return head


@torch.no_grad()
def evaluate(
    net: ContinualNet, feats_test: list[torch.Tensor], tasks, upto: int, protocol: str, method=None
) -> list[float]:
    """Accuracy on tasks 0..upto after training task ``upto`` under ``protocol``."""
    offs = head_offsets(tasks)
    out = []
    for j in range(upto + 1):
        if method is not None:
            method.eval_task(net, j)
        if protocol == "task":
            pred = predict(net.logits(feats_test[j], [j]), 0, "task")
            target = tasks[j].y_test
        else:
            pred = predict(net.logits(feats_test[j], list(range(upto + 1))), upto, "class")
            target = tasks[j].y_test + offs[j]
        out.append(float((pred == target).float().mean()))
    return out


def batches(n: int, batch: int, steps: int, gen: torch.Generator):
    """``steps`` batches of indices, epoch after epoch of random permutations (full batches only)."""
    done = 0
    while done < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch + 1, batch):
            yield perm[i : i + batch]
            done += 1
            if done == steps:
                return


def run_method(name: str, base: ContinualNet, tasks, cfg, seed: int, protocols=("task",)) -> dict:
    """One method over the stream from the pretrained ``base`` (copied). Returns R per protocol, metrics per
    protocol, the history log and ‖M_tᵀ ΔW_t‖_F / ‖ΔW_t‖_F per task (M_t = the history when task t starts)."""
    t0 = time.perf_counter()
    net = copy.deepcopy(base)
    freeze(net)
    with torch.no_grad():
        ftr = [net.features(t.x_train) for t in tasks]
        fte = [net.features(t.x_test) for t in tasks]
    T = len(tasks)
    R = {p: [[math.nan] * T for _ in range(T)] for p in protocols}
    if name == "joint":
        return _run_joint(net, tasks, ftr, fte, cfg, seed, protocols, R, t0)
    method = make_method(name, cfg)
    method.setup(net)
    gen = torch.Generator().manual_seed(seed)
    log, leak = [], []
    opt = None
    for t, task in enumerate(tasks):
        head = new_head(net, task.n_classes, seed * 1000 + t)
        head_opt = torch.optim.AdamW(head.parameters(), lr=cfg.fc_lr, eps=cfg.eps, weight_decay=0.0)
        for k, h in enumerate(net.heads):
            h.requires_grad_(k == t)
        opt = method.optimizer(net)
        M = method.history(net, opt)
        M = None if M is None else M.clone()
        W0 = None if hasattr(net.proj, "lora_A") else net.proj.weight.detach().clone()
        for idx in batches(len(task.y_train), cfg.batch, cfg.steps_per_task, gen):
            loss = F.cross_entropy(net.logits(ftr[t][idx], [t])[0] / cfg.temperature, task.y_train[idx])
            opt.zero_grad(set_to_none=True)
            head_opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            head_opt.step()
        if W0 is not None and M is not None and M.shape[1] > 0:
            dW = net.proj.weight.detach() - W0
            leak.append(float((M.T @ dW).norm() / dW.norm().clamp_min(1e-30)))
        info = method.end_task(net, opt)
        for p in protocols:
            R[p][t][: t + 1] = evaluate(net, fte, tasks, t, p, method)
        log.append(
            {
                "task": t,
                "loss": float(loss.detach()),
                **info,
                **{f"acc_{p}": R[p][t][: t + 1] for p in protocols},
            }
        )
    return {
        "R": R,
        "metrics": {p: metrics.summary(R[p]) for p in protocols},
        "log": log,
        "history_leak": leak,
        "seconds": time.perf_counter() - t0,
    }


def _run_joint(net, tasks, ftr, fte, cfg, seed, protocols, R, t0) -> dict:
    heads = [new_head(net, t.n_classes, seed * 1000 + k) for k, t in enumerate(tasks)]
    params = [net.proj.weight]
    opt = torch.optim.AdamW(params, lr=cfg.lr, eps=cfg.eps, weight_decay=0.0)
    head_opt = torch.optim.AdamW(
        [q for h in heads for q in h.parameters()], lr=cfg.fc_lr, eps=cfg.eps, weight_decay=0.0
    )
    X = torch.cat(ftr)
    Y = torch.cat([t.y_train for t in tasks])
    K = torch.cat([torch.full((len(t.y_train),), k) for k, t in enumerate(tasks)])
    gen = torch.Generator().manual_seed(seed)
    for idx in batches(len(Y), cfg.batch, cfg.steps_per_task * len(tasks), gen):
        h = net.hidden(X[idx])
        loss = 0.0
        for k in torch.unique(K[idx]).tolist():
            sel = K[idx] == k
            loss = loss + F.cross_entropy(heads[k](h[sel]) / cfg.temperature, Y[idx][sel], reduction="sum")
        loss = loss / len(idx)
        opt.zero_grad(set_to_none=True)
        head_opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        head_opt.step()
    T = len(tasks)
    for p in protocols:
        R[p][T - 1] = evaluate(net, fte, tasks, T - 1, p)
    m = {
        p: {
            "final_acc": sum(R[p][T - 1]) / T,
            "forgetting": None,
            "bwt": None,
            "learning_acc": None,
            "acc_curve": None,
        }
        for p in protocols
    }
    return {"R": R, "metrics": m, "log": [], "history_leak": [], "seconds": time.perf_counter() - t0}
