"""Grassmann class representation (Wang, Li & Zhang, ICCV 2023): analysis, derive rules, table and plots.

The runs are ordinary classification runs of one small ResNet with three heads (``model=softmax_resnet``,
``cosine_resnet``, ``gcr_resnet`` with ``model.k``) on five source classes. ``analyze`` (evaluate stage) loads
every trained net and measures, on its frozen global-pooled features,

* linear transfer: logistic regression (scikit-learn, C chosen on a held-out fifth of the transfer training
  images) to the held-out classes of the same dataset; accuracy on their test images;
* intra-class variability (``models.gcr.intra_class_variability``) on source test images.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

HEADS = ("softmax", "cosine", "gcr")
LABELS = {"softmax": "softmax", "cosine": "cosine softmax", "gcr": "GCR"}
DATA_LABELS = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10 (stand-in)"}

NOTES = [
    "Scale: a ResNet-8 (64-d features) trained for 3 epochs on 12k (Fashion-MNIST) or 20k (CIFAR) images of five classes (0-4), not a "
    "ResNet50-D on ImageNet for 100 epochs; linear transfer goes to the five held-out classes (5-9) of the same "
    "dataset, not to the paper's six other datasets.",
    "Every head trains with the same optimizer and schedule (the official ResNet50-D recipe: SGD lr 0.1, momentum "
    "0.9, weight decay 1e-4, cosine to 0); the class subspaces take geodesic steps (no weight decay, QR every 5 "
    "steps), as in innerlee/gcr. Nothing was tuned per head.",
    "No data augmentation (the paper uses random resized crops and flips).",
]

_TAG = re.compile(r"-(softmax|cosine|gcr)(\d+)?$")


def head_of(row: dict) -> tuple[str, int | None]:
    """(head, k) from a run's model tag, e.g. ``resnet8-gcr8`` -> ("gcr", 8)."""
    m = _TAG.search(str(row.get("model", "")))
    if not m:
        raise ValueError(f"not a GCR-paper model tag: {row.get('model')!r}")
    return m.group(1), int(m.group(2)) if m.group(2) else None


def _runs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") != "analysis" and r.get("test_acc") is not None]


def _analysis(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "analysis"]


def _features(net, images, batch: int = 1000):
    import torch

    with torch.no_grad():
        return torch.cat([net.features(images[i:i + batch].float().div(255.0)) for i in range(0, len(images), batch)])


