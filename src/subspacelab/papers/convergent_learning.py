"""Convergent learning (Li et al., ICLR 2016): do nets trained from different seeds learn the same units?

The nets are ordinary training runs of this paper (``method=full``); ``analyze`` runs in the evaluate
stage over their checkpoints. For every dataset, layer and pair of nets it records (paper Sec. 3-5):

- one-to-one: the mean correlation of bipartite-matched units (Hungarian on the correlation matrix) and
  of semi-matched units (each unit's best partner), and the fraction of units matched with r > 0.9;
- many-to-many: spectral co-clustering of |C| into groups, and the mean cosine of the principal angles
  between each pair of co-clustered groups (do the groups span the same subspace?);
- one-to-many: a sparse (Lasso) mapping from one net's layer to the other's, R^2 on held-out rows
  against the mean fan-in, for a sweep of L1 strengths (first and last layers, trained pairs only).

The control pairs a trained net with an untrained net of the same architecture, so every number has a
baseline for what correlated inputs alone give.
"""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import torch

NOTES = [
    "Nets: conv32-conv64-fc100 conv nets (not the paper's AlexNet on ImageNet), trained from different seeds "
    "with Adam; activations are post-ReLU outputs over probe test images (and spatial positions for conv layers).",
    "Control: each trained net against an untrained net of the same architecture (seed + control_seed).",
    "Sparse mapping: one sklearn Lasso per target unit on standardised units (the paper trains a 1x1 conv with "
    "L1 decay by SGD); our alphas are not the paper's lambda values.",
]


# ----------------------------------------------------------------------------------------------------
# analysis of trained checkpoints (evaluate stage)
# ----------------------------------------------------------------------------------------------------


def _load_net(overrides: list[str], trained: bool, init_seed: int | None = None):
    """The backbone of a run (trained weights from its model.pt) and its data module."""
    from subspacelab.config import compose
    from subspacelab.pipeline.train import build

    cfg = compose(overrides if init_seed is None else [*overrides, f"seed={init_seed}"])
    dm, module = build(cfg)
    net = module.net
    if trained:
        saved = torch.load(Path(cfg.run_dir) / "model.pt", weights_only=True)
        net.load_state_dict(saved["state"])
    return net.module.eval(), dm, cfg


