"""Glue for Lin, Yang, Zheng & Ke, "Spectral Subspace Clustering for Attributed Graphs" (S2CAG / M-S2CAG,
KDD 2025, arXiv:2411.11074), on the clustering harness (``subspacelab.clustering``).

Two kinds of run:

- ``quality``: one attributed graph (ACM, CiteSeer, Wiki, Cora from the ``.mat`` files, or a contextual SBM),
  one seed; every listed method clusters it (S2CAG / M-S2CAG with the official per-dataset settings, the
  k-means-rounding ablation, the classical baselines on the same TF-IDF attributes); per method ACC, NMI,
  ARI, wall and CPU seconds, peak memory, or the refusal message of an N x N method past the memory budget.
- ``scaling``: contextual SBMs of growing size (fixed average degree), one seed; per size and method the
  same measurements. The claims fit log time against log edges.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from subspacelab.clustering import graphs, known_methods, resolve, run_method
from subspacelab.clustering import s2cag as s2cag_maths

KINDS = ("quality", "scaling")
DATASETS = (*graphs.MAT_GRAPHS, "csbm")
PAPER_DATASETS = ("acm", "citeseer", "wiki")  # the paper's own datasets that are available offline
GRAPH_METHODS_HP = ("s2cag", "m_s2cag")  # methods whose hyperparameters are per dataset
LABELS = {"s2cag": "S2CAG", "m_s2cag": "M-S2CAG", "s2cag_kmeans": "S2CAG (k-means rounding)",
          "m_s2cag_kmeans": "M-S2CAG (k-means rounding)", "kmeans": "k-means", "spectral": "spectral (kNN of X)",
          "spectral_graph": "spectral (A)", "ssc": "SSC", "ensc": "EnSC", "lsr": "LSR", "lrr": "LRR",
          "ssc_omp": "SSC-OMP"}
OURS = ("s2cag", "m_s2cag", "s2cag_kmeans", "m_s2cag_kmeans")


def _default_methods() -> list[str]:
    return ["s2cag", "m_s2cag", "s2cag_kmeans", "m_s2cag_kmeans", "kmeans", "spectral", "spectral_graph", "lsr",
            "ssc_omp"]


@dataclass
class Experiment:
    """One run (module doc). Hyperparameter tables: ``s2cag``/``m_s2cag`` per dataset, ``baselines`` per method."""

    kind: str = "quality"
    dataset: str = "citeseer"
    methods: list[str] = field(default_factory=_default_methods)
    memory_budget_gb: float = 1.0
    s2cag: dict = field(default_factory=dict)
    m_s2cag: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    csbm: dict = field(default_factory=dict)
    csbm_nodes: int = 1000
    sizes: list[int] = field(default_factory=lambda: [1000, 10000])
    scaling_methods: list[str] = field(default_factory=lambda: ["s2cag", "m_s2cag", "lsr", "ssc_omp"])

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: one of {KINDS}, got {self.kind!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset: one of {DATASETS}, got {self.dataset!r}")
        if self.kind == "scaling" and self.dataset != "csbm":
            raise ValueError("dataset: scaling runs use generated graphs (csbm)")
        known = known_methods()
        for key in ("methods", "scaling_methods"):
            bad = [m for m in getattr(self, key) if m not in known]
            if not getattr(self, key) or bad:
                raise ValueError(f"{key}: unknown {bad}; known: {known}")
        for m in {*self.methods, *self.scaling_methods}:
            base = resolve(m)[0]
            if base in GRAPH_METHODS_HP and self.dataset not in getattr(self, base):
                raise ValueError(f"{base}: no hyperparameters for dataset {self.dataset!r}")
        if not self.memory_budget_gb > 0:
            raise ValueError("memory_budget_gb: must be > 0")
        if self.csbm_nodes < 10 or not self.sizes or min(self.sizes) < 10:
            raise ValueError("csbm_nodes, sizes: need graphs of at least 10 nodes")

    # ------------------------------------------------------------------------------------------
    def hyperparameters(self, method: str) -> dict:
        base = resolve(method)[0]
        if base in GRAPH_METHODS_HP:
            return dict(getattr(self, base)[self.dataset])
        return dict(self.baselines.get(method, {}))

    def graph(self, n_nodes: int | None = None) -> graphs.AttributedGraph:
        if self.dataset == "csbm":
            return graphs.contextual_sbm(n_nodes or self.csbm_nodes, **self.csbm)
        return graphs.load_mat_graph(self.dataset)

    def _run_all(self, g: graphs.AttributedGraph, methods: list[str], seed: int) -> list[dict]:
        X = s2cag_maths.tfidf(g.features)  # TF-IDF + row l2: S2CAG's input and every baseline's
        budget = self.memory_budget_gb * 2**30
        out = []
        for m in methods:
            row = run_method(m, X, g.n_classes, seed, labels_true=g.labels, adj=g.adj, memory_budget_bytes=budget,
                             **self.hyperparameters(m))
            out.append(row)
            shown = (f"acc {row['acc']:.3f} nmi {row['nmi']:.3f} {row['seconds']:.1f}s" if row["status"] == "ok"
                     else row["message"])
            print(f"  [{g.name} n={g.n_nodes}] {m}: {shown}", flush=True)
        return out

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        # n_jobs is not used: methods run one after another so that their timings do not compete
        if self.kind == "quality":
            g = self.graph()
            results = self._run_all(g, list(self.methods), seed)
            metrics = {"run_kind": "quality", "dataset": self.dataset, "graph": g.summary(), "results": results}
            if self.dataset == "csbm":
                metrics["generator"] = {**self.csbm, "n_nodes": self.csbm_nodes}
            else:
                metrics["data_provenance"] = g.provenance
            for r in results:
                for k in ("acc", "nmi", "ari", "seconds"):
                    if r.get(k) is not None:
                        metrics[f"{r['method']}_{k}"] = r[k]
            return metrics
        points = []
        for n in self.sizes:
            g = self.graph(int(n))
            for r in self._run_all(g, list(self.scaling_methods), seed):
                points.append({**r, "n_nodes": g.n_nodes, "n_edges": g.n_edges, "hyperparameters": None})
        return {"run_kind": "scaling", "dataset": "csbm", "generator": dict(self.csbm), "points": points}


# ----------------------------------------------------------------------------------------------
# aggregation (a row is a run's metrics.json: the pipeline stores the run's config under "experiment")
# ----------------------------------------------------------------------------------------------
def _is(row: dict, kind: str, dataset: str | None = None) -> bool:
    exp = row.get("experiment") or {}
    return exp.get("kind") == kind and (dataset is None or exp.get("dataset") == dataset)


def quality_means(rows: list[dict], dataset: str) -> dict[str, dict]:
    """method -> {acc, nmi, ari, seconds, peak_mib: (mean, sd, n)} over the seeds of ``dataset``; refused
    methods -> {"refused": message}."""
    vals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    refused: dict[str, str] = {}
    for row in rows:
        if not _is(row, "quality", dataset):
            continue
        for r in row.get("results", []):
            if r["status"] != "ok":
                refused[r["method"]] = r["message"]
                continue
            for k in ("acc", "nmi", "ari", "seconds", "peak_mib"):
                vals[r["method"]][k].append(float(r[k]))
    out: dict[str, dict] = {}
    for m, by in vals.items():
        out[m] = {k: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) for k, v in by.items()}
    for m, msg in refused.items():
        out.setdefault(m, {"refused": msg})
    return out


def scaling_points(rows: list[dict], method: str) -> list[dict]:
    return [p for row in rows if _is(row, "scaling") for p in row.get("points", []) if p["method"] == method]


def loglog_slope(x, y) -> float:
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(x, y, 1)[0])


# ----------------------------------------------------------------------------------------------
# derive rules
# ----------------------------------------------------------------------------------------------
def _beats_baselines(claim: dict, rows: list[dict]):
    """Seed means of ACC/NMI/ARI of each target method vs the best baseline (any method not in OURS) per
    metric. reproduced: every target >= best on all 3; partly: some target >= best on >= 2; else not."""
    dv = claim["derive"]
    means = quality_means(rows, dv["dataset"])
    targets = [m for m in dv["methods"] if m in means and "refused" not in means[m]]
    base = {m: v for m, v in means.items() if m not in OURS and "refused" not in v}
    if not targets or not base:
        return {"value": "n/a"}, "not_run", f"no runs of {dv['methods']} and of a baseline on {dv['dataset']}"
    best = {k: max(base, key=lambda m, k=k: base[m][k][0]) for k in ("acc", "nmi", "ari")}
    wins = {t: {k: means[t][k][0] >= base[best[k]][k][0] for k in best} for t in targets}
    text = "; ".join(f"{LABELS.get(t, t)} " + "/".join(f"{means[t][k][0]:.3f}" for k in best) for t in targets)
    text += " vs best baseline " + "/".join(f"{base[best[k]][k][0]:.3f} ({LABELS.get(best[k], best[k])})" for k in best)
    compared = {**base, **{t: means[t] for t in targets}}
    measured = {"value": text + " (ACC/NMI/ARI)", "means": {m: {k: v[k][0] for k in best} for m, v in compared.items()},
                "best_baseline": best, "wins": wins, "n_seeds": {m: means[m]["acc"][2] for m in targets}}
    missing = [m for m in dv["methods"] if m not in targets]
    if all(all(w.values()) for w in wins.values()) and not missing:
        verdict = "reproduced"
    elif any(sum(w.values()) >= 2 for w in wins.values()):
        verdict = "partly"
    else:
        verdict = "not_reproduced"
    refused = [m for m, v in means.items() if "refused" in v]
    note = f"baselines compared: {', '.join(sorted(base))}"
    if refused:
        note += f"; refused by the memory budget: {', '.join(refused)}"
    if missing:
        note += f"; not run: {', '.join(missing)}"
    return measured, verdict, note


def _paper_values(claim: dict, rows: list[dict]):
    """The paper's table was not retrieved: report our seed means beside it and say so."""
    dv = claim["derive"]
    parts = []
    for ds in dv["datasets"]:
        means = quality_means(rows, ds)
        for m in dv["methods"]:
            if m in means and "refused" not in means[m]:
                parts.append(f"{ds} {LABELS.get(m, m)} " + "/".join(f"{means[m][k][0]:.3f}" for k in ("acc", "nmi", "ari")))
    measured = {"value": "; ".join(parts) + " (ACC/NMI/ARI)" if parts else "n/a"}
    return measured, "not_run", "the paper's per-dataset values were not retrieved, so no comparison is possible"