def linear_probe(train_x, train_y, test_x, test_y, cs, seed: int = 0) -> tuple[float, float]:
    """Test accuracy of a logistic regression on standardised features and the C it used: C picked on the
    last fifth of a seeded shuffle of the training set, then refit on all of it."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(c, x, y):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(x, y)

    order = np.random.default_rng(seed).permutation(len(train_y))
    cut = len(order) * 4 // 5
    fit_idx, val_idx = order[:cut], order[cut:]
    scores = [fit(c, train_x[fit_idx], train_y[fit_idx]).score(train_x[val_idx], train_y[val_idx]) for c in cs]
    best = float(cs[int(np.argmax(scores))])
    return float(fit(best, train_x, train_y).score(test_x, test_y)), best


def analyze(rows: list[dict], runs_dir: Path, scale: str) -> list[dict]:
    """Transfer accuracy and intra-class variability of every trained net."""
    import torch
    from omegaconf import OmegaConf

    from subspacelab.config import compose
    from subspacelab.data import VisionDataModule
    from subspacelab.models.gcr import intra_class_variability
    from subspacelab.pipeline.plan import plan
    from subspacelab.pipeline.train import build

    contract = compose(["paper=gcr", f"scale={scale}"]).paper
    spec = OmegaConf.merge(contract.analysis, contract.scales[scale].get("analysis") or {})
    runs_root = f"runs_root={Path(runs_dir).parents[1]}"
    configs = {}
    for p in plan("gcr", scale):
        cfg = compose([*p.overrides, runs_root])
        configs[cfg.run_name] = cfg
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    data_cache: dict[str, tuple] = {}
    out = []
    try:
        for r in sorted(_runs(rows), key=lambda r: r["run_name"]):
            cfg = configs[r["run_name"]]
            _, module = build(cfg)
            module.net.load_state_dict(torch.load(Path(cfg.run_dir) / "model.pt", weights_only=True)["state"])
            net = module.net.module.eval()
            d = cfg.data
            if d.name not in data_cache:
                common = {k: d[k] for k in ("name", "root", "mirror", "val_size", "split_seed")}
                source = VisionDataModule(**common, classes=list(d.classes) if d.classes else None,
                                          test_size=int(spec.variability_images))
                target = VisionDataModule(**common, classes=list(spec.transfer_classes),
                                          train_size=int(spec.transfer_train), test_size=int(spec.transfer_test))
                source.setup()
                target.setup()
                data_cache[d.name] = (source.test_set, target.train_set, target.test_set)
            source_test, target_train, target_test = data_cache[d.name]
            variability = intra_class_variability(_features(net, source_test.x), source_test.y)
            acc, c = linear_probe(_features(net, target_train.x).numpy(), target_train.y.numpy(),
                                  _features(net, target_test.x).numpy(), target_test.y.numpy(),
                                  [float(x) for x in spec.transfer_c], seed=int(r["seed"]))
            head, k = head_of(r)
            out.append({"kind": "analysis", "run_name": r["run_name"], "data": r["data"], "head": head, "k": k,
                        "seed": r["seed"], "transfer_acc": acc, "transfer_c": c, "variability": variability})
    finally:
        torch.set_num_threads(threads)
    return out


# -- claims ----------------------------------------------------------------------------------------------------

def _mean_by(rows: list[dict], key: str, data: str, head: str, k: int | None = None) -> float | None:
    vals = [r[key] for r in rows if r["data"] == data and r["_head"] == head and (k is None or r["_k"] == k)]
    return statistics.fmean(vals) if vals else None


def _tagged(rows: list[dict], analysis: bool) -> list[dict]:
    chosen = _analysis(rows) if analysis else _runs(rows)
    out = []
    for r in chosen:
        head, k = (r["head"], r["k"]) if analysis else head_of(r)
        out.append({**r, "_head": head, "_k": k})
    return out


def _datasets(rows: list[dict]) -> list[str]:
    return sorted({r["data"] for r in rows})


def _gcr_vs_softmax(rows: list[dict], key: str, k: int) -> dict[str, tuple[float, float]]:
    pairs = {}
    for data in _datasets(rows):
        g, s = _mean_by(rows, key, data, "gcr", k), _mean_by(rows, key, data, "softmax")
        if g is not None and s is not None:
            pairs[data] = (g, s)
    return pairs


def _fmt_pairs(pairs: dict[str, tuple[float, float]], what: str) -> str:
    return "; ".join(f"{DATA_LABELS.get(d, d)}: GCR {g:.2%} vs softmax {s:.2%} ({g - s:+.2%})"
                     for d, (g, s) in pairs.items()) + f" ({what}, mean over seeds)"


def _accuracy(claim: dict, rows: list[dict]):
    dv = claim["derive"]
    pairs = _gcr_vs_softmax(_tagged(rows, analysis=False), "test_acc", int(dv["k"]))
    if not pairs:
        return {"value": None}, "not_run", "needs softmax and GCR runs on the same dataset"
    gaps = [g - s for g, s in pairs.values()]
    verdict = "reproduced" if min(gaps) >= 0 else "partly" if min(gaps) >= -float(dv["partly_within"]) \
        else "not_reproduced"
    return {"value": _fmt_pairs(pairs, "source test accuracy"), "gaps": gaps}, verdict, \
        "same ResNet, optimizer and schedule; only the head differs"


def _transfer(claim: dict, rows: list[dict]):
    pairs = _gcr_vs_softmax(_tagged(rows, analysis=True), "transfer_acc", int(claim["derive"]["k"]))
    if not pairs:
        return {"value": None}, "not_run", "needs the evaluate stage's transfer analysis of softmax and GCR nets"
    wins = sum(g > s for g, s in pairs.values())
    verdict = "reproduced" if wins == len(pairs) else "partly" if wins else "not_reproduced"
    return {"value": _fmt_pairs(pairs, "linear transfer to the held-out classes"),
            "gaps": [g - s for g, s in pairs.values()]}, verdict, \
        "logistic regression on frozen features of classes 5-9"


def _variability(claim: dict, rows: list[dict]):
    ks = [int(k) for k in claim["derive"]["ks"]]
    a = _tagged(rows, analysis=True)
    curves = {}
    for data in _datasets(a):
        means = [_mean_by(a, "variability", data, "gcr", k) for k in ks]
        if all(m is not None for m in means):
            curves[data] = means
    if not curves:
        return {"value": None}, "not_run", f"needs GCR nets with every k in {ks} on one dataset"
    increasing = all(all(b > x for x, b in zip(m, m[1:], strict=False)) for m in curves.values())
    grows = all(m[-1] > m[0] for m in curves.values())
    verdict = "reproduced" if increasing else "partly" if grows else "not_reproduced"
    value = "; ".join(f"{DATA_LABELS.get(d, d)}: " + ", ".join(f"k={k}: {v:.3f}" for k, v in zip(ks, m, strict=True))
                      for d, m in curves.items())
    return {"value": value, "curves": curves}, verdict, "1 - R^2 of the source test features, mean over seeds"


def _k1_cosine(claim: dict, rows: list[dict]):
    within = float(claim["derive"]["within"])
    r = _tagged(rows, analysis=False)
    diffs = {}
    for data in _datasets(r):
        g, c = _mean_by(r, "test_acc", data, "gcr", 1), _mean_by(r, "test_acc", data, "cosine")
        if g is not None and c is not None:
            diffs[data] = (g, c)
    if not diffs:
        return {"value": None}, "not_run", "needs GCR k = 1 and cosine-softmax runs on one dataset"
    worst = max(abs(g - c) for g, c in diffs.values())
    verdict = "reproduced" if worst <= within else "partly" if worst <= 2 * within else "not_reproduced"
    value = "; ".join(f"{DATA_LABELS.get(d, d)}: k=1 {g:.2%} vs cosine {c:.2%}" for d, (g, c) in diffs.items())
    return {"value": value, "max_abs_diff": worst}, verdict, \
        "the logits are equal up to sign (unit test); trained nets differ only by seed noise and that sign"


RULES = {"gcr_accuracy": _accuracy, "gcr_transfer": _transfer, "gcr_variability": _variability,
         "gcr_k1_cosine": _k1_cosine}


# -- report ----------------------------------------------------------------------------------------------------

def _rows_by_variant(rows: list[dict]) -> dict[tuple[str, str, int | None], dict]:
    runs, analysis = _tagged(rows, analysis=False), {r["run_name"]: r for r in _analysis(rows)}
    out: dict[tuple, dict] = {}
    for r in runs:
        v = out.setdefault((r["data"], r["_head"], r["_k"]), {"acc": [], "transfer": [], "variability": []})
        v["acc"].append(r["test_acc"])
        if r["run_name"] in analysis:
            v["transfer"].append(analysis[r["run_name"]]["transfer_acc"])
            v["variability"].append(analysis[r["run_name"]]["variability"])
    return out


def _ms(xs: list[float], pct: bool = True) -> str:
    if not xs:
        return "-"
    f = (lambda x: f"{100 * x:.2f}") if pct else (lambda x: f"{x:.3f}")
    return f(statistics.fmean(xs)) + (f" ± {f(statistics.stdev(xs))}" if len(xs) > 1 else "")


def _order(key: tuple) -> tuple:
    data, head, k = key
    return data, HEADS.index(head), k or 0


def tables(rows: list[dict]) -> str:
    variants = _rows_by_variant(rows)
    if not variants:
        return ""
    lines = ["| dataset | head | k | seeds | source test acc (%) | transfer acc (%) | intra-class variability |",
             "|---|---|---|---|---|---|---|"]
    for key in sorted(variants, key=_order):
        data, head, k = key
        v = variants[key]
        lines.append(f"| {DATA_LABELS.get(data, data)} | {LABELS[head]} | {k or '-'} | {len(v['acc'])} | "
                     f"{_ms(v['acc'])} | {_ms(v['transfer'])} | {_ms(v['variability'], pct=False)} |")
    return "\n".join(lines)


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = _rows_by_variant(rows)
    datasets = sorted({d for d, _, _ in variants})
    if not datasets:
        return []
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.6 * len(datasets)), squeeze=False)
    colors = {"softmax": "tab:blue", "cosine": "tab:orange", "gcr": "tab:red"}
    for row, data in enumerate(datasets):
        ax, bx = axes[row]
        keys = [k for k in sorted(variants, key=_order) if k[0] == data]
        names = [LABELS[h] + (f" k={k}" if k else "") for _, h, k in keys]
        for i, key in enumerate(keys):
            v = variants[key]
            for j, (metric, hatch) in enumerate((("acc", None), ("transfer", "//"))):
                if v[metric]:
                    ax.bar(i + 0.4 * j - 0.2, 100 * statistics.fmean(v[metric]), 0.4, color=colors[key[1]],
                           hatch=hatch, alpha=0.85, label=("source test" if j == 0 else "transfer") if i == 0 else None)
                    ax.plot([i + 0.4 * j - 0.2] * len(v[metric]), [100 * x for x in v[metric]], "k.", ms=4)
        ax.set_xticks(range(len(keys)), names, rotation=30, ha="right", fontsize=8)
        lo = min(100 * x for key in keys for m in ("acc", "transfer") for x in variants[key][m] or [1.0])
        ax.set_ylim(max(0.0, lo - 5), 100)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{DATA_LABELS.get(data, data)}: source (solid) and linear transfer (hatched)")
        ax.grid(alpha=0.3, axis="y")
        gcr = sorted((k, statistics.fmean(v["variability"])) for (d, h, k), v in variants.items()
                     if d == data and h == "gcr" and v["variability"])
        if gcr:
            bx.plot(*zip(*gcr, strict=True), "o-", color=colors["gcr"], label="GCR")
            bx.set_xscale("log", base=2)
            bx.set_xticks([k for k, _ in gcr], [str(k) for k, _ in gcr])
        for head in ("softmax", "cosine"):
            v = variants.get((data, head, None))
            if v and v["variability"]:
                bx.axhline(statistics.fmean(v["variability"]), color=colors[head], ls="--", label=LABELS[head])
        bx.set_xlabel("subspace dimension k")
        bx.set_ylabel("intra-class variability (1 - R²)")
        bx.set_title(f"{DATA_LABELS.get(data, data)}: feature variability")
        bx.grid(alpha=0.3)
        bx.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out_dir) / "gcr.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [out]