def _layer_rows(acts: dict[str, torch.Tensor], rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """(samples, units) per layer: conv maps become images x positions, subsampled to the same rows."""
    from subspacelab.analysis import flatten_units

    out = {}
    for name, a in acts.items():
        flat = flatten_units(a) if a.dim() == 4 else a
        out[name] = flat[rows[name]] if name in rows else flat
    return out


def _pair_metrics(x: torch.Tensor, y: torch.Tensor, n_clusters: int, alphas, sparse: bool, seed: int) -> dict:
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


def analyze(rows: list[dict], runs_dir: Path, scale: str) -> list[dict]:
    """One row per (dataset, layer, pair of nets) for trained pairs and trained-vs-untrained controls."""
    from omegaconf import OmegaConf

    from subspacelab.analysis import capture_activations
    from subspacelab.config import compose

    contract = compose(["paper=convergent_learning", f"scale={scale}"]).paper
    spec = OmegaConf.merge(contract.analysis, contract.scales[scale].get("analysis") or {})
    layers = dict(spec.layers)
    first, last = list(layers)[0], list(layers)[-1]
    out: list[dict] = []
    for data in sorted({r["data"] for r in rows}):
        runs = sorted((r for r in rows if r["data"] == data), key=lambda r: r["seed"])
        if len(runs) < 2:
            continue
        base = ["paper=convergent_learning", f"scale={scale}", f"data={data}",
                f"runs_root={Path(runs_dir).parents[1]}"]
        acts, probe = {}, None
        for r in runs:
            net, dm, _ = _load_net([*base, f"seed={r['seed']}"], trained=True)
            if probe is None:
                dm.setup()
                probe = dm.test_set.x[: int(spec.probe_images)].float().div(255.0)
            acts[("trained", r["seed"])] = capture_activations(net, list(layers.values()), [probe])
            net, _, _ = _load_net([*base, f"seed={r['seed']}"], trained=False,
                                  init_seed=int(spec.control_seed) + r["seed"])
            acts[("untrained", r["seed"])] = capture_activations(net, list(layers.values()), [probe])
        gen = torch.Generator().manual_seed(0)
        sample = next(iter(acts.values()))
        keep = {}
        for name, module_name in layers.items():
            a = sample[module_name]
            n = a.shape[0] * (a.shape[2] * a.shape[3] if a.dim() == 4 else 1)
            if n > int(spec.max_rows):
                keep[name] = torch.randperm(n, generator=gen)[: int(spec.max_rows)].sort().values
        named = {key: _layer_rows({n: a[m] for n, m in layers.items()}, keep) for key, a in acts.items()}
        seeds = [r["seed"] for r in runs]
        pairs = [("trained", a, "trained", b) for a, b in itertools.combinations(seeds, 2)]
        pairs += [("trained", s, "untrained", s) for s in seeds]
        for ka, sa, kb, sb in pairs:
            for layer in layers:
                m = _pair_metrics(named[(ka, sa)][layer].double(), named[(kb, sb)][layer].double(),
                                  int(spec.n_clusters), list(spec.lasso_alphas),
                                  sparse=layer in (first, last) and kb == "trained",
                                  seed=sa * 100 + sb)
                out.append({"kind": "analysis", "data": data, "layer": layer, "pair": f"{ka}{sa}-{kb}{sb}",
                            "control": kb == "untrained", **m})
    return out


# ----------------------------------------------------------------------------------------------------
# derive rules
# ----------------------------------------------------------------------------------------------------


def _analysis(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "analysis"]


def _mean(rows: list[dict], key: str, **select) -> float | None:
    vals = [r[key] for r in rows if all(r.get(k) == v for k, v in select.items()) and not math.isnan(r[key])]
    return statistics.fmean(vals) if vals else None


def _no_analysis():
    return {}, "not_run", "no analysis rows (fewer than two trained nets per dataset)"


def _first_layer(claim: dict, rows: list[dict]):
    dv, a = claim["derive"], _analysis(rows)
    if not a:
        return _no_analysis()
    per, strong, above = {}, True, True
    for data in sorted({r["data"] for r in a}):
        m = _mean(a, "matched_r", data=data, layer=dv["layer"], control=False)
        c = _mean(a, "matched_r", data=data, layer=dv["layer"], control=True)
        frac = _mean(a, "frac_matched_above_0.9", data=data, layer=dv["layer"], control=False)
        per[data] = {"matched_r": m, "control_r": c, "frac_above_0.9": frac}
        strong &= m >= dv["min_matched_r"] and m >= c + dv["min_margin_over_control"]
        above &= m > c
    value = "; ".join(f"{d}: r {v['matched_r']:.3f} vs control {v['control_r']:.3f} "
                      f"({v['frac_above_0.9']:.0%} of units > 0.9)" for d, v in per.items())
    return {"value": value, **per}, "reproduced" if strong else "partly" if above else "not_reproduced", ""


def _deeper_less(claim: dict, rows: list[dict]):
    dv, a = claim["derive"], _analysis(rows)
    if not a:
        return _no_analysis()
    trained = [r for r in a if not r["control"]]
    every, on_average, parts = True, True, []
    for data in sorted({r["data"] for r in trained}):
        for pair in sorted({r["pair"] for r in trained if r["data"] == data}):
            r_first = _mean(trained, "matched_r", data=data, pair=pair, layer=dv["first"])
            every &= all(r_first > _mean(trained, "matched_r", data=data, pair=pair, layer=d) for d in dv["deeper"])
        means = {layer: _mean(trained, "matched_r", data=data, layer=layer) for layer in [dv["first"], *dv["deeper"]]}
        on_average &= all(means[dv["first"]] > means[d] for d in dv["deeper"])
        parts.append(f"{data}: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    verdict = "reproduced" if every else "partly" if on_average else "not_reproduced"
    return {"value": "; ".join(parts)}, verdict, "" if every else "not for every pair of nets"


def _shared_subspaces(claim: dict, rows: list[dict]):
    dv, a = claim["derive"], _analysis(rows)
    if not a:
        return _no_analysis()
    both, one, parts = True, True, []
    for data in sorted({r["data"] for r in a}):
        g = _mean(a, "group_similarity", data=data, layer=dv["layer"], control=False)
        r = _mean(a, "matched_r", data=data, layer=dv["layer"], control=False)
        gc = _mean(a, "group_similarity", data=data, layer=dv["layer"], control=True)
        over_units, over_control = g >= r + dv["min_margin"], g > gc
        both &= over_units and over_control
        one &= over_units or over_control
        parts.append(f"{data} {dv['layer']}: groups {g:.3f} vs matched units {r:.3f}, control groups {gc:.3f}")
    return {"value": "; ".join(parts)}, "reproduced" if both else "partly" if one else "not_reproduced", ""


def _sparse_mapping(claim: dict, rows: list[dict]):
    dv, a = claim["derive"], _analysis(rows)
    if not a:
        return _no_analysis()
    best_fan_in, parts = {}, []
    for data in sorted({r["data"] for r in a}):
        fits = [r["sparse"] for r in a if r["data"] == data and r["layer"] == dv["layer"] and not r["control"]]
        alphas = sorted({f["alpha"] for fit in fits for f in fit})
        curve = {al: (statistics.fmean(f["r2"] for fit in fits for f in fit if f["alpha"] == al),
                      statistics.fmean(f["mean_fan_in"] for fit in fits for f in fit if f["alpha"] == al))
                 for al in alphas}
        dense_r2 = curve[min(alphas)][0]
        ok = [fan for r2, fan in curve.values() if r2 >= dense_r2 - dv["max_r2_drop"]]
        best_fan_in[data] = min(ok)
        parts.append(f"{data}: R2 {dense_r2:.3f} at fan-in {curve[min(alphas)][1]:.1f}; within "
                     f"{dv['max_r2_drop']} of it at fan-in {min(ok):.1f}")
    worst = max(best_fan_in.values())
    verdict = "reproduced" if worst <= dv["max_fan_in"] else "partly" if worst <= 2 * dv["max_fan_in"] else "not_reproduced"
    return {"value": "; ".join(parts)}, verdict, ""


RULES = {
    "cl_first_layer": _first_layer,
    "cl_deeper_less": _deeper_less,
    "cl_shared_subspaces": _shared_subspaces,
    "cl_sparse_mapping": _sparse_mapping,
}


# ----------------------------------------------------------------------------------------------------
# report: a table and a plot
# ----------------------------------------------------------------------------------------------------


def tables(rows: list[dict]) -> str:
    a = _analysis(rows)
    if not a:
        return ""
    lines = ["| data | layer | units | matched r | semi-matched r | > 0.9 | group similarity | control: matched r | "
             "control: group similarity |", "|---|---|---|---|---|---|---|---|---|"]
    for data in sorted({r["data"] for r in a}):
        for layer in dict.fromkeys(r["layer"] for r in a):
            t = [r for r in a if r["data"] == data and r["layer"] == layer and not r["control"]]
            c = [r for r in a if r["data"] == data and r["layer"] == layer and r["control"]]
            if not t:
                continue

            def m(rs, key):
                return statistics.fmean(r[key] for r in rs)

            lines.append(f"| {data} | {layer} | {t[0]['units']} | {m(t, 'matched_r'):.3f} | {m(t, 'semi_matched_r'):.3f} | "
                         f"{m(t, 'frac_matched_above_0.9'):.0%} | {m(t, 'group_similarity'):.3f} | "
                         f"{m(c, 'matched_r'):.3f} | {m(c, 'group_similarity'):.3f} |")
    accs = [r for r in rows if r.get("test_acc") is not None]
    if accs:
        lines += ["", "Test accuracy of the trained nets: " + ", ".join(
            f"{r['data']} seed {r['seed']}: {r['test_acc']:.3f}" for r in sorted(accs, key=lambda r: (r["data"], r["seed"])))]
    return "\n".join(lines)


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = _analysis(rows)
    if not a:
        return []
    datasets = sorted({r["data"] for r in a})
    layers = list(dict.fromkeys(r["layer"] for r in a))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    x = range(len(layers))
    for ax, data in zip(axes[0], datasets, strict=True):
        for key, control, style, label in [
            ("matched_r", False, "o-", "trained pairs: bipartite-matched r"),
            ("semi_matched_r", False, "s--", "trained pairs: semi-matched r"),
            ("group_similarity", False, "^-", "trained pairs: co-clustered groups (mean cos angle)"),
            ("matched_r", True, "o:", "control (trained vs untrained): matched r"),
            ("group_similarity", True, "^:", "control: groups"),
        ]:
            ys = [_mean(a, key, data=data, layer=layer, control=control) for layer in layers]
            ax.plot(list(x), ys, style, label=label)
        ax.set_xticks(list(x), layers)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{data}: units vs subspaces across nets")
        ax.set_ylabel("correlation / mean cosine")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    out = Path(out_dir) / "convergent_learning_layers.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return [out]
