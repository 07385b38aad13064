"""Train a small network over a task stream with a given method and fill the accuracy matrix R[i, j].

Network (:class:`ContinualNet`): a frozen feature layer (Linear 784→hidden + ReLU, pretrained), the trained layer
``proj`` (Linear hidden→hidden, bias frozen; the layer the method acts on) + ReLU, and one head per task
(Linear hidden→n_classes). Only ``proj.weight`` (through the method) and the current task's head (AdamW,
``fc_lr``) are trained; old heads stay frozen. Because the feature layer is frozen its outputs are computed once.

Loss: cross-entropy of the current head's logits / ``temperature`` (CoSO's code uses 3). After task i, R[i, j] is
measured for every j ≤ i in each protocol (``task``: argmax over head j; ``class``: argmax over heads 0..i);
entries j > i are NaN. ``joint`` trains proj.weight (AdamW) and all heads on the union of the tasks for the same
total number of steps and fills only the last row (its upper bound).

Training goes through Lightning (``lit.continual``): pre-training, each task and the joint upper bound are one fit
each of the project's fit helper, placed by the run's ``trainer`` section (one CPU, one GPU, DDP); the outer loop
over tasks and the methods' task-boundary hooks (CoSO's history update, Share's merge) run between fits, on every
rank alike. Batches are seeded per task and sharded over ranks (``lit.batches.SteppedShuffle``); with
``ckpt_dir`` every epoch end is checkpointed (network, optimizers with CoSO's projector/sketch/history, Share's
bases and coefficients, the outer loop's progress) and a run resumes from the newest checkpoint mid-task.

:func:`setup` builds what every paper on this harness starts from (the task stream and the pretrained network),
so that the papers' experiments share one construction and the same seeds give the same stream and backbone.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from subspacelab.continual import metrics
from subspacelab.continual.baselines import make_method
from subspacelab.continual.streams import head_offsets, make_stream, predict
from subspacelab.experiments.harness import trial_seed
from subspacelab.lit.callbacks import PeriodicCheckpoint, resumable_checkpoint
from subspacelab.lit.continual import ContinualModule, epoch_data, fit_continual, stepped_data


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


def pretrain_loss(net: ContinualNet, batch) -> torch.Tensor:
    """Cross-entropy of the pre-training head on raw inputs (features + proj trained)."""
    x, y = batch
    return F.cross_entropy(net.pretrain_head(net.hidden(net.features(x))), y)


def task_loss(net: ContinualNet, batch, task: int, temperature: float, method=None) -> torch.Tensor:
    """Cross-entropy of head ``task``'s logits / ``temperature`` on precomputed features, plus the method's
    ``penalty`` when one is given."""
    feats, y = batch
    loss = F.cross_entropy(net.logits(feats, [task])[0] / temperature, y)
    return loss if method is None else loss + method.penalty(net)


def joint_loss(net: ContinualNet, batch, temperature: float) -> torch.Tensor:
    """Joint training: each row's cross-entropy under its own task's head (logits / ``temperature``), averaged over
    the batch. Every head enters the graph (a head with no row gets a zero gradient), so that under DDP every rank
    reduces the same parameters."""
    feats, y, k = batch
    h = net.hidden(feats)
    loss = h.new_zeros(())
    for j, head in enumerate(net.heads):
        sel = k == j
        if sel.any():
            loss = loss + F.cross_entropy(head(h[sel]) / temperature, y[sel], reduction="sum")
        else:
            loss = loss + 0.0 * head(h[:1]).sum()
    return loss / len(y)


def pretrain(
    net: ContinualNet,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float,
    batch: int,
    seed: int,
    trainer=None,
) -> list[float]:
    """Supervised pre-training of features + proj + pretrain_head (Adam) through Lightning, full batches of a
    seeded per-epoch shuffle; returns the mean loss per epoch."""
    if epochs < 1:
        return []
    opt = torch.optim.Adam(
        [*net.features.parameters(), *net.proj.parameters(), *net.pretrain_head.parameters()], lr=lr
    )
    module = fit_continual(
        ContinualModule(net, pretrain_loss, [opt]),
        epoch_data((x, y), batch, seed),
        epochs,
        seed=seed,
        trainer=trainer,
    )
    return [row["loss"] for row in module.history]


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


def setup(cfg, seed: int, trainer=None) -> Setup:
    """The stream ``cfg.stream`` of ``cfg.n_tasks`` tasks from ``cfg.dataset`` and a :class:`ContinualNet` with
    ``cfg.hidden`` units pretrained (:func:`pretrain`) on ``cfg.n_pretrain`` images of ``cfg.pretrain_dataset``.
    ``cfg`` needs the fields stream, dataset, n_tasks, n_train, n_test, data_root, pretrain_dataset, n_pretrain,
    pretrain_epochs, pretrain_lr, pretrain_batch, hidden and tag; every random draw is seeded from ``seed``.
    ``trainer``: the run's trainer section (where pre-training runs)."""
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
        trainer,
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


