"""What a run of the S2CAG paper executes (one ``Experiment.run``), on the clustering harness
(``subspacelab.clustering``).

Two kinds of run:

- ``quality``: one attributed graph (ACM, CiteSeer, Wiki, Cora from the ``.mat`` files, or a contextual SBM),
  one seed; every listed method clusters it (S2CAG / M-S2CAG with the official per-dataset settings, the
  k-means-rounding ablation, the classical baselines on the same TF-IDF attributes); per method ACC, NMI,
  ARI, wall and CPU seconds, peak memory, or the refusal message of an N x N method past the memory budget.
- ``scaling``: contextual SBMs of growing size (fixed average degree), one seed; per size and method the
  same measurements. The claims fit log time against log edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from subspacelab.clustering import graphs, known_methods, resolve, run_method
from subspacelab.clustering import s2cag as s2cag_maths

KINDS = ("quality", "scaling")
DATASETS = (*graphs.MAT_GRAPHS, "csbm")
GRAPH_METHODS_HP = ("s2cag", "m_s2cag")  # methods whose hyperparameters are per dataset


def _default_methods() -> list[str]:
    return [
        "s2cag",
        "m_s2cag",
        "s2cag_kmeans",
        "m_s2cag_kmeans",
        "kmeans",
        "spectral",
        "spectral_graph",
        "lsr",
        "ssc_omp",
    ]


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
            row = run_method(
                m,
                X,
                g.n_classes,
                seed,
                labels_true=g.labels,
                adj=g.adj,
                memory_budget_bytes=budget,
                **self.hyperparameters(m),
            )
            out.append(row)
            shown = (
                f"acc {row['acc']:.3f} nmi {row['nmi']:.3f} {row['seconds']:.1f}s"
                if row["status"] == "ok"
                else row["message"]
            )
            print(f"  [{g.name} n={g.n_nodes}] {m}: {shown}", flush=True)
        return out

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        # n_jobs is not used: methods run one after another so that their timings do not compete
        if self.kind == "quality":
            g = self.graph()
            results = self._run_all(g, list(self.methods), seed)
            metrics = {
                "run_kind": "quality",
                "dataset": self.dataset,
                "graph": g.summary(),
                "results": results,
            }
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
