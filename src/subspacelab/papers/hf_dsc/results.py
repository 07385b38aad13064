"""Reading the HF-DSC runs' metrics (a row is a run's metrics.json; the run's config is under "experiment"):
per-seed and seed-mean scores of HF-DSC's read-outs, of DSC-Net and of the label-tuned linear methods."""

from __future__ import annotations

import statistics
from collections import defaultdict

from subspacelab.clustering import images

LABELS = {
    "hf_dsc": "HF-DSC (self-stopped)",
    "dscnet": "DSC-Net",
    "lsr": "LSR",
    "ssc": "SSC",
    "ensc": "EnSC",
    "ssc_omp": "SSC-OMP",
    "lrr": "LRR",
    "kmeans": "k-means",
    "spectral": "spectral (kNN)",
}


def runs_of(
    rows: list[dict], method: str, dataset: str | None = None, layers: str | None = None
) -> list[dict]:
    out = []
    for r in rows:
        exp = r.get("experiment") or {}
        if exp.get("method") != method or (dataset and exp.get("dataset") != dataset):
            continue
        if layers and (exp.get("layers") or "all") != layers:
            continue
        out.append(r)
    return out


def datasets_run(rows: list[dict]) -> list[str]:
    seen = {(r.get("experiment") or {}).get("dataset") for r in rows}
    return [d for d in images.DATASETS if d in seen]


def mean(vals: list[float]) -> float | None:
    return statistics.fmean(vals) if vals else None


def hf_seeds(
    rows: list[dict], dataset: str, readout: str = "self_stopped", layers: str = "all", key: str = "acc"
) -> dict[int, float]:
    """seed -> one HF-DSC read-out's score."""
    return {
        int(r.get("seed", 0)): r["readouts"][readout][key]
        for r in runs_of(rows, "hf_dsc", dataset, layers)
        if readout in r.get("readouts", {})
    }


def hf_value(
    rows: list[dict], dataset: str, readout: str = "self_stopped", layers: str = "all", key: str = "acc"
):
    """Seed mean of one HF-DSC read-out's score (None when not run)."""
    return mean(list(hf_seeds(rows, dataset, readout, layers, key).values()))


def oracle_value(rows: list[dict], dataset: str, key: str = "acc"):
    rs = [r for r in runs_of(rows, "hf_dsc", dataset, "all") if r.get("oracle")]
    return mean([r["oracle"][key] for r in rs])


def linear_seeds(rows: list[dict], dataset: str) -> dict[str, dict[int, float]]:
    """method -> {seed: label-tuned ACC (best over its grid and both read-outs)}."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for r in runs_of(rows, "linear", dataset):
        for x in r["results"]:
            seed = int(r.get("seed", 0))
            out[x["method"]][seed] = max(out[x["method"]].get(seed, -1.0), x["acc"])
    return dict(out)


def linear_table(rows: list[dict], dataset: str) -> dict[str, dict]:
    """method -> {"tuned": best-of-grid score (seed mean; max over grid points and read-outs by ACC),
    "default": the first grid point with its own read-out, "best_hp", "best_readout"}."""
    per: dict[str, dict] = defaultdict(
        lambda: {"tuned": defaultdict(list), "default": defaultdict(list), "best": []}
    )
    for r in runs_of(rows, "linear", dataset):
        by_method: dict[str, list[dict]] = defaultdict(list)
        for x in r["results"]:
            by_method[x["method"]].append(x)
        for m, xs in by_method.items():
            best = max(xs, key=lambda x: x["acc"])
            dflt = next(x for x in xs if x["default"] and x["readout"] == "own")
            for key in ("acc", "nmi", "ari"):
                per[m]["tuned"][key].append(best[key])
                per[m]["default"][key].append(dflt[key])
            per[m]["best"].append((best["hyperparameters"], best["readout"]))
    return {
        m: {
            "tuned": {k: mean(v) for k, v in p["tuned"].items()},
            "default": {k: mean(v) for k, v in p["default"].items()},
            "best_hp": p["best"][0][0],
            "best_readout": p["best"][0][1],
        }
        for m, p in per.items()
    }


def dscnet_seeds(rows: list[dict], dataset: str, key: str = "acc") -> dict[int, float]:
    return {int(r.get("seed", 0)): r[key] for r in runs_of(rows, "dscnet", dataset)}


def dscnet_value(rows: list[dict], dataset: str, key: str = "acc"):
    return mean(list(dscnet_seeds(rows, dataset, key).values()))