def _linear_time(claim: dict, rows: list[dict]):
    """Slope of log CPU seconds vs log edges over sizes >= min_nodes (pooled over seeds).
    reproduced: |slope − 1| <= tol; partly: slope <= partly_max; else not reproduced."""
    dv = claim["derive"]
    pts = [p for p in scaling_points(rows, dv["method"]) if p["status"] == "ok" and p["n_nodes"] >= dv["min_nodes"]]
    sizes = sorted({p["n_nodes"] for p in pts})
    if len(sizes) < 2:
        return {"value": "n/a"}, "not_run", f"fewer than 2 graph sizes >= {dv['min_nodes']} nodes"
    b = loglog_slope([p["n_edges"] for p in pts], [p["cpu_seconds"] for p in pts])
    b_wall = loglog_slope([p["n_edges"] for p in pts], [p["seconds"] for p in pts])
    measured = {"value": f"slope {b:.2f} (wall-clock {b_wall:.2f}) over {sizes[0]}-{sizes[-1]} nodes", "slope": b,
                "slope_wall": b_wall, "sizes": sizes, "n_points": len(pts)}
    verdict = ("reproduced" if abs(b - 1) <= dv["tol"] else "partly" if b <= dv["partly_max"] else "not_reproduced")
    return measured, verdict, "CPU time of the method itself (graph generation and TF-IDF excluded)"


