"""The molr_mog runs as tables: the synthetic rows' errors by (D, n), the MNIST rows' scores, and the image
grids the MNIST run stores (shared by the claims and the figures)."""

from __future__ import annotations

import base64
import statistics

import numpy as np

from subspacelab.papers.molr_mog.experiment import MODELS

LABELS = {"mog": "MoE-latent MoG (paper)", "gaussian": "MoE-latent Gaussian (MoLRG)", "mlp": "MLP score"}
COLORS = {"mog": "tab:blue", "gaussian": "tab:orange", "mlp": "tab:red", "pca_ceiling": "tab:gray"}


def synthetic_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("part") == "synthetic" and "points" in r]


def mnist_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("part") == "mnist"]


def per_seed_table(
    rows: list[dict], model: str, metric: str = "score_error"
) -> dict[int, dict[int, dict[int, float]]]:
    """D -> n -> seed -> ``model``'s ``metric``."""
    vals: dict[int, dict[int, dict[int, float]]] = {}
    key = f"{model}_{metric}"
    for r in synthetic_rows(rows):
        for p in r["points"]:
            if key in p:
                vals.setdefault(int(r["ambient"]), {}).setdefault(int(p["n"]), {})[int(r.get("seed", 0))] = (
                    float(p[key])
                )
    return {D: dict(sorted(byn.items())) for D, byn in sorted(vals.items())}


def error_table(rows: list[dict], model: str, metric: str = "score_error") -> dict[int, dict[int, float]]:
    """D -> n -> median over seeds of ``model``'s ``metric``."""
    return {
        D: {n: statistics.median(s.values()) for n, s in byn.items()}
        for D, byn in per_seed_table(rows, model, metric).items()
    }


def mnist_scores(rows: list[dict], metric: str) -> dict[str, float]:
    """model (and the real_test / pca_ceiling yardsticks) -> mean over the MNIST runs of ``metric``."""
    vals: dict[str, list[float]] = {}
    for r in mnist_rows(rows):
        for m in (*MODELS, "pca_ceiling", "real_test"):
            if m in r and metric in r[m]:
                vals.setdefault(m, []).append(float(r[m][metric]))
    return {m: statistics.fmean(v) for m, v in vals.items()}


def decode_grid(blob: dict) -> np.ndarray:
    """The uint8 image array a run stored with ``experiment._encode_grid``."""
    return np.frombuffer(base64.b64decode(blob["b64"]), dtype=np.uint8).reshape(blob["shape"])


def fmt(v: float) -> str:
    return f"{v:.3g}"
