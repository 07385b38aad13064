"""ULSAM (Saini et al., WACV 2020): cost analysis, derive rules, table and plots.

The runs are classification runs of a 32x32 MobileNet in three variants (``model.ulsam``: ``none``, ``insert``,
``replace``). ``analyze`` (evaluate stage) counts parameters and multiply-adds of every variant of the nets the
contract lists (``analysis.cost_nets``), trained or not, with ``torch.utils.flop_counter``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

VARIANTS = ("none", "insert", "replace")
LABELS = {"none": "baseline", "insert": "+ULSAM (inserted)", "replace": "ULSAM-compact (replacing blocks)"}
NET_LABELS = {"mobilenet_v1": "MobileNet-V1", "mobilenet_v2": "MobileNet-V2"}

NOTES = [
    "The paper trains on ImageNet-1K and fine-grained datasets; here MobileNet-V1 at width 0.5 trains for 4 epochs "
    "on 20k images of the CIFAR-10 stand-in (no augmentation), three seeds per variant. MobileNet-V2 is counted "
    "(parameters, FLOPs) but trained only at the paper scale: its depthwise stages run at ~80 images/s on 2 cores.",
    "Where ULSAM goes is ours: the official repository has only the module. 'insert' adds it after the last three "
    "blocks; 'replace' puts it in place of two repeated shape-preserving blocks (V1: 10-11, V2: 15-16).",
    "FLOPs are torch.utils.flop_counter's count of convolutions and matrix products, reported as multiply-adds "
    "(MACs); BatchNorm, activations, pooling and ULSAM's softmax are not counted (they are elementwise), as in "
    "the usual MobileNet FLOP tables.",
]


def variant_of(row: dict) -> str:
    tag = str(row.get("model", ""))
    for v in VARIANTS:
        if tag.endswith(f"-{v}"):
            return v
    raise ValueError(f"not an ULSAM-paper model tag: {tag!r}")


def _runs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") != "analysis" and r.get("test_acc") is not None]


def _costs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "analysis"]


def analyze(rows: list[dict], runs_dir: Path, scale: str) -> list[dict]:
    """Parameters and MACs of each variant of each net in ``analysis.cost_nets``."""
    from omegaconf import OmegaConf

    from subspacelab.analysis.flops import count_macs, count_parameters
    from subspacelab.config import compose
    from subspacelab.models import build_model

    contract = compose(["paper=ulsam", f"scale={scale}"]).paper
    spec = OmegaConf.merge(contract.analysis, contract.scales[scale].get("analysis") or {})
    shape = tuple(int(s) for s in spec.input_shape)
    out = []
    for net in spec.cost_nets:
        for variant in VARIANTS:
            model = build_model(str(net.arch), seed=0, in_shape=shape, num_classes=10,
                                width_mult=float(net.width_mult), ulsam=variant)
            out.append({"kind": "analysis", "arch": str(net.arch), "width_mult": float(net.width_mult),
                        "ulsam": variant, "parameters": count_parameters(model),
                        "macs": count_macs(model, (1, *shape)), "input_shape": list(shape)})
    return out


# -- claims ----------------------------------------------------------------------------------------------------

def _cost_table(rows: list[dict]) -> dict[tuple[str, float], dict[str, dict]]:
    table: dict[tuple[str, float], dict[str, dict]] = {}
    for r in _costs(rows):
        table.setdefault((r["arch"], r["width_mult"]), {})[r["ulsam"]] = r
    return table


def _change(new: float, old: float) -> float:
    return new / old - 1


def _cost(claim: dict, rows: list[dict]):
    dv = claim["derive"]
    variants = _cost_table(rows).get((dv["arch"], float(dv["width_mult"])))
    if not variants or not {"none", "replace"} <= set(variants):
        return {"value": None}, "not_run", f"no cost count of {dv['arch']} at width {dv['width_mult']}"
    base, compact = variants["none"], variants["replace"]
    dp, dm = _change(compact["parameters"], base["parameters"]), _change(compact["macs"], base["macs"])
    verdict = "reproduced" if -dp >= float(dv["min_param_cut"]) and -dm >= float(dv["min_flop_cut"]) \
        else "partly" if dp < 0 and dm < 0 else "not_reproduced"
    value = (f"{NET_LABELS.get(dv['arch'], dv['arch'])} x{dv['width_mult']}: parameters {dp:+.1%} "
             f"({base['parameters']:,} -> {compact['parameters']:,}), MACs {dm:+.1%} "
             f"({base['macs'] / 1e6:.1f}M -> {compact['macs'] / 1e6:.1f}M at 32x32)")
    return {"value": value, "parameters_change": dp, "macs_change": dm}, verdict, \
        "counted (torch.utils.flop_counter), not trained; the cut depends on which blocks ULSAM replaces"


def _overhead(claim: dict, rows: list[dict]):
    dv = claim["derive"]
    worst, parts = 0.0, []
    for (arch, width), variants in sorted(_cost_table(rows).items()):
        if not {"none", "insert"} <= set(variants):
            continue
        dp = _change(variants["insert"]["parameters"], variants["none"]["parameters"])
        dm = _change(variants["insert"]["macs"], variants["none"]["macs"])
        worst = max(worst, dp, dm)
        parts.append(f"{NET_LABELS.get(arch, arch)} x{width}: parameters {dp:+.2%}, MACs {dm:+.2%}")
    if not parts:
        return {"value": None}, "not_run", "no cost count of an inserted variant"
    verdict = "reproduced" if worst <= float(dv["reproduced"]) else "partly" if worst <= float(dv["partly"]) \
        else "not_reproduced"
    return {"value": "; ".join(parts), "max_increase": worst}, verdict, "three ULSAM modules, g = 4"


def _accuracy(claim: dict, rows: list[dict]):
    dv = claim["derive"]
    variant = dv["variant"]
    runs = _runs(rows)
    by_variant = {v: [r["test_acc"] for r in runs if variant_of(r) == v] for v in ("none", variant)}
    if not all(by_variant.values()):
        return {"value": None}, "not_run", f"needs baseline and {variant} runs"
    base, new = statistics.fmean(by_variant["none"]), statistics.fmean(by_variant[variant])
    gap = new - base
    strict = variant == "insert"
    ok = gap > 0 if strict else gap >= 0
    verdict = "reproduced" if ok else "partly" if gap >= -float(dv["partly_within"]) else "not_reproduced"
    sd = statistics.stdev(by_variant["none"]) if len(by_variant["none"]) > 1 else None
    arch = runs[0]["model"].rsplit("-", 1)[0]
    spread = f"; baseline seed sd {sd:.2%}" if sd is not None else ""
    value = (f"{LABELS[variant]} {new:.2%} vs baseline {base:.2%} ({gap:+.2%}{spread}; "
             f"{len(by_variant[variant])} vs {len(by_variant['none'])} seeds, {arch})")
    return {"value": value, "gap": gap, "baseline_sd": sd}, verdict, "test accuracy, mean over seeds"


RULES = {"ulsam_cost": _cost, "ulsam_overhead": _overhead, "ulsam_accuracy": _accuracy}


# -- report ----------------------------------------------------------------------------------------------------

def tables(rows: list[dict]) -> str:
    lines = []
    runs = _runs(rows)
    if runs:
        lines += ["| trained net | variant | seeds | test acc (%) | parameters |", "|---|---|---|---|---|"]
        for v in VARIANTS:
            rs = [r for r in runs if variant_of(r) == v]
            if rs:
                acc = [100 * r["test_acc"] for r in rs]
                sd = f" ± {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
                lines.append(f"| {rs[0]['model']} | {LABELS[v]} | {len(rs)} | {statistics.fmean(acc):.2f}{sd} | "
                             f"{rs[0]['D']:,} |")
    costs = _cost_table(rows)
    if costs:
        lines += ["", "| net (32x32 input) | variant | parameters | change | MACs | change |", "|---|---|---|---|---|---|"]
        for (arch, width), variants in sorted(costs.items()):
            base = variants.get("none")
            for v in VARIANTS:
                if v not in variants:
                    continue
                r = variants[v]
                dp = f"{_change(r['parameters'], base['parameters']):+.1%}" if base and v != "none" else ""
                dm = f"{_change(r['macs'], base['macs']):+.1%}" if base and v != "none" else ""
                lines.append(f"| {NET_LABELS.get(arch, arch)} x{width} | {LABELS[v]} | {r['parameters']:,} | {dp} | "
                             f"{r['macs'] / 1e6:.1f}M | {dm} |")
    return "\n".join(lines)


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, costs = _runs(rows), _cost_table(rows)
    if not runs and not costs:
        return []
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2))
    colors = {"none": "tab:blue", "insert": "tab:green", "replace": "tab:red"}
    for i, v in enumerate(VARIANTS):
        acc = [100 * r["test_acc"] for r in runs if variant_of(r) == v]
        if acc:
            ax.bar(i, statistics.fmean(acc), 0.6, color=colors[v], alpha=0.8)
            ax.plot([i] * len(acc), acc, "k.", ms=6)
    if runs:
        all_acc = [100 * r["test_acc"] for r in runs]
        ax.set_ylim(min(all_acc) - 3, max(all_acc) + 2)
        ax.set_title(f"{runs[0]['model'].rsplit('-', 1)[0]}: test accuracy (dots: seeds)")
    ax.set_xticks(range(len(VARIANTS)), [LABELS[v] for v in VARIANTS], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    for (arch, width), variants in sorted(costs.items()):
        pts = [(variants[v]["parameters"] / 1e6, variants[v]["macs"] / 1e6, v) for v in VARIANTS if v in variants]
        bx.plot([p for p, _, _ in pts], [m for _, m, _ in pts], "k-", alpha=0.3)
        for p, m, v in pts:
            bx.scatter(p, m, color=colors[v], s=40, zorder=3, label=LABELS[v] if (arch, width) == min(costs) else None)
        bx.annotate(f"{NET_LABELS.get(arch, arch)} x{width}", (pts[0][0], pts[0][1]), fontsize=8,
                    textcoords="offset points", xytext=(4, 4))
    bx.set_xlabel("parameters (M)")
    bx.set_ylabel("MACs at 32x32 (M)")
    bx.set_title("Cost of each variant (counted)")
    bx.grid(alpha=0.3)
    bx.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out_dir) / "ulsam.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [out]