def _dense_do_not_scale(claim: dict, rows: list[dict]):
    """Per dense method: slope of log CPU seconds vs log N where it ran, and whether the largest size was
    refused with a message naming N and the budget. reproduced: all slopes >= min_slope and all refused at
    the largest size; partly: one of the two for every method; else not reproduced."""
    dv = claim["derive"]
    per, parts = {}, []
    all_sizes = sorted({p["n_nodes"] for row in rows if _is(row, "scaling") for p in row.get("points", [])})
    if not all_sizes:
        return {"value": "n/a"}, "not_run", "no scaling runs"
    for m in dv["methods"]:
        pts = scaling_points(rows, m)
        ok = [p for p in pts if p["status"] == "ok"]
        refused = sorted({p["n_nodes"] for p in pts if p["status"] == "refused"})
        msgs_ok = all(f"N = {p['n_nodes']}" in p["message"] and "budget" in p["message"] and "bytes" in p["message"]
                      for p in pts if p["status"] == "refused")
        slope = loglog_slope([p["n_nodes"] for p in ok], [p["cpu_seconds"] for p in ok]) if len(
            {p["n_nodes"] for p in ok}) >= 2 else None
        per[m] = {"slope": slope, "ran": sorted({p["n_nodes"] for p in ok}), "refused": refused,
                  "message_ok": msgs_ok, "example_message": next((p["message"] for p in pts if p["status"] == "refused"),
                                                                 None)}
        parts.append(f"{LABELS.get(m, m)}: slope {'n/a' if slope is None else f'{slope:.2f}'}, ran at "
                     f"{per[m]['ran']}, refused at {refused}")
    slope_ok = all(v["slope"] is not None and v["slope"] >= dv["min_slope"] for v in per.values())
    refused_ok = all(all_sizes[-1] in v["refused"] and v["message_ok"] for v in per.values())
    if not any(v["slope"] is not None for v in per.values()) and not any(v["refused"] for v in per.values()):
        return {"value": "n/a", "methods": per}, "not_run", f"none of {dv['methods']} in the scaling runs"
    verdict = "reproduced" if slope_ok and refused_ok else "partly" if slope_ok or refused_ok else "not_reproduced"
    example = next((v["example_message"] for v in per.values() if v["example_message"]), None)
    return {"value": "; ".join(parts), "methods": per}, verdict, (f"e.g. '{example}'" if example else "")


