"""What a multi-view representation looks like and how well it classifies.

- ``manifold_geometry``: for the L2-normalised embeddings of N views of B images, the centroid matrix's nuclear
  norm and effective rank, the mean |cosine| between different images' centroids, and each image's view
  manifold: its radius (root-mean-square distance of the views to their centroid) and its participation-ratio
  dimension (Σλ)² / Σλ² of the views' covariance. Our definitions: the MMCR paper's own measures were not read.
- ``knn_accuracy``: the weighted kNN classifier the MMCR code monitors (after the Barlow-Twins-HSIC code): cosine
  similarity to every bank feature, the k most similar vote with weight exp(similarity / T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from subspacelab.lowrank.measure import effective_rank


def manifold_geometry(z: Tensor) -> dict[str, float]:
    if z.dim() != 3 or z.shape[1] < 2:
        raise ValueError(f"manifold_geometry: z must be (images, views >= 2, dim), got {tuple(z.shape)}")
    z = F.normalize(z.double(), dim=-1)
    c = z.mean(1)  # (B, d)
    spread = z - c[:, None]
    radius = spread.pow(2).sum(-1).mean(1).sqrt()  # (B,)
    cov = spread.transpose(1, 2) @ spread / z.shape[1]  # (B, d, d)
    lam = torch.linalg.eigvalsh(cov).clamp_min(0)
    dim = lam.sum(-1) ** 2 / lam.pow(2).sum(-1).clamp_min(1e-300)
    cos = F.normalize(c, dim=-1) @ F.normalize(c, dim=-1).T
    off = ~torch.eye(len(c), dtype=torch.bool)
    return {
        "centroid_nuclear_norm": float(torch.linalg.svdvals(c).sum()),
        "centroid_effective_rank": effective_rank(c),
        "centroid_norm": float(c.norm(dim=-1).mean()),
        "centroid_abs_cosine": float(cos[off].abs().mean()) if len(c) > 1 else 0.0,
        "radius": float(radius.mean()),
        "dimension": float(dim.mean()),
    }


def knn_accuracy(
    bank: Tensor,
    bank_labels: Tensor,
    query: Tensor,
    query_labels: Tensor,
    k: int = 200,
    temperature: float = 0.5,
    chunk: int = 1024,
) -> float:
    """Accuracy of the weighted kNN vote (module doc); ties between classes go to the lower label. Queries are
    scored ``chunk`` at a time."""
    if not 1 <= k <= len(bank):
        raise ValueError(f"knn_accuracy: need 1 <= k <= {len(bank)} bank rows, got k={k}")
    bank = F.normalize(bank.double(), dim=-1)
    votes = torch.zeros(len(query), int(bank_labels.max()) + 1, dtype=torch.float64)
    for start in range(0, len(query), chunk):  # ``chunk`` queries at a time: all at once can take GBs
        part = slice(start, start + chunk)
        top, idx = (F.normalize(query[part].double(), dim=-1) @ bank.T).topk(k, dim=1)
        votes[part].scatter_add_(1, bank_labels[idx], (top / temperature).exp())
    return float(votes.argmax(1).eq(query_labels).double().mean())
