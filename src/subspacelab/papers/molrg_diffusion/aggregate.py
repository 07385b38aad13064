"""The molrg_diffusion runs as success curves: per (K, d_k), the success rate over seeds against N (samples
per subspace) of each (model, metric) and its 50% crossing N50 (shared by the claims and the figures)."""

from __future__ import annotations

from subspacelab.experiments.harness import success_curve, transition_point
from subspacelab.papers.molrg_diffusion.experiment import MODELS

LABELS = {
    ("lowrank", "param"): "low-rank DAE (learned U_k)",
    ("ksubspaces", "param"): "K-subspaces",
    ("lowrank", "gen"): "low-rank DAE (samples)",
    ("mlp", "gen"): "MLP DAE (samples)",
    ("mlp", "gl"): "MLP DAE (samples not copies)",
}
STYLES = {
    ("lowrank", "param"): ("tab:blue", "-", "o"),
    ("ksubspaces", "param"): ("tab:orange", "--", "s"),
    ("lowrank", "gen"): ("tab:green", ":", "^"),
    ("mlp", "gen"): ("tab:red", "-", "v"),
    ("mlp", "gl"): ("tab:purple", "-.", "D"),
}


def runs(
    rows: list[dict], K: int | None = None, d: int | None = None, model: str | None = None
) -> list[dict]:
    out = []
    for r in rows:
        e = r.get("experiment") or {}
        if "points" not in r or (K is not None and int(e.get("K", r.get("K"))) != int(K)):
            continue
        if d is not None and int(r.get("d", e.get("d"))) != int(d):
            continue
        if model is not None and model not in e.get("models", MODELS):
            continue
        out.append(r)
    return out


def selected_ds(dv: dict, rows: list[dict]) -> list[int] | None:
    """The claim's ``ds`` for the rows' scale ({scale: [d, ...]}), or None (every d)."""
    ds = dv.get("ds")
    scale = next((r.get("scale") for r in rows if r.get("scale")), None)
    if not ds or scale not in ds:
        return None
    return [int(d) for d in ds[scale]]


def curves(
    rows: list[dict], model: str, metric: str, K: int = 2, ds: list[int] | None = None
) -> dict[int, list[dict]]:
    """d -> the success curve (pooled over seeds) of ``model`` by ``metric`` (param | gen) against N
    (only the d in ``ds`` when given)."""
    key = f"{model}_{metric}_success"
    by_d: dict[int, dict[int, list[int]]] = {}
    for r in runs(rows, K=K, model=model):
        if ds is not None and int(r["d"]) not in ds:
            continue
        for p in r["points"]:
            if key in p:
                by_d.setdefault(int(r["d"]), {}).setdefault(int(p["N"]), []).append(int(bool(p[key])))
    return {
        d: success_curve(list(c), [sum(v) for v in c.values()], [len(v) for v in c.values()])
        for d, c in sorted(by_d.items())
    }


def n50(curve: list[dict]) -> float | None:
    return transition_point([c["x"] for c in curve], [c["rate"] for c in curve], 0.5, log_x=True)


def seed_n50(rows: list[dict], model: str, metric: str, K: int = 2) -> dict[int, dict[int, float | None]]:
    """d -> seed -> the 50% crossing of that seed's own 0/1 success sequence against N (None: no crossing)."""
    key = f"{model}_{metric}_success"
    out: dict[int, dict[int, float | None]] = {}
    for r in runs(rows, K=K, model=model):
        pts = sorted((int(p["N"]), float(bool(p[key]))) for p in r["points"] if key in p)
        if pts:
            out.setdefault(int(r["d"]), {})[int(r.get("seed", 0))] = transition_point(
                [x for x, _ in pts], [y for _, y in pts], 0.5, log_x=True
            )
    return out


def fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:.2f}"