def _resume(ckpt_dir, name: str) -> tuple[str | None, dict | None]:
    """The newest readable checkpoint of method ``name`` under ``ckpt_dir`` and its outer-loop state."""
    if ckpt_dir is None:
        return None, None
    path, _ = resumable_checkpoint(Path(ckpt_dir) / name, name)
    if path is None:
        return None, None
    return str(path), torch.load(path, map_location="cpu", weights_only=True).get("continual")


def _checkpoints(ckpt_dir, name: str) -> list:
    return [] if ckpt_dir is None else [PeriodicCheckpoint(Path(ckpt_dir) / name, name, every_n_epochs=1)]


def _epochs(steps: int, steps_per_epoch: int | None) -> tuple[int, int]:
    per = int(steps_per_epoch or steps)
    if steps % per:
        raise ValueError(f"steps_per_epoch={per} must divide the {steps} steps of a task")
    return per, steps // per


def run_method(
    name,
    base: ContinualNet,
    tasks,
    cfg,
    seed: int,
    protocols=("task",),
    *,
    trainer=None,
    ckpt_dir=None,
    steps_per_epoch: int | None = None,
    accumulate: int = 1,
    callbacks=(),
) -> dict:
    """One method (a name of ``baselines.METHODS`` or a :class:`~subspacelab.continual.baselines.Method`) over the
    stream from the pretrained ``base`` (copied): one Lightning fit per task (``lit.continual``) of the method's
    optimizer and the task's head, the method's task-boundary hooks between fits. Returns R per protocol, metrics
    per protocol, the log and ‖M_tᵀ ΔW_t‖_F / ‖ΔW_t‖_F per task (M_t = the history when task t starts), plus the
    method's ``summary``.

    trainer: the run's trainer section (placement). ckpt_dir: write a checkpoint at every epoch end under
    ``ckpt_dir/<method>/`` and resume from the newest one there (mid-task included). steps_per_epoch: an epoch (the
    checkpoint grain) in optimiser steps, dividing ``cfg.steps_per_task`` (default: one epoch per task).
    accumulate: each step's batch as that many micro-batches. callbacks: added to every fit."""
    if name == "joint":
        return run_joint(
            base,
            tasks,
            cfg,
            seed,
            protocols,
            trainer=trainer,
            ckpt_dir=ckpt_dir,
            steps_per_epoch=steps_per_epoch,
            accumulate=accumulate,
            callbacks=callbacks,
        )
    t0 = time.perf_counter()
    method = make_method(name, cfg) if isinstance(name, str) else name
    net = copy.deepcopy(base)
    freeze(net)
    with torch.no_grad():
        ftr = [net.features(t.x_train) for t in tasks]
        fte = [net.features(t.x_test) for t in tasks]
    T = len(tasks)
    per_epoch, epochs = _epochs(cfg.steps_per_task, steps_per_epoch)
    method.setup(net)
    R = {p: [[math.nan] * T for _ in range(T)] for p in protocols}
    log, leak, first = [], [], 0
    ckpt_path, saved = _resume(ckpt_dir, method.name)
    ckpt_path = ckpt_path if saved is not None else None  # a checkpoint without the loop's state: start over
    if (
        saved is not None
    ):  # rebuild the state at the start of the checkpoint's task; the fit restores the rest
        first = int(saved["task"])
        R, log, leak = saved["R"], saved["log"], saved["leak"]
        for k in range(first):
            new_head(net, tasks[k].n_classes, seed * 1000 + k)
        method.load_state_dict(net, saved["method"])
    for t in range(first, T):
        task = tasks[t]
        snapshot = method.state_dict()
        head = new_head(net, task.n_classes, seed * 1000 + t)
        head_opt = torch.optim.AdamW(head.parameters(), lr=cfg.fc_lr, eps=cfg.eps, weight_decay=0.0)
        for k, h in enumerate(net.heads):
            h.requires_grad_(k == t)
        method.begin_task(net, ftr[t], t)
        opt = method.optimizer(net)
        if saved is not None and t == first:
            M, W0 = saved["M"], saved["W0"]
        else:
            M = method.history(net, opt)
            M = None if M is None else M.clone()
            W0 = None if hasattr(net.proj, "lora_A") else net.proj.weight.detach().clone()

        def progress(t=t, snapshot=snapshot, M=M, W0=W0):
            return {"task": t, "R": R, "log": log, "leak": leak, "method": snapshot, "M": M, "W0": W0}

        module = fit_continual(
            ContinualModule(
                net,
                partial(task_loss, task=t, temperature=cfg.temperature, method=method),
                [opt, head_opt],
                accumulate,
                progress,
            ),
            stepped_data(
                (ftr[t], task.y_train), cfg.batch, trial_seed(seed, "task", t), per_epoch, accumulate
            ),
            epochs,
            seed=trial_seed(seed, "fit", t),
            trainer=trainer,
            callbacks=[*method.callbacks(t), *_checkpoints(ckpt_dir, method.name), *callbacks],
            ckpt_path=ckpt_path if t == first else None,
        )
        if W0 is not None and M is not None and M.shape[1] > 0:
            dW = net.proj.weight.detach() - W0
            leak.append(float((M.T @ dW).norm() / dW.norm().clamp_min(1e-30)))
        info = method.end_task(net, opt, (fte[t], task.y_test, t))
        for p in protocols:
            R[p][t][: t + 1] = evaluate(net, fte, tasks, t, p, method)
        log.append(
            {
                "task": t,
                "loss": module.last_loss,
                **info,
                **{f"acc_{p}": R[p][t][: t + 1] for p in protocols},
            }
        )
    return {
        "R": R,
        "metrics": {p: metrics.summary(R[p]) for p in protocols},
        "log": log,
        "history_leak": leak,
        **method.summary(net, log),
        "seconds": time.perf_counter() - t0,
        "net": net,
    }