def _rounding_ablation(claim: dict, rows: list[dict]):
    """Mean over datasets of (method − ablation) seed means in ACC and NMI. reproduced: both >= −tol;
    partly: one; else not reproduced."""
    dv = claim["derive"]
    diffs = {"acc": [], "nmi": []}
    used = []
    for ds in dv["datasets"]:
        means = quality_means(rows, ds)
        a, b = means.get(dv["method"]), means.get(dv["ablation"])
        if not a or not b or "refused" in a or "refused" in b:
            continue
        used.append(ds)
        for k in diffs:
            diffs[k].append(a[k][0] - b[k][0])
    if not used:
        return {"value": "n/a"}, "not_run", f"no dataset with both {dv['method']} and {dv['ablation']}"
    d = {k: statistics.fmean(v) for k, v in diffs.items()}
    measured = {"value": f"SNEM − k-means: ACC {d['acc']:+.3f}, NMI {d['nmi']:+.3f} (mean over {', '.join(used)})",
                "acc_diff": d["acc"], "nmi_diff": d["nmi"], "per_dataset": {ds: {k: diffs[k][i] for k in diffs}
                                                                            for i, ds in enumerate(used)}}
    ok = [d[k] >= -dv["tol"] for k in d]
    verdict = "reproduced" if all(ok) else "partly" if any(ok) else "not_reproduced"
    return measured, verdict, ""


RULES = {
    "s2cag_beats_baselines": _beats_baselines,
    "s2cag_paper_values": _paper_values,
    "s2cag_linear_time": _linear_time,
    "s2cag_dense_do_not_scale": _dense_do_not_scale,
    "s2cag_rounding_ablation": _rounding_ablation,
}


