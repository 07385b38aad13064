"""Task streams as data: Split MNIST / Split Fashion-MNIST (disjoint class groups), Permuted MNIST (one fixed
pixel permutation per task, task 0 optionally the identity) and Paired (tasks in pairs on the same pixel
permutation, the second of a pair with its labels permuted: visually identical, logically different).

A :class:`Task` holds flattened float images in [0, 1], the *local* labels (0..n_classes−1 within the task) and
the global labels, for the train and test subsets. Evaluation protocols:

- ``task`` (task-incremental): the task id is known, prediction = argmax over that task's head;
- ``class`` (class-incremental): prediction = argmax over the concatenated heads of every task seen so far, the
  target is the task's offset + its local label (for Split streams this is the usual 10-way class-IL).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KINDS = ("split", "permuted", "paired")
PROTOCOLS = ("task", "class")


@dataclass
class Task:
    index: int
    classes: list[int]  # global labels of this task, in local-label order
    x_train: torch.Tensor
    y_train: torch.Tensor  # local labels
    x_test: torch.Tensor
    y_test: torch.Tensor
    permutation: torch.Tensor | None = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _subset(y: torch.Tensor, classes: list[int], n: int | None, gen: torch.Generator) -> torch.Tensor:
    """Indices of up to ``n`` examples with labels in ``classes``, class-balanced, random order."""
    per = None if n is None else max(1, n // len(classes))
    idx = []
    for c in classes:
        pool = torch.nonzero(y == c).flatten()
        pool = pool[torch.randperm(len(pool), generator=gen)]
        idx.append(pool if per is None else pool[:per])
    idx = torch.cat(idx)
    return idx[torch.randperm(len(idx), generator=gen)]


def _local(y: torch.Tensor, classes: list[int]) -> torch.Tensor:
    lut = torch.full((int(max(classes)) + 1,), -1, dtype=torch.long)
    lut[torch.tensor(classes)] = torch.arange(len(classes))
    return lut[y]


def class_groups(n_classes: int, n_tasks: int, order: list[int] | None = None) -> list[list[int]]:
    """Split ``n_classes`` labels (in ``order``) into ``n_tasks`` disjoint, equal groups."""
    order = list(range(n_classes)) if order is None else [int(c) for c in order]
    if sorted(order) != list(range(n_classes)):
        raise ValueError("class order must be a permutation of the labels")
    if n_tasks < 1 or n_classes % n_tasks:
        raise ValueError(f"{n_classes} classes do not split into {n_tasks} equal tasks")
    k = n_classes // n_tasks
    return [order[i * k : (i + 1) * k] for i in range(n_tasks)]


def make_stream(
    kind: str,
    data: dict,
    n_tasks: int,
    seed: int,
    n_train: int | None = None,
    n_test: int | None = None,
    class_order: list[int] | None = None,
    identity_first: bool = True,
) -> list[Task]:
    """``data``: {"train": (x uint8 (N,1,28,28), y), "test": (x, y)}. ``n_train``/``n_test``: examples per task."""
    if kind not in KINDS:
        raise ValueError(f"stream kind: one of {KINDS}, got {kind!r}")
    gen = torch.Generator().manual_seed(int(seed))
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    xtr = xtr.reshape(len(xtr), -1).float() / 255.0
    xte = xte.reshape(len(xte), -1).float() / 255.0
    n_labels = int(ytr.max()) + 1
    tasks = []
    if kind == "split":
        for t, classes in enumerate(class_groups(n_labels, n_tasks, class_order)):
            i_tr, i_te = _subset(ytr, classes, n_train, gen), _subset(yte, classes, n_test, gen)
            tasks.append(
                Task(t, classes, xtr[i_tr], _local(ytr[i_tr], classes), xte[i_te], _local(yte[i_te], classes))
            )
    else:
        classes = list(range(n_labels))
        d = xtr.shape[1]
        perm = None
        for t in range(n_tasks):
            if kind == "permuted" or t % 2 == 0:  # paired: a new pixel permutation every second task
                perm = torch.arange(d) if (t == 0 and identity_first) else torch.randperm(d, generator=gen)
            relabel = torch.arange(n_labels)
            if kind == "paired" and t % 2 == 1:
                relabel = _derangement(n_labels, gen)
            i_tr, i_te = _subset(ytr, classes, n_train, gen), _subset(yte, classes, n_test, gen)
            tasks.append(
                Task(
                    t,
                    classes,
                    xtr[i_tr][:, perm],
                    relabel[ytr[i_tr]],
                    xte[i_te][:, perm],
                    relabel[yte[i_te]],
                    permutation=perm,
                )
            )
    return tasks


def _derangement(n: int, gen: torch.Generator) -> torch.Tensor:
    """A random permutation of 0..n-1 that moves every label."""
    while True:
        p = torch.randperm(n, generator=gen)
        if bool((p != torch.arange(n)).all()):
            return p


def head_offsets(tasks: list[Task]) -> list[int]:
    """Offset of each task's head in the concatenated (class-incremental) output."""
    out, acc = [], 0
    for t in tasks:
        out.append(acc)
        acc += t.n_classes
    return out


def predict(logits_per_head: list[torch.Tensor], task: int, protocol: str) -> torch.Tensor:
    """Predictions in the protocol's label space: ``task`` → local labels of head ``task``; ``class`` → indices
    into the concatenation of heads 0..len(logits_per_head)−1 (the heads seen so far)."""
    if protocol == "task":
        return logits_per_head[task].argmax(1)
    if protocol == "class":
        return torch.cat(logits_per_head, 1).argmax(1)
    raise ValueError(f"protocol: one of {PROTOCOLS}, got {protocol!r}")