def run_joint(
    base: ContinualNet,
    tasks,
    cfg,
    seed: int,
    protocols=("task",),
    *,
    trainer=None,
    ckpt_dir=None,
    steps_per_epoch: int | None = None,
    accumulate: int = 1,
    callbacks=(),
) -> dict:
    """Joint training (the upper bound): proj.weight (AdamW, ``lr``) and every head (AdamW, ``fc_lr``) on the
    union of the tasks for ``steps_per_task`` x the number of tasks steps, one Lightning fit (arguments as in
    :func:`run_method`, ``steps_per_epoch`` counted in steps of this fit). Fills the last row of R only."""
    t0 = time.perf_counter()
    net = copy.deepcopy(base)
    freeze(net)
    with torch.no_grad():
        ftr = [net.features(t.x_train) for t in tasks]
        fte = [net.features(t.x_test) for t in tasks]
    T = len(tasks)
    R = {p: [[math.nan] * T for _ in range(T)] for p in protocols}
    heads = [new_head(net, t.n_classes, seed * 1000 + k) for k, t in enumerate(tasks)]
    opt = torch.optim.AdamW([net.proj.weight], lr=cfg.lr, eps=cfg.eps, weight_decay=0.0)
    head_opt = torch.optim.AdamW(
        [q for h in heads for q in h.parameters()], lr=cfg.fc_lr, eps=cfg.eps, weight_decay=0.0
    )
    X = torch.cat(ftr)
    Y = torch.cat([t.y_train for t in tasks])
    K = torch.cat([torch.full((len(t.y_train),), k) for k, t in enumerate(tasks)])
    per_epoch, epochs = _epochs(cfg.steps_per_task * T, steps_per_epoch)
    ckpt_path, _ = _resume(ckpt_dir, "joint")
    fit_continual(
        ContinualModule(net, partial(joint_loss, temperature=cfg.temperature), [opt, head_opt], accumulate),
        stepped_data((X, Y, K), cfg.batch, trial_seed(seed, "joint"), per_epoch, accumulate),
        epochs,
        seed=trial_seed(seed, "fit", "joint"),
        trainer=trainer,
        callbacks=[*_checkpoints(ckpt_dir, "joint"), *callbacks],
        ckpt_path=ckpt_path,
    )
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
    return {
        "R": R,
        "metrics": m,
        "log": [],
        "history_leak": [],
        "seconds": time.perf_counter() - t0,
        "net": net,
    }
