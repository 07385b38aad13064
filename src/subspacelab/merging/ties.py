"""TIES-merging (Yadav et al. 2023) as FusionBench runs it (``ties_merging_utils``): every task vector flattened
into one row over all its tensors,

1. trim: keep in each row of d entries those whose magnitude reaches its (d - floor(d K))-th smallest, K the
   ``top_fraction``: floor(d K) + 1 entries when no magnitudes tie (the TIES code's and FusionBench's count; ties at
   the threshold are all kept), zero the rest;
2. elect: the sign of the column sums of the trimmed rows (the sign of the larger total mass); a column whose sum
   is zero takes the sign most columns elected (the sign of the sum of the signs);
3. disjoint merge: per column, the sum (or mean, or largest magnitude) of the entries that agree with the elected
   sign;

and theta = theta_0 + scale * merged, unflattened back into tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from subspacelab.merging.arithmetic import StateDict, task_vector

MERGES = ("sum", "mean", "max")


def trim(rows: torch.Tensor, top_fraction: float) -> torch.Tensor:
    """Each row (n, d) with only the entries whose magnitude reaches its (d - floor(d K))-th smallest kept."""
    d = rows.shape[1]
    kth = d - int(d * top_fraction)  # the threshold is the kth smallest magnitude
    if kth < 1:
        return rows.clone()
    threshold = rows.abs().kthvalue(kth, dim=1, keepdim=True).values
    return rows * (rows.abs() >= threshold)


def elect_sign(trimmed: torch.Tensor) -> torch.Tensor:
    """(d,) signs: the sign of each column's sum; a zero sum takes the sign most columns elected."""
    signs = torch.sign(trimmed.sum(dim=0))
    signs[signs == 0] = torch.sign(signs.sum())
    return signs


def disjoint_merge(trimmed: torch.Tensor, signs: torch.Tensor, merge: str = "sum") -> torch.Tensor:
    agree = torch.where(signs[None] > 0, trimmed > 0, trimmed < 0)
    kept = trimmed * agree
    if merge == "sum":
        return kept.sum(dim=0)
    if merge == "mean":
        return kept.sum(dim=0) / (kept != 0).sum(dim=0).clamp(min=1)
    if merge == "max":
        return kept.abs().max(dim=0).values * signs
    raise ValueError(f"unknown merge {merge!r}: choose from {', '.join(MERGES)}")


def ties_merge(
    pretrained: StateDict,
    finetuned: Sequence[StateDict],
    scale: float,
    top_fraction: float = 0.2,
    merge: str = "sum",
) -> dict[str, torch.Tensor]:
    """theta_0 + scale * TIES(tau_1, ..., tau_n) (module doc)."""
    names = list(pretrained)
    rows = torch.stack(
        [torch.cat([v[n].flatten() for n in names]) for v in (task_vector(f, pretrained) for f in finetuned)]
    )
    trimmed = trim(rows, top_fraction)
    merged = disjoint_merge(trimmed, elect_sign(trimmed), merge)
    out, start = {}, 0
    for n in names:
        size = pretrained[n].numel()
        out[n] = pretrained[n] + scale * merged[start : start + size].view_as(pretrained[n])
        start += size
    return out
