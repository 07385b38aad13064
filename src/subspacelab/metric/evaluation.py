"""ADSL's evaluation (lib/utils.py ``evaluate``): NMI of a k-means clustering of the embeddings with k = number of
classes, and Recall@k of the test images among the other test images (self excluded): the share of queries with
at least one same-class image among their k nearest neighbours (R@1 is pytorch-metric-learning's
``precision_at_1``; for k > 1 it is not its precision@k)."""

from __future__ import annotations

import torch
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score


def recall_at_k(x: torch.Tensor, labels: torch.Tensor, ks=(1, 2, 4, 8)) -> dict[int, float]:
    d = torch.cdist(x.double(), x.double())
    d.fill_diagonal_(float("inf"))
    nearest = torch.topk(d, max(ks), dim=1, largest=False).indices
    hit = labels[nearest] == labels.unsqueeze(1)
    return {k: float(hit[:, :k].any(1).double().mean()) for k in ks}


def nmi_kmeans(x: torch.Tensor, labels: torch.Tensor, seed: int, n_init: int = 3) -> float:
    k = len(torch.unique(labels))
    assigned = KMeans(k, n_init=n_init, random_state=seed % 2**32).fit_predict(x.double().numpy())
    return float(normalized_mutual_info_score(labels.numpy(), assigned))


def score_embedding(x: torch.Tensor, labels: torch.Tensor, seed: int) -> dict[str, float]:
    out = {"nmi": nmi_kmeans(x, labels, seed)}
    out.update({f"recall@{k}": v for k, v in recall_at_k(x, labels).items()})
    return out


__all__ = ["nmi_kmeans", "recall_at_k", "score_embedding"]
