"""Attributed graphs for clustering: the benchmark ``.mat`` files and a contextual SBM generator.

The ``.mat`` files (Deng Cai / AGC / S2CAG layout: ``W`` adjacency, ``fea`` node attributes, ``gnd``
labels) are read with ``scipy.io.loadmat`` from the offline mirror (``../shared/datasets`` or
``$SUBSPACELAB_DATA_MIRROR``): ``graphs/agc/{cora,citeseer,wiki}.mat`` and ``graphs/s2cag/acm.mat``. Each
file's SHA-256 is checked against the mirror's MANIFEST.

The contextual SBM (``contextual_sbm``) plants k equal classes in both the graph and the attributes:
- graph: about n·avg_degree/2 undirected edges, a fraction ``homophily`` of them inside a class (both
  ends uniform in one class), the rest between classes (ends uniform in two different classes);
  duplicates and self-loops are dropped;
- attributes: bag of words over a vocabulary of ``n_features`` words; class c has a topic
  θ_c ~ Dirichlet(``concentration``·1); each node draws ``words_per_node`` words, each from its class
  topic with probability 1 − ``attribute_noise`` and uniformly from the vocabulary otherwise.
Everything is O(n + m) in time and memory, so graphs of 10^6 nodes are cheap to make.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from subspacelab.data.mirror import ENV_VAR, DataUnavailableError, mirror_root

# name -> (path under the mirror, SHA-256 from shared/datasets/MANIFEST.md, where it comes from)
MAT_GRAPHS = {
    "cora": (
        "graphs/agc/cora.mat",
        "31d47da712e8e3c839ffeff58a465d9995687049d34d7cd59a41eb7463081eb8",
        "karenlatong/AGC-master@7425be3 data/cora.mat",
    ),
    "citeseer": (
        "graphs/agc/citeseer.mat",
        "e6a5ee9e230fdfe13e2c02f77c00c7cb4cb90c6a22da771342481dce120ec6e2",
        "karenlatong/AGC-master@7425be3 data/citeseer.mat (= HKBU-LAGAS/S2CAG data/citeseer.mat)",
    ),
    "wiki": (
        "graphs/agc/wiki.mat",
        "1b59b0b19cbf398bbc5c1c940f3c262300bcd56dae04890094666f9d220533b3",
        "karenlatong/AGC-master@7425be3 data/wiki.mat (= HKBU-LAGAS/S2CAG data/wiki.mat)",
    ),
    "acm": (
        "graphs/s2cag/acm.mat",
        "c87ee21d81218c41bdde1d66a10080835899a1f45d6d6cdefa11859148fba3b3",
        "HKBU-LAGAS/S2CAG@51c5679 data/acm.mat",
    ),
}


@dataclass
class AttributedGraph:
    """A graph with node attributes and ground-truth classes."""

    name: str
    adj: sp.csr_matrix  # (n, n) float64, symmetric, as stored (weights and self-loops kept)
    features: sp.csr_matrix  # (n, d) float64 raw attributes (counts, binary or TF-IDF as stored)
    labels: np.ndarray  # (n,) int, classes 0..k-1
    provenance: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return self.adj.shape[0]

    @property
    def n_features(self) -> int:
        return self.features.shape[1]

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def n_edges(self) -> int:
        """Undirected edges, self-loops excluded."""
        A = sp.triu(self.adj, k=1)
        return int(A.count_nonzero())

    def summary(self) -> dict:
        return {
            "dataset": self.name,
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
        }


def how_to_get(name: str) -> str:
    rel, _, source = MAT_GRAPHS[name]
    return (
        f"attributed graph {name!r} not found: expected <mirror>/{rel} (mirror = ../shared/datasets next to "
        f"the working directory, or ${ENV_VAR}). Get {Path(rel).name} from {source} (the S2CAG README "
        f"links all its datasets as one zip) and place it there, or point {ENV_VAR} at a folder with that layout."
    )


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_mat_graph(name: str, mirror: str | Path | None = None, verify: bool = True) -> AttributedGraph:
    """One of ``MAT_GRAPHS`` from the offline mirror; labels renumbered 0..k-1 in sorted order."""
    import scipy.io

    if name not in MAT_GRAPHS:
        raise KeyError(f"unknown attributed graph {name!r}; known: {', '.join(MAT_GRAPHS)}")
    rel, digest, source = MAT_GRAPHS[name]
    root = mirror_root(mirror)
    path = root / rel if root is not None else None
    if path is None or not path.is_file():
        raise DataUnavailableError(how_to_get(name))
    exact = None
    if verify:
        exact = sha256(path) == digest
    data = scipy.io.loadmat(path)
    adj = sp.csr_matrix(data["W"], dtype=np.float64)
    features = sp.csr_matrix(data["fea"], dtype=np.float64)
    _, labels = np.unique(np.asarray(data["gnd"]).ravel(), return_inverse=True)
    if adj.shape[0] != adj.shape[1] or adj.shape[0] != features.shape[0] or labels.size != adj.shape[0]:
        raise ValueError(f"{path}: W {adj.shape}, fea {features.shape} and gnd ({labels.size}) do not agree")
    prov = {
        "dataset": name,
        "source": source,
        "path": rel,
        "sha256_expected": digest,
        "exact": bool(exact) if verify else True,
    }
    if verify and not exact:
        prov["note"] = f"{rel}: SHA-256 differs from the MANIFEST's {digest[:12]}…"
    return AttributedGraph(name, adj, features, labels.astype(np.int64), prov)


def contextual_sbm(
    n_nodes: int,
    n_classes: int = 5,
    avg_degree: float = 10.0,
    homophily: float = 0.6,
    n_features: int = 200,
    words_per_node: int = 20,
    attribute_noise: float = 0.5,
    concentration: float = 0.05,
    seed: int = 0,
) -> AttributedGraph:
    """A contextual SBM attributed graph (module doc), reproducible from ``seed``."""
    if n_nodes < 2 * n_classes:
        raise ValueError("contextual_sbm: need at least 2 nodes per class")
    if not 0.0 <= homophily <= 1.0 or not 0.0 <= attribute_noise <= 1.0:
        raise ValueError("contextual_sbm: homophily and attribute_noise must be in [0, 1]")
    rng = np.random.default_rng(seed)
    n, k = int(n_nodes), int(n_classes)
    labels = rng.permutation(np.arange(n) % k)
    order = np.argsort(labels, kind="stable")  # nodes grouped by class
    sizes = np.bincount(labels, minlength=k)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def pick(classes: np.ndarray) -> np.ndarray:  # a uniform node of each given class
        return order[starts[classes] + (rng.random(classes.size) * sizes[classes]).astype(np.int64)]

    m = int(round(n * avg_degree / 2))
    m_in = rng.binomial(m, homophily)
    u_in = rng.integers(0, n, m_in)
    v_in = pick(labels[u_in])
    u_out = rng.integers(0, n, m - m_in)
    v_out = pick((labels[u_out] + rng.integers(1, k, u_out.size)) % k) if k > 1 else u_out
    u = np.concatenate([u_in, u_out])
    v = np.concatenate([v_in, v_out])
    keep = u != v
    u, v = u[keep], v[keep]
    A = sp.coo_matrix(
        (np.ones(2 * u.size), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n)
    ).tocsr()
    A.data[:] = 1.0  # duplicates summed by tocsr: binary again

    topics = rng.dirichlet(np.full(n_features, concentration), size=k)  # k x d
    cdf = np.cumsum(topics, axis=1)
    cdf[:, -1] = 1.0
    L = int(words_per_node)
    node = np.repeat(np.arange(n), L)
    from_topic = rng.random(n * L) >= attribute_noise
    words = rng.integers(0, n_features, n * L)
    idx = np.flatnonzero(from_topic)
    cls = labels[node[idx]]
    draws = rng.random(idx.size)
    for c in range(k):  # inverse-CDF sampling from each class topic
        sel = cls == c
        words[idx[sel]] = np.minimum(np.searchsorted(cdf[c], draws[sel], side="right"), n_features - 1)
    F = sp.coo_matrix((np.ones(node.size), (node, words)), shape=(n, n_features)).tocsr()
    prov = {
        "dataset": "csbm",
        "source": "subspacelab.clustering.graphs.contextual_sbm",
        "exact": True,
        "seed": int(seed),
    }
    return AttributedGraph("csbm", A, F, labels.astype(np.int64), prov)
