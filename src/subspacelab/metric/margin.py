"""ADSL's pair mining and the margin loss of Wu et al. (2017) on the mined pairs.

Mining (lib/loss/sampler.py; docs/research/dynamic_subspace_learners.md §2.3): every same-class pair of the batch
is a positive; each anchor takes its n_neg nearest negatives at distance at least ``cutoff``, n_neg being the
mean number of positives per anchor. The loss (lib/loss/margin_loss.py) sums relu(d_ap - β + α) over the positive
pairs and relu(β - d_an + α) over the negative pairs and divides by the number of nonzero terms; β is fixed (the
code never hands it to the optimiser). pytorch-metric-learning's ``MarginLoss`` computes the same on triplets
(tests/metric compare the two); this form takes the positive and negative pairs apart, as ADSL does."""

from __future__ import annotations

import torch
from torch import Tensor


def pairwise_distances(x: Tensor, floor: float = 1e-4) -> Tensor:
    """Euclidean distances between the rows of ``x``, squared distances floored at ``floor`` before the root."""
    sq = (x.unsqueeze(1) - x.unsqueeze(0)).pow(2).sum(-1)
    return sq.clamp_min(floor).sqrt()


@torch.no_grad()
def mine_pairs(x: Tensor, labels: Tensor, cutoff: float = 0.5) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(anchor, positive, anchor, negative) index tensors: all same-class pairs (row order), and per anchor the
    nearest negatives at distance >= ``cutoff``; both lists cut to the shorter one's length."""
    n = len(labels)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    a_pos, pos = torch.nonzero(same & ~eye, as_tuple=True)
    per_anchor = len(a_pos) // n
    if per_anchor == 0:
        empty = a_pos[:0]
        return a_pos, pos, empty, empty
    d = pairwise_distances(x)
    d = (
        d + 1e6 * ((d < cutoff) | same).float()
    )  # same-class items and negatives inside the cutoff: never chosen
    neg = torch.topk(d, per_anchor, dim=1, largest=False).indices.flatten()
    a_neg = torch.arange(n, device=labels.device).repeat_interleave(per_anchor)
    m = min(len(a_pos), len(a_neg))  # as the code: both lists cut to one length when the classes are unequal
    return a_pos[:m], pos[:m], a_neg[:m], neg[:m]


def margin_loss(
    x: Tensor, pairs: tuple[Tensor, Tensor, Tensor, Tensor], margin: float = 0.2, beta: float = 1.2
) -> Tensor:
    """The margin loss on mined (anchor, positive, anchor, negative) pairs: the sum of the positive and
    negative terms over the number of nonzero terms (0 when none is nonzero). ``x`` is L2-normalised first, as in
    the code (and the library): on unit rows a no-op in value, but the gradient is that of the unit vectors."""
    x = torch.nn.functional.normalize(x, dim=-1)
    a_p, p, a_n, n = pairs
    d_ap = ((x[a_p] - x[p]).pow(2).sum(-1) + 1e-8).sqrt()
    d_an = ((x[a_n] - x[n]).pow(2).sum(-1) + 1e-8).sqrt()
    pos = torch.relu(d_ap - beta + margin)
    neg = torch.relu(beta - d_an + margin)
    active = (pos > 0).sum() + (neg > 0).sum()
    return (pos.sum() + neg.sum()) / active.clamp_min(1)
