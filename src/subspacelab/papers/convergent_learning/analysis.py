"""The comparison of trained nets (evaluate stage), over the runs' checkpoints.

For every dataset, layer and pair of nets (paper Sec. 3-5):

- one-to-one: the mean correlation of bipartite-matched units (Hungarian on the correlation matrix) and
  of semi-matched units (each unit's best partner), and the fraction of units matched with r > 0.9;
- many-to-many: spectral co-clustering of |C| into groups, and the mean cosine of the principal angles
  between each pair of co-clustered groups (do the groups span the same subspace?);
- one-to-many: a sparse (Lasso) mapping from one net's layer to the other's, R^2 on held-out rows
  against the mean fan-in, for a sweep of L1 strengths (first and last layers, trained pairs only).

The control pairs each trained net with an untrained net of the same architecture (initialised from
``control_seed + seed``), so every number has a baseline for what correlated inputs alone give.
"""

from __future__ import annotations

import itertools
import statistics

import torch


def _layer_rows(acts: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """(samples, units) per layer: conv maps become images x positions, subsampled to the same rows."""
    from subspacelab.analysis import flatten_units

    out = {}
    for name, a in acts.items():
        flat = flatten_units(a) if a.dim() == 4 else a
        out[name] = flat[rows[name]] if name in rows else flat
    return out


def pair_metrics(x: torch.Tensor, y: torch.Tensor, n_clusters: int, alphas, sparse: bool, seed: int) -> dict:
    """The one-to-one, many-to-many and (with ``sparse``) one-to-many measures of two layers' units."""
    from subspacelab.analysis import (
        bipartite_match,
        cocluster_units,
        group_principal_angles,
        semi_match,
        sparse_prediction,
        unit_correlation,
    )

    corr = unit_correlation(x, y)
    bip, semi = bipartite_match(corr), semi_match(corr)
    k = max(2, min(n_clusters, x.shape[1] // 2, y.shape[1] // 2))
    la, lb = cocluster_units(corr, k, seed=seed)
    angles = group_principal_angles(x, y, la, lb)
    cosines = [float(torch.cos(a).mean()) for a in angles.values() if a.numel()]
    out = {
        "matched_r": bip.mean,
        "semi_matched_r": semi.mean,
        "frac_matched_above_0.9": float((bip.corr > 0.9).double().mean()),
        "group_similarity": statistics.fmean(cosines) if cosines else float("nan"),
        "n_groups": len(cosines),
        "units": int(x.shape[1]),
    }
    if sparse:
        half = x.shape[0] // 2  # fit on one half of the rows, score on the other
        fits = sparse_prediction(x[:half], y[:half], alphas, x_eval=x[half:], y_eval=y[half:])
        out["sparse"] = [{"alpha": f.alpha, "r2": f.r2, "mean_fan_in": f.mean_fan_in} for f in fits]
    return out


def _backbone(module) -> torch.nn.Module:
    return module.net.module.eval()


def analyze(ctx) -> list[dict]:
    """One row per (dataset, layer, pair of nets) for trained pairs and trained-vs-untrained controls."""
    from subspacelab.analysis import capture_activations

    spec = ctx.spec
    layers = dict(spec["layers"])
    first, last = list(layers)[0], list(layers)[-1]
    out: list[dict] = []
    for data in sorted({r.metrics["data"] for r in ctx.runs}):
        runs = sorted((r for r in ctx.runs if r.metrics["data"] == data), key=lambda r: r.metrics["seed"])
        if len(runs) < 2:
            continue
        acts, probe = {}, None
        for run in runs:
            seed = run.metrics["seed"]
            dm, module = run.load_trained()
            if probe is None:
                dm.setup()
                probe = dm.test_set.x[: int(spec["probe_images"])].float().div(255.0)
            acts[("trained", seed)] = capture_activations(_backbone(module), list(layers.values()), [probe])
            _, module = run.build(seed=int(spec["control_seed"]) + seed)
            acts[("untrained", seed)] = capture_activations(_backbone(module), list(layers.values()), [probe])
        gen = torch.Generator().manual_seed(0)
        sample = next(iter(acts.values()))
        keep = {}
        for name, module_name in layers.items():
            a = sample[module_name]
            n = a.shape[0] * (a.shape[2] * a.shape[3] if a.dim() == 4 else 1)
            if n > int(spec["max_rows"]):
                keep[name] = torch.randperm(n, generator=gen)[: int(spec["max_rows"])].sort().values
        named = {key: _layer_rows({n: a[m] for n, m in layers.items()}, keep) for key, a in acts.items()}
        seeds = [r.metrics["seed"] for r in runs]
        pairs = [("trained", a, "trained", b) for a, b in itertools.combinations(seeds, 2)]
        pairs += [("trained", s, "untrained", s) for s in seeds]
        for ka, sa, kb, sb in pairs:
            for layer in layers:
                m = pair_metrics(
                    named[(ka, sa)][layer].double(),
                    named[(kb, sb)][layer].double(),
                    int(spec["n_clusters"]),
                    list(spec["lasso_alphas"]),
                    sparse=layer in (first, last) and kb == "trained",
                    seed=sa * 100 + sb,
                )
                out.append(
                    {
                        "kind": "analysis",
                        "data": data,
                        "layer": layer,
                        "pair": f"{ka}{sa}-{kb}{sb}",
                        "control": kb == "untrained",
                        **m,
                    }
                )
    return out