# ----------------------------------------------------------------------------------------------
# tables and plots
# ----------------------------------------------------------------------------------------------
def _pm(v: tuple, digits: int = 3) -> str:
    mean, sd, n = v
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def tables(rows: list[dict]) -> str:
    lines = []
    datasets = [d for d in DATASETS if any(_is(r, "quality", d) for r in rows)]
    for ds in datasets:
        means = quality_means(rows, ds)
        g = next(r["graph"] for r in rows if _is(r, "quality", ds))
        lines += ["", f"### {ds}: {g['n_nodes']} nodes, {g['n_edges']} edges, {g['n_features']} attributes, "
                      f"{g['n_classes']} classes (mean ± sd over seeds)", "",
                  "| method | ACC | NMI | ARI | seconds | peak MiB | paper ACC/NMI/ARI |", "|---|---|---|---|---|---|---|"]
        order = [m for m in LABELS if m in means] + sorted(m for m in means if m not in LABELS)
        for m in order:
            v = means[m]
            paper = "not retrieved" if m in ("s2cag", "m_s2cag") and ds in PAPER_DATASETS else "-"
            if "refused" in v:
                lines.append(f"| {LABELS.get(m, m)} | refused | | | | | {paper} |")
                continue
            lines.append(f"| {LABELS.get(m, m)} | {_pm(v['acc'])} | {_pm(v['nmi'])} | {_pm(v['ari'])} | "
                         f"{_pm(v['seconds'], 2)} | {v['peak_mib'][0]:.0f} | {paper} |")
    pts = [p for r in rows if _is(r, "scaling") for p in r.get("points", [])]
    if pts:
        lines += ["", "### Scaling on contextual SBMs (per seed)", "",
                  "| nodes | edges | method | CPU s | wall s | peak MiB | ACC | status |", "|---|---|---|---|---|---|---|---|"]
        for p in sorted(pts, key=lambda p: (p["n_nodes"], p["method"])):
            if p["status"] == "ok":
                lines.append(f"| {p['n_nodes']} | {p['n_edges']} | {LABELS.get(p['method'], p['method'])} | "
                             f"{p['cpu_seconds']:.2f} | {p['seconds']:.2f} | {p['peak_mib']:.0f} | {p['acc']:.3f} | ok |")
            else:
                lines.append(f"| {p['n_nodes']} | {p['n_edges']} | {LABELS.get(p['method'], p['method'])} | | | | | "
                             f"{p['message'].replace('|', '/')} |")
    return "\n".join(lines).strip()


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    datasets = [d for d in DATASETS if any(_is(r, "quality", d) for r in rows)]
    if datasets:
        fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.8), squeeze=False)
        for ax, ds in zip(axes[0], datasets, strict=True):
            means = quality_means(rows, ds)
            ms = [m for m in LABELS if m in means and "refused" not in means[m]]
            x = np.arange(len(ms))
            for i, k in enumerate(("acc", "nmi", "ari")):
                ax.bar(x + (i - 1) * 0.27, [means[m][k][0] for m in ms], 0.27,
                       yerr=[means[m][k][1] for m in ms], label=k.upper(), capsize=2)
            ax.set_xticks(x)
            ax.set_xticklabels([LABELS[m] for m in ms], rotation=60, ha="right", fontsize=7)
            ax.set_ylim(0, 1)
            ax.set_title(ds)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / "s2cag_quality.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    pts = [p for r in rows if _is(r, "scaling") for p in r.get("points", [])]
    if pts:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for m in dict.fromkeys(p["method"] for p in pts):
            ok = sorted((p for p in pts if p["method"] == m and p["status"] == "ok"), key=lambda p: p["n_edges"])
            ref = sorted({p["n_edges"] for p in pts if p["method"] == m and p["status"] == "refused"})
            line = ax.plot([p["n_edges"] for p in ok], [max(p["cpu_seconds"], 1e-3) for p in ok], marker="o",
                           label=LABELS.get(m, m))[0] if ok else None
            if ref:
                top = max((p["cpu_seconds"] for p in ok), default=1.0)
                ax.scatter(ref, [top] * len(ref), marker="x", s=60, color=line.get_color() if line else "k",
                           label=f"{LABELS.get(m, m)}: refused (memory budget)")
        s2 = sorted((p for p in pts if p["method"] == "s2cag" and p["status"] == "ok"), key=lambda p: p["n_edges"])
        if s2:
            e = np.array([p["n_edges"] for p in s2], float)
            ax.plot(e, s2[-1]["cpu_seconds"] * e / e[-1], "k--", lw=0.8, label="slope 1 (linear)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edges")
        ax.set_ylabel("CPU seconds")
        ax.set_title("contextual SBM, average degree fixed")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / "s2cag_scaling.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


