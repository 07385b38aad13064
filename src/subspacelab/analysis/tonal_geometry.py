"""Tonal geometry of embedded pitch-class sets: circle-of-fifths distance, cosine distance matrices, a
Mantel-style rank correlation with a permutation p-value, a Krumhansl-Kessler key estimate, and the
substitution-within-a-neighbourhood measure (does a near neighbour stay in the key?).

Pitch-class sets are 12-bit masks (``subspacelab.data.music``: bit p = pitch class p, C = 0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

N_PC = 12
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)  # natural minor with the raised 6th and 7th (melodic/harmonic)
# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def _mask(pcs) -> int:
    m = 0
    for p in pcs:
        m |= 1 << (int(p) % N_PC)
    return m


def fifths_distance(a: int, b: int) -> int:
    """Steps between pitch classes (or keys, roots) ``a`` and ``b`` on the circle of fifths (0..6)."""
    d = (7 * (int(b) - int(a))) % N_PC
    return min(d, N_PC - d)


def fifths_distance_matrix(roots: Sequence[int]) -> np.ndarray:
    return np.array([[fifths_distance(a, b) for b in roots] for a in roots], dtype=float)


def major_triad(root: int) -> int:
    return _mask((root, root + 4, root + 7))


def minor_triad(root: int) -> int:
    return _mask((root, root + 3, root + 7))


def pc_vector(mask: int) -> np.ndarray:
    """The 12-dim 0/1 indicator of a mask."""
    return np.array([(mask >> p) & 1 for p in range(N_PC)], dtype=float)


def cosine_distance_matrix(x: np.ndarray) -> np.ndarray:
    """1 - cos between every pair of rows of ``x`` (zero rows: distance 1 to everything but themselves)."""
    x = np.asarray(x, dtype=float)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    u = x / np.where(norm > 0, norm, 1.0)
    d = 1.0 - u @ u.T
    np.fill_diagonal(d, 0.0)
    return d


def upper(m: np.ndarray) -> np.ndarray:
    """The entries above the diagonal of a square matrix, row by row."""
    return np.asarray(m)[np.triu_indices(len(m), 1)]


@dataclass(frozen=True)
class Mantel:
    """Spearman rank correlation between the pairwise entries of two distance matrices, with the one-sided
    permutation p-value of rho (rows and columns of the second matrix permuted together)."""

    rho: float
    p: float
    pairs: int
    permutations: int


def mantel(a: np.ndarray, b: np.ndarray, permutations: int = 999, seed: int = 0) -> Mantel:
    """Mantel-style test of ``a`` against ``b`` (both n x n, symmetric). p = (1 + #{rho_perm >= rho}) /
    (1 + permutations)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.shape[0] != a.shape[1] or a.shape[0] < 3:
        raise ValueError(
            f"mantel: need two square matrices of the same size >= 3, got {a.shape} and {b.shape}"
        )
    x = upper(a)
    rho = float(stats.spearmanr(x, upper(b)).statistic)
    rng = np.random.default_rng(seed)
    n, hits = len(a), 0
    for _ in range(int(permutations)):
        p = rng.permutation(n)
        r = stats.spearmanr(x, upper(b[np.ix_(p, p)])).statistic
        hits += bool(np.isfinite(r) and r >= rho - 1e-12)
    return Mantel(rho, (1 + hits) / (1 + int(permutations)), len(x), int(permutations))


@dataclass(frozen=True)
class Key:
    tonic: int
    mode: str  # "major" | "minor"
    r: float  # Pearson correlation of the pitch-class weights with the key's profile

    def scale(self) -> int:
        """The mask of the key's scale (minor: with the raised 6th and 7th)."""
        return scale_mask(self.tonic, self.mode)


def scale_mask(tonic: int, mode: str) -> int:
    steps = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    return _mask(tonic + s for s in steps)


def estimate_key(pc_weights: Sequence[float]) -> Key:
    """Krumhansl-Schmuckler key finding: the major or minor key whose Krumhansl-Kessler profile (rotated
    to the tonic) correlates best (Pearson) with the 12 pitch-class weights (e.g. total durations)."""
    w = np.asarray(pc_weights, dtype=float)
    if w.shape != (N_PC,) or not np.isfinite(w).all() or w.std() == 0:
        raise ValueError("estimate_key: need 12 finite pitch-class weights that are not all equal")
    best = Key(0, "major", -np.inf)
    for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(N_PC):
            r = float(np.corrcoef(w, np.roll(prof, tonic))[0, 1])
            if r > best.r:
                best = Key(tonic, mode, r)
    return best


def in_scale(mask: int, scale: int) -> bool:
    """Every pitch class of a non-empty ``mask`` lies in ``scale``."""
    return mask != 0 and (mask & ~scale) == 0


def neighbours(unit: np.ndarray, i: int, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``n`` rows of ``unit`` (unit vectors) most cosine-similar to row ``i``, nearest first,
    ``i`` itself left out (and rows where ``allowed`` is False)."""
    sim = unit @ unit[i]
    sim[i] = -np.inf
    if allowed is not None:
        sim = np.where(allowed, sim, -np.inf)
    k = min(int(n), int(np.isfinite(sim).sum()))
    idx = np.argpartition(-sim, k - 1)[:k] if k > 0 else np.array([], dtype=int)
    return idx[np.argsort(-sim[idx], kind="stable")]


def best_match_in_neighbourhood(masks: Sequence[int], idx: np.ndarray) -> int:
    """Among the neighbourhood ``idx``, the member whose pitch classes best match the neighbourhood's own
    pitch-class distribution (cosine of its 0/1 vector with the mean 0/1 vector of the neighbourhood; ties:
    the nearer one). A reconstruction of the paper's 'pitch-class distribution inferred in the subspace'."""
    vecs = np.array([pc_vector(masks[j]) for j in idx])
    q = vecs.mean(axis=0)
    score = vecs @ q / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(q) + 1e-12)
    return int(idx[int(np.argmax(score))])


def substitution_rates(
    unit: np.ndarray,
    masks: Sequence[int],
    targets: Sequence[tuple[int, int]],
    ns: Sequence[int],
    counts: Sequence[float] | None = None,
    allowed: np.ndarray | None = None,
) -> dict:
    """For each neighbourhood size n, the share of substitutes that stay in the target's key.

    ``targets``: (vocabulary index, scale mask of the piece's key). A substitute is drawn from the n nearest
    neighbours of the target (``allowed`` rows only): ``uniform`` = the expected in-key share of a uniform
    draw among them (exactly: their in-key fraction), ``matched`` = the in-key share of the pitch-class
    matched pick (:func:`best_match_in_neighbourhood`). Controls: ``random`` = a uniform draw from the whole
    allowed vocabulary, ``random_freq`` = a draw by training frequency (``counts``), both as exact
    expectations (the target itself left out)."""
    masks = list(masks)
    v = len(masks)
    allowed = np.ones(v, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    w = np.ones(v) if counts is None else np.asarray(counts, dtype=float)
    out = {"n": [int(n) for n in ns], "uniform": [], "matched": [], "targets": len(targets)}
    rand, rand_f = [], []
    for i, scale in targets:
        ok = np.array([in_scale(m, scale) for m in masks]) & allowed
        cand = allowed.copy()
        cand[i] = False
        rand.append(ok[cand].mean())
        rand_f.append((w * ok)[cand].sum() / w[cand].sum())
    for n in ns:
        uni, mat = [], []
        for i, scale in targets:
            idx = neighbours(unit, i, n, allowed)
            uni.append(np.mean([in_scale(masks[j], scale) for j in idx]))
            mat.append(in_scale(masks[best_match_in_neighbourhood(masks, idx)], scale))
        out["uniform"].append(float(np.mean(uni)))
        out["matched"].append(float(np.mean(mat)))
    out["random"] = float(np.mean(rand)) if rand else float("nan")
    out["random_freq"] = float(np.mean(rand_f)) if rand_f else float("nan")
    return out
