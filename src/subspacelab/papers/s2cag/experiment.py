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
from typing import ClassVar

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
    """S2CAG / M-S2CAG (Lin, Yang, Zheng, Ke; KDD 2025) and classical baselines, through the clustering harness.
    One run = one (dataset, seed) of kind `quality` (every method on one attributed graph: ACC, NMI, ARI, seconds,
    peak memory), or one seed of kind `scaling` (contextual-SBM graphs of growing size: time and memory per method).

    One run (module doc). Hyperparameter tables: ``s2cag``/``m_s2cag`` per dataset, ``baselines`` per method."""

    TAG: ClassVar[str] = "${.kind}-${.dataset}"

    kind: str = "quality"  # quality | scaling
    dataset: str = "citeseer"  # quality: cora | citeseer | wiki | acm (.mat files) | csbm (generated)
    methods: list[str] = field(default_factory=_default_methods)
    memory_budget_gb: float = 1.0  # N x N methods needing more are refused (recorded with the message)
    # S2CAG (run.py --method sub): propagation order T, weight alpha, power iterations tau. From HKBU-LAGAS/S2CAG
    # src/run.sh; cora and csbm are not in run.sh: run.py's flag defaults (T=10, alpha=0.9, tau=7).
    s2cag: dict = field(
        default_factory=lambda: {
            "acm": {"T": 15, "alpha": 0.8, "tau": 7},
            "citeseer": {"T": 60, "alpha": 0.8, "tau": 7},
            "wiki": {"T": 6, "alpha": 1.7, "tau": 7},
            "cora": {"T": 10, "alpha": 0.9, "tau": 7},
            "csbm": {"T": 10, "alpha": 0.9, "tau": 7},
        }
    )
    # M-S2CAG (run.py --method mod): + gamma (modularity weight), tau = orthogonal-iteration steps. From src/run.sh;
    # cora and csbm: run.py's defaults T=10, alpha=0.9, gamma=0.9 (the flag default; the README says 1.0), and
    # tau=50 (our choice: run.sh uses 50 or 100 for every mod run, the flag default 7 is the sub method's).
    m_s2cag: dict = field(
        default_factory=lambda: {
            "acm": {"T": 15, "alpha": 0.8, "gamma": 1.0, "tau": 50},
            "citeseer": {"T": 40, "alpha": 0.8, "gamma": 0.9, "tau": 100},
            "wiki": {"T": 12, "alpha": 1.7, "gamma": 0.9, "tau": 50},
            "cora": {"T": 10, "alpha": 0.9, "gamma": 0.9, "tau": 50},
            "csbm": {"T": 10, "alpha": 0.9, "gamma": 0.9, "tau": 50},
        }
    )
    # Classical baselines on the same TF-IDF attributes (spectral_graph: on the adjacency). Not tuned here, with or
    # without labels. [code] = read in the authors' public code; [recalled] = the original paper's value as we
    # remember it, not re-read; [ours] = no value for such data was found.
    baselines: dict = field(
        default_factory=lambda: {
            "kmeans": {"n_init": 10},  # scikit-learn, k-means++ starts
            "spectral": {"n_neighbors": 10},  # kNN graph of the attributes [ours: sklearn default]
            "spectral_graph": {},  # normalised spectral clustering of A
            "ssc": {
                "alpha": 20.0,
                "solver": "admm",
                "max_iter": 200,
                "tol": 0.0002,
            },  # alpha_z=20 for faces [recalled]; ADMM stop [code]
            "ensc": {
                "gamma": 50.0,
                "tau": 0.9,
                "n_nonzero": 50,
                "solver": "admm",
            },  # gamma=50, n_nonzero=50 [code: ChongYou/subspace-clustering]; tau [ours]
            "lsr": {
                "lam": 0.1,
                "zero_diagonal": False,
            },  # gamma=10 (lam=1/gamma), LSR2 [code: ChongYou/subspace-clustering defaults]
            "lrr": {
                "lam": 4.0,
                "tol": 1e-08,
                "max_iter": 1000,
            },  # lam=4: LRR's motion-segmentation value [recalled]; tol, rho=1.1, mu0=1e-6 [code: inexact_alm_lrr_l21]
            "ssc_omp": {"n_nonzero": 10, "thr": 1e-06},  # [code: ChongYou/subspace-clustering defaults]
        }
    )
    # Contextual SBM (quality dataset `csbm` and every scaling graph): 5 classes, average degree 10, 55% of edges
    # inside a class, 10 words per node from 200, 70% of them noise. Chosen (before any cpu-scale run) so that neither
    # the graph nor the attributes alone give the classes: k-means on X ~0.56 ACC, spectral on A ~0.78 at n = 1000.
    csbm: dict = field(
        default_factory=lambda: {
            "n_classes": 5,
            "avg_degree": 10.0,
            "homophily": 0.55,
            "n_features": 200,
            "words_per_node": 10,
            "attribute_noise": 0.7,
            "concentration": 0.1,
            "seed": 0,
        }
    )
    csbm_nodes: int = 1000  # size of the quality dataset `csbm`
    # scaling runs
    sizes: list[int] = field(default_factory=lambda: [1000, 10000])  # CSBM nodes
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