NOTES: list[str] = [
    "The paper's result tables could not be read (paper body unreachable; the official repository has no results), "
    "so no measured value is compared with a paper number: the quality claims test the abstract's statement "
    "(S2CAG / M-S2CAG outperform the baselines) against the classical baselines run here.",
    "S2CAG and M-S2CAG follow the official code step by step (see subspacelab/clustering/s2cag.py): the adjacency "
    "gets self-loops twice (symmetric then row normalisation), the propagation is the code's PowerIteration "
    "F ← α(PF + X), which is not exactly c Σ_{t≤T} α^t P^t X (the implicit SVD path uses the latter, as the code), "
    "the randomised SVD does τ power iterations without re-orthonormalisation, and SNEM rounding runs 100 steps.",
    "The official run.py seeds both random draws with 0 and records only the last of its 5 runs, so its reported "
    "mean ± sd is one computation. Here seed s draws the randomised-SVD test matrix and M-S2CAG's start from "
    "RandomState(s): seed 0 is the official code's draw, and the spread over seeds shows how much S2CAG's result "
    "depends on it (the randomised SVD is not converged on CiteSeer, whose singular values are close).",
    "S2CAG keeps k left singular vectors after the first, one more than the k − 1 directions that separate k "
    "classes: the last lies in the noise bulk of the spectrum (no gap after it), so its randomised estimate, and "
    "through SNEM's argmax start the labels, change with the seed. The unit tests compare the randomised SVD with "
    "a dense SVD on the well-separated directions.",
    "SNEM starts from the row-wise argmax of Q. M-S2CAG's Q comes from orthogonal iteration (close to the "
    "eigenvectors, not to the class indicators), so that start can put two classes in one column, which SNEM "
    "never splits again; the m_s2cag_kmeans ablation (k-means on the same Q) shows how much this costs.",
    "Hyperparameters: S2CAG / M-S2CAG from run.sh (ACM, CiteSeer, Wiki); Cora and the CSBM use run.py's flag "
    "defaults (M-S2CAG τ = 50, our choice). Baselines use their authors' code defaults or values recalled from "
    "their papers (tagged in conf/experiment/s2cag.yaml); none was tuned, with or without labels. Several of those "
    "defaults were originally chosen on labelled face/motion data.",
    "Baselines see the same TF-IDF (row ℓ2) attributes as S2CAG, without the graph (spectral_graph: the graph "
    "only). SSC, EnSC and LRR cost O(N^3) per iteration; at cpu scale they run on the 1000-node CSBM only.",
    "SSC's ADMM enforces diag(C) = 0 in the C-step only; the authors' MATLAB code also zeroes diag(Z), which "
    "moves the fixed point off the optimum (unit test). EnSC uses the same ADMM (the authors use an active-set "
    "solver); both agree with per-column coordinate descent in the unit tests.",
    "Memory: peak bytes allocated during a method call (tracemalloc: numpy/scipy arrays and Python objects; BLAS "
    "work space not seen). The memory budget refuses N x N methods from a model of the N x N float64 matrices "
    "each holds (clustering.baselines.DENSE_MATRICES), before allocating anything.",
    "Scaling: CPU seconds (process time) of the method only, graph generation and TF-IDF excluded; single-threaded "
    "BLAS is assumed (OMP_NUM_THREADS=1), otherwise CPU seconds add the threads up. The operation count is linear "
    "in edges (T sparse x dense products of P with the n x d propagated attributes dominate), but the time per "
    "node of that product doubled between 10^4 and 3·10^5 nodes in a profile (37 -> 71 µs): the CSBM's edges "
    "have no locality, so once the n x d matrix (480 MB at 3·10^5 nodes) leaves the caches nearly every access "
    "misses. That is what lifts the fitted slopes to ~1.15-1.2; two cpu runs gave S2CAG 1.20 and 1.21, on the "
    "reproduced/partly boundary.",
    "Cora is not a dataset of the paper (it uses CoraFull); ACM, CiteSeer and Wiki are, from the same .mat files "
    "as the official repository (SHA-256 checked). DBLP, PubMed, ArXiv, CoraFull and Amazon-Photo are not "
    "available offline.",
]
