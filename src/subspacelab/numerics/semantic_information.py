"""Semantic information measures (Lu's "G theory") and the algorithms built on them, in plain numpy.

Notation (discrete x_i, i = 1..m; labels y_j, j = 1..n; every information in bits):

- a Shannon channel is the matrix ``channel[i, j] = P(y_j | x_i)`` (rows sum to 1);
- a semantic channel is a matrix of truth (membership) functions ``truth[i, j] = T(θ_j | x_i)`` in [0, 1];
- the logical probability of y_j is T(θ_j) = Σ_i P(x_i) T(θ_j | x_i) (it need not sum to 1 over j);
- semantic Bayes: P(x_i | θ_j) = P(x_i) T(θ_j | x_i) / T(θ_j);
- semantic information I(x_i; θ_j) = log T(θ_j | x_i) / T(θ_j) = log P(x_i | θ_j) / P(x_i);
- semantic mutual information G = I(X; Θ) = Σ_ij P(x_i, y_j) I(x_i; θ_j). Since
  I(X; Y) − G = Σ_j P(y_j) KL(P(x | y_j) ‖ P(x | θ_j)) ≥ 0, G never exceeds Shannon's I(X; Y), with equality
  exactly when every used label's semantic Bayes prediction equals the Shannon one, i.e. when
  T(θ_j | x) ∝ P(y_j | x) (the semantic channel matches the Shannon channel);
- logical Bayesian inference: the truth function that maximises G for a labelled sample is
  T*(θ_j | x) = P(y_j | x) / max_x P(y_j | x).

Algorithms:

- Channels' matching (CM) for maximum-mutual-information (MMI) classification of unseen instances: the true
  class x is seen through a feature z (here a discretised cell), a classifier is a partition of the z-cells
  into labels, and its Shannon channel is P(y_j | x_i) = Σ_{z in label j} P(z | x_i). Matching I sets the
  semantic channel to the Shannon one (T ∝ P(y_j | x)); Matching II relabels every z by
  argmax_j Σ_i P(x_i | z) I(x_i; θ_j). The Shannon MI never decreases: the new partition's semantic MI
  (with the old truth functions) is at least the old I(X; Y), and its own I(X; Y) is at least that.
- The R(G) function: for a slope parameter s, P(y_j | x_i) ∝ P(y_j) m_ij^s with m_ij = T(θ_j | x_i) / T(θ_j)
  and P(y) iterated to its fixed point; R(s) is that channel's Shannon MI, G(s) its semantic MI, dR/dG = s.
- EM and CM-EM for 1-D Gaussian mixtures on weighted points (a sample, or a sampling distribution on a grid).
  CM-EM repeats the mixture-ratio update P(y_j) <- Σ_x P(x) P(y_j | x) with the components fixed until the
  ratios converge, then takes the same M-step as EM (weighted maximum likelihood of each component).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

# --- Shannon measures ---------------------------------------------------------------------------------------


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x · log2(y) with 0 · log(anything) = 0."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    out = np.zeros(x.shape)
    pos = x > 0
    with np.errstate(divide="ignore"):
        out[pos] = x[pos] * np.log2(y[pos])
    return out


def entropy(p: np.ndarray) -> float:
    """Shannon entropy H(p) in bits of a probability vector (or of every entry of an array summing to 1)."""
    p = np.asarray(p, dtype=float)
    return float(-_xlogy(p, p).sum())


def binary_entropy(p: float) -> float:
    """H(p) = −p log p − (1 − p) log(1 − p), bits."""
    return entropy(np.array([p, 1.0 - p]))


def mutual_information(joint: np.ndarray) -> float:
    """I(X; Y) in bits of a joint distribution ``joint[i, j] = P(x_i, y_j)`` (normalised here)."""
    joint = np.asarray(joint, dtype=float)
    joint = joint / joint.sum()
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    return float(_xlogy(joint, joint / np.where(px * py > 0, px * py, 1.0)).sum())


def joint_of(p_x: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """P(x_i, y_j) = P(x_i) P(y_j | x_i)."""
    return np.asarray(p_x, dtype=float)[:, None] * np.asarray(channel, dtype=float)


def channel_mutual_information(p_x: np.ndarray, channel: np.ndarray) -> float:
    """I(X; Y) in bits of a source P(x) through a Shannon channel ``channel[i, j] = P(y_j | x_i)``."""
    return mutual_information(joint_of(p_x, channel))


# --- semantic channel ---------------------------------------------------------------------------------------


def logical_probability(p_x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """T(θ_j) = Σ_i P(x_i) T(θ_j | x_i) for every label j."""
    return np.asarray(p_x, dtype=float) @ np.asarray(truth, dtype=float)


def semantic_bayes(p_x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The semantic Bayes prediction ``out[i, j] = P(x_i | θ_j) = P(x_i) T(θ_j | x_i) / T(θ_j)``."""
    t = logical_probability(p_x, truth)
    return np.asarray(p_x, dtype=float)[:, None] * np.asarray(truth, dtype=float) / np.where(t > 0, t, 1.0)


def semantic_information(p_x: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``out[i, j] = I(x_i; θ_j) = log2 T(θ_j | x_i) / T(θ_j)`` (−inf where the truth value is 0, and for a
    label whose logical probability is 0: a label that is never true conveys no usable information)."""
    truth = np.asarray(truth, dtype=float)
    t = logical_probability(p_x, truth)
    with np.errstate(divide="ignore", invalid="ignore"):
        info = np.log2(truth) - np.log2(np.where(t > 0, t, 1.0))
    info[:, t <= 0] = -np.inf
    return info


def semantic_mutual_information(joint: np.ndarray, truth: np.ndarray) -> float:
    """G = I(X; Θ) = Σ_ij P(x_i, y_j) log2 T(θ_j | x_i) / T(θ_j), T(θ_j) from the joint's own P(x).

    Never larger than ``mutual_information(joint)``; equal when ``truth`` is proportional, label by label,
    to the joint's P(y_j | x). −inf when a pair with P(x_i, y_j) > 0 has truth value 0."""
    joint = np.asarray(joint, dtype=float)
    joint = joint / joint.sum()
    info = semantic_information(joint.sum(1), truth)
    terms = np.where(joint > 0, joint * np.where(joint > 0, info, 0.0), 0.0)
    return float(terms.sum())


def logical_bayes_truth(channel: np.ndarray) -> np.ndarray:
    """Logical Bayesian inference: T*(θ_j | x) = P(y_j | x) / max_x P(y_j | x), column by column (a column
    that is zero everywhere, a label never used, stays zero)."""
    channel = np.asarray(channel, dtype=float)
    top = channel.max(axis=0, keepdims=True)
    return channel / np.where(top > 0, top, 1.0)


def truth_from_likelihood(likelihood: np.ndarray, p_x: np.ndarray) -> np.ndarray:
    """T*(θ_j | x) = [P(x | y_j) / P(x)] / max_x [P(x | y_j) / P(x)] (the same function as
    :func:`logical_bayes_truth` of P(y_j | x), written with the likelihood; columns are labels)."""
    ratio = np.asarray(likelihood, dtype=float) / np.asarray(p_x, dtype=float)[:, None]
    return logical_bayes_truth(ratio)


def posterior_with_prior(truth: np.ndarray, logical_prob: np.ndarray, prior_y: np.ndarray) -> np.ndarray:
    """P(y_j | x) ∝ P(y_j) T(θ_j | x) / T(θ_j): the semantic channel with a (possibly new) label prior P(y).

    ``truth`` has one row per instance; ``logical_prob`` is T(θ_j) on the source the truth functions were
    learned from, so T(θ_j | x) / T(θ_j) = P(x | θ_j) / P(x) is a likelihood ratio and the result is
    Bayes' posterior for the prior ``prior_y`` without relearning anything."""
    w = (
        np.asarray(prior_y, dtype=float)
        * np.asarray(truth, dtype=float)
        / np.asarray(logical_prob, dtype=float)
    )
    return w / w.sum(axis=1, keepdims=True)


# --- channels' matching for MMI classification --------------------------------------------------------------


def partition_channel(p_z_given_x: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """The Shannon channel of a classifier that labels cell z with ``labels[z]``:
    ``out[i, j] = P(y_j | x_i) = Σ_{z: labels[z] = j} P(z | x_i)``."""
    p_z_given_x = np.asarray(p_z_given_x, dtype=float)
    onehot = np.zeros((p_z_given_x.shape[1], n_labels))
    onehot[np.arange(onehot.shape[0]), np.asarray(labels, dtype=int)] = 1.0
    return p_z_given_x @ onehot


def partition_information(
    p_x: np.ndarray, p_z_given_x: np.ndarray, labels: np.ndarray, n_labels: int
) -> float:
    """I(X; Y) in bits between the true class and the label of the partition ``labels``."""
    return channel_mutual_information(p_x, partition_channel(p_z_given_x, labels, n_labels))


def cm_relabel(p_x: np.ndarray, p_z_given_x: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """One CM iteration. Matching I: the truth functions T(θ_j | x) ∝ P(y_j | x) of the current partition.
    Matching II: each cell z gets argmax_j Σ_i P(x_i | z) I(x_i; θ_j), the label that conveys the most
    semantic information about the class given z (a label no cell uses carries −inf and is never chosen)."""
    p_x = np.asarray(p_x, dtype=float)
    p_z_given_x = np.asarray(p_z_given_x, dtype=float)
    info = semantic_information(p_x, logical_bayes_truth(partition_channel(p_z_given_x, labels, n_labels)))
    joint_xz = p_x[:, None] * p_z_given_x  # P(x_i, z), m x K
    p_z = joint_xz.sum(0)
    post = joint_xz / np.where(p_z > 0, p_z, 1.0)  # P(x_i | z)
    score = np.zeros((p_z_given_x.shape[1], n_labels))
    for j in range(n_labels):
        col = info[:, j][:, None]
        score[:, j] = np.where(post > 0, post * np.where(post > 0, col, 0.0), 0.0).sum(0)
        score[:, j] = np.where(np.any((post > 0) & np.isneginf(col), axis=0), -np.inf, score[:, j])
    return np.argmax(score, axis=1)


@dataclass
class CMResult:
    """The CM iterations from one initial partition: ``mi[k]`` is I(X; Y) after k iterations (k = 0: the
    initial partition) and ``semantic_mi[k]`` the semantic MI of partition k under the truth functions
    learned from partition k − 1 (nan for k = 0)."""

    labels: np.ndarray
    mi: list[float] = field(default_factory=list)
    semantic_mi: list[float] = field(default_factory=list)
    converged_at: int | None = None  # first k whose partition equals partition k − 1


def cm_classify(
    p_x: np.ndarray, p_z_given_x: np.ndarray, labels0: np.ndarray, n_labels: int, max_iter: int = 20
) -> CMResult:
    """Iterate :func:`cm_relabel` from ``labels0`` for ``max_iter`` iterations (or until the partition stops
    changing; the traces are then padded with the fixed point's values so every run has max_iter + 1)."""
    labels = np.asarray(labels0, dtype=int).copy()
    res = CMResult(labels, [partition_information(p_x, p_z_given_x, labels, n_labels)], [float("nan")])
    for k in range(1, max_iter + 1):
        if res.converged_at is None:
            truth = logical_bayes_truth(partition_channel(p_z_given_x, labels, n_labels))
            new = cm_relabel(p_x, p_z_given_x, labels, n_labels)
            g = semantic_mutual_information(
                joint_of(p_x, partition_channel(p_z_given_x, new, n_labels)), truth
            )
            if np.array_equal(new, labels):
                res.converged_at = k
            labels = new
            res.mi.append(partition_information(p_x, p_z_given_x, labels, n_labels))
            res.semantic_mi.append(g)
        else:
            res.mi.append(res.mi[-1])
            res.semantic_mi.append(res.semantic_mi[-1])
    res.labels = labels
    return res


def hill_climb_mmi(
    p_x: np.ndarray, p_z_given_x: np.ndarray, labels0: np.ndarray, n_labels: int, max_moves: int = 100_000
) -> tuple[np.ndarray, float]:
    """A local maximum of I(X; Y) over partitions by best-improvement single-cell relabelling (every cell,
    every other label, evaluated exactly); returns (labels, I). A reference for the MMI, not a proof of it."""
    p_x = np.asarray(p_x, dtype=float)
    pzx = np.asarray(p_z_given_x, dtype=float)
    labels = np.asarray(labels0, dtype=int).copy()
    n_cells = pzx.shape[1]
    channel = partition_channel(pzx, labels, n_labels)

    def mi_of(ch: np.ndarray) -> np.ndarray:  # ch: (..., m, n) -> (...)
        joint = p_x[:, None] * ch
        py = joint.sum(-2, keepdims=True)
        ratio = ch / np.where(py > 0, py, 1.0)
        return _xlogy(joint, np.where(joint > 0, ratio, 1.0)).sum((-2, -1))

    best = float(mi_of(channel))
    cells = np.arange(n_cells)
    for _ in range(max_moves):
        # candidate channels for moving cell z from labels[z] to label b: (n_cells, n_labels, m, n)
        cand = np.repeat(np.repeat(channel[None, None], n_cells, 0), n_labels, 1)
        cand[cells, :, :, labels] -= pzx.T[:, None, :]
        for b in range(n_labels):
            cand[:, b, :, b] += pzx.T
        gains = mi_of(np.clip(cand, 0.0, None)) - best
        gains[cells, labels] = -np.inf
        z, b = np.unravel_index(int(np.argmax(gains)), gains.shape)
        if gains[z, b] <= 1e-12:
            break
        channel = np.clip(cand[z, b], 0.0, None)
        labels[z] = b
        best = float(mi_of(channel))
    return labels, best


def brute_force_mmi(p_x: np.ndarray, p_z_given_x: np.ndarray, n_labels: int) -> tuple[np.ndarray, float]:
    """The exact MMI over all n_labels^K partitions of K cells (small K only); returns (labels, I)."""
    n_cells = np.asarray(p_z_given_x).shape[1]
    if n_labels**n_cells > 2_000_000:
        raise ValueError(f"brute_force_mmi: {n_labels}^{n_cells} partitions are too many")
    best, arg = -np.inf, None
    for labels in itertools.product(range(n_labels), repeat=n_cells):
        v = partition_information(p_x, p_z_given_x, np.array(labels), n_labels)
        if v > best + 1e-15:
            best, arg = v, np.array(labels)
    return arg, float(best)


# --- the R(G) function --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RGPoint:
    s: float
    R: float  # Shannon MI of the channel P(y_j | x_i) ∝ P(y_j) m_ij^s, bits
    G: float  # its semantic MI under the fixed truth functions, bits
    channel: np.ndarray
    prior_y: np.ndarray


def r_of_g(
    p_x: np.ndarray,
    truth: np.ndarray,
    s: float,
    prior_y: np.ndarray | None = None,
    tol: float = 1e-12,
    max_iter: int = 10_000,
) -> RGPoint:
    """One point of the R(G) function with slope parameter ``s``: the channel P(y_j | x_i) ∝ P(y_j) m_ij^s,
    m_ij = T(θ_j | x_i) / T(θ_j), with P(y_j) <- Σ_i P(x_i) P(y_j | x_i) iterated to its fixed point from
    ``prior_y`` (uniform by default); truth values must be positive."""
    p_x = np.asarray(p_x, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if np.any(truth <= 0):
        raise ValueError("r_of_g: truth values must be > 0 (m_ij^s needs log m_ij)")
    log_m = np.log(truth) - np.log(logical_probability(p_x, truth))[None, :]
    py = np.full(truth.shape[1], 1.0 / truth.shape[1]) if prior_y is None else np.asarray(prior_y, float)
    for _ in range(max_iter):
        logw = np.log(np.where(py > 0, py, 1e-300))[None, :] + s * log_m
        channel = np.exp(logw - logw.max(1, keepdims=True))
        channel /= channel.sum(1, keepdims=True)
        new = p_x @ channel
        done = np.abs(new - py).max() < tol
        py = new
        if done:
            break
    logw = np.log(np.where(py > 0, py, 1e-300))[None, :] + s * log_m
    channel = np.exp(logw - logw.max(1, keepdims=True))
    channel /= channel.sum(1, keepdims=True)
    joint = joint_of(p_x, channel)
    g = float((joint * log_m).sum() / np.log(2))
    return RGPoint(float(s), mutual_information(joint), g, channel, py)


# --- 1-D Gaussian mixtures: EM and CM-EM --------------------------------------------------------------------


@dataclass(frozen=True)
class Mixture1D:
    """A 1-D Gaussian mixture: ratios P(y_j), means, standard deviations."""

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray

    def components(self, x: np.ndarray) -> np.ndarray:
        """``out[t, j] = P(x_t | θ_j)``, the component densities at the points."""
        x = np.asarray(x, dtype=float)[:, None]
        return np.exp(-0.5 * ((x - self.means) / self.sds) ** 2) / (np.sqrt(2 * np.pi) * self.sds)

    def density(self, x: np.ndarray) -> np.ndarray:
        return self.components(x) @ self.weights


def responsibilities(x: np.ndarray, mix: Mixture1D) -> np.ndarray:
    """The E-step: P(y_j | x_t) = P(y_j) P(x_t | θ_j) / Σ_k P(y_k) P(x_t | θ_k)."""
    w = mix.components(x) * mix.weights
    total = w.sum(1, keepdims=True)
    return w / np.where(total > 0, total, 1e-300)


def m_step(x: np.ndarray, p_x: np.ndarray, resp: np.ndarray, min_sd: float = 1e-6) -> Mixture1D:
    """Weighted maximum likelihood of every component (the M-step): P(y_j) = Σ_t P(x_t) P(y_j | x_t);
    mean and variance of P(x | y_j) = P(x) P(y_j | x) / P(y_j)."""
    x = np.asarray(x, dtype=float)
    wr = np.asarray(p_x, dtype=float)[:, None] * resp
    mass = wr.sum(0)
    safe = np.where(mass > 0, mass, 1e-300)
    means = (wr * x[:, None]).sum(0) / safe
    var = (wr * (x[:, None] - means) ** 2).sum(0) / safe
    return Mixture1D(mass / mass.sum(), means, np.sqrt(np.maximum(var, min_sd**2)))


def em_step(x: np.ndarray, p_x: np.ndarray, mix: Mixture1D) -> Mixture1D:
    """One EM iteration: one E-step, one M-step."""
    return m_step(x, p_x, responsibilities(x, mix))


def cm_em_step(
    x: np.ndarray, p_x: np.ndarray, mix: Mixture1D, ratio_tol: float = 1e-8, max_ratio_updates: int = 1000
) -> tuple[Mixture1D, int]:
    """One CM-EM iteration: with the components fixed, repeat P(y_j | x) (E1) and
    P(y_j) <- Σ_x P(x) P(y_j | x) (E2) until the ratios change by less than ``ratio_tol``, then the M-step.
    Returns the new mixture and the number of ratio updates made (>= 1)."""
    x = np.asarray(x, dtype=float)
    p_x = np.asarray(p_x, dtype=float)
    comp = mix.components(x)  # the components do not change in the inner loop
    weights = np.asarray(mix.weights, dtype=float)
    updates = 0
    while updates < max_ratio_updates:
        w = comp * weights
        resp = w / np.where(w.sum(1, keepdims=True) > 0, w.sum(1, keepdims=True), 1e-300)
        new = p_x @ resp
        new = new / new.sum()
        updates += 1
        done = np.abs(new - weights).max() < ratio_tol
        weights = new
        if done:
            break
    w = comp * weights
    resp = w / np.where(w.sum(1, keepdims=True) > 0, w.sum(1, keepdims=True), 1e-300)
    return m_step(x, p_x, resp), updates


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) in bits of two distributions on the same points (both normalised here)."""
    p = np.asarray(p, dtype=float) / np.sum(p)
    q = np.asarray(q, dtype=float) / np.sum(q)
    return float(_xlogy(p, p / np.where(q > 0, q, 1e-300)).sum())


def mixture_kl(x: np.ndarray, p_x: np.ndarray, mix: Mixture1D) -> float:
    """KL(P ‖ Q) in bits between the sampling distribution P on the grid ``x`` and the mixture Q on the same
    grid (normalised there); the quantity Lu writes as R(G) − G for a mixture."""
    return kl_divergence(p_x, mix.density(x))


@dataclass
class MixtureFit:
    mix: Mixture1D
    iterations: int  # outer iterations made (EM: E+M; CM-EM: ratio loop + M)
    ratio_updates: int  # E-step evaluations in all (EM: = iterations)
    kl: list[float]  # KL(P ‖ Q) in bits before the first and after every iteration
    converged: bool


def fit_mixture(
    x: np.ndarray,
    p_x: np.ndarray,
    init: Mixture1D,
    method: str = "em",
    max_iter: int = 1000,
    tol: float = 1e-6,
    ratio_tol: float = 1e-8,
    max_ratio_updates: int = 1000,
) -> MixtureFit:
    """EM (``method="em"``) or CM-EM (``"cm_em"``) from ``init`` on points ``x`` with weights ``p_x`` (a
    sample with weights 1/N or a sampling distribution on a grid). Stops when KL(P ‖ Q) (equivalently the
    weighted log-likelihood) improves by less than ``tol`` bits in an iteration, or after ``max_iter``."""
    if method not in ("em", "cm_em"):
        raise ValueError(f"method: 'em' or 'cm_em', got {method!r}")
    mix = init
    kl = [mixture_kl(x, p_x, mix)]
    updates, converged = 0, False
    for _ in range(max_iter):
        if method == "em":
            mix, k = em_step(x, p_x, mix), 1
        else:
            mix, k = cm_em_step(x, p_x, mix, ratio_tol, max_ratio_updates)
        updates += k
        kl.append(mixture_kl(x, p_x, mix))
        if abs(kl[-2] - kl[-1]) < tol:
            converged = True
            break
    return MixtureFit(mix, len(kl) - 1, updates, kl, converged)


# --- logical Bayesian inference from a labelled sample ------------------------------------------------------


def _kde_log_density(
    train: np.ndarray, query: np.ndarray, h: float, leave_one_out: bool = False
) -> np.ndarray:
    """log of the Gaussian kernel density estimate (isotropic bandwidth ``h``) of ``train`` at ``query``;
    with ``leave_one_out`` the query points are the training points and each leaves itself out."""
    d = train.shape[1]
    sq = ((query[:, None, :] - train[None, :, :]) ** 2).sum(-1) / (2 * h * h)
    if leave_one_out:
        np.fill_diagonal(sq, np.inf)
    n_eff = train.shape[0] - (1 if leave_one_out else 0)
    top = (-sq).max(1, keepdims=True)
    log_sum = top[:, 0] + np.log(np.exp(-sq - top).sum(1))
    return log_sum - np.log(n_eff) - 0.5 * d * np.log(2 * np.pi * h * h)


@dataclass
class KDETruthFunctions:
    """Truth functions learned by logical Bayesian inference from a labelled sample, with Gaussian kernel
    density estimates of P(x | y_j) (one bandwidth per class, chosen by leave-one-out likelihood):
    T(θ_j | x) = r_j(x) / max r_j, r_j(x) = P(x | y_j) / P(x), P(x) = Σ_k P(y_k) P(x | y_k), the maximum and
    the logical probability T(θ_j) = mean over the training instances of T(θ_j | x) both taken on
    leave-one-out values (no instance judges itself). Truth values are clipped to [0, 1]."""

    classes: list[np.ndarray]
    bandwidths: np.ndarray
    prior: np.ndarray
    scale: np.ndarray  # max_x r_j(x) over the training instances
    logical_prob: np.ndarray  # T(θ_j)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, bandwidths) -> KDETruthFunctions:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=int)
        n_cls = int(y.max()) + 1
        classes = [x[y == c] for c in range(n_cls)]
        hs = []
        for pts in classes:
            if len(pts) < 2:
                raise ValueError("KDETruthFunctions: every class needs at least two training instances")
            scores = [_kde_log_density(pts, pts, float(h), leave_one_out=True).sum() for h in bandwidths]
            hs.append(float(bandwidths[int(np.argmax(scores))]))
        prior = np.bincount(y, minlength=n_cls) / len(y)
        model = cls(classes, np.array(hs), prior, np.ones(n_cls), np.ones(n_cls))
        # leave-one-out likelihoods of the training instances: an instance's own class leaves it out
        loglik = np.stack([_kde_log_density(p, x, h) for p, h in zip(classes, hs, strict=True)], axis=1)
        for c, (p, h) in enumerate(zip(classes, hs, strict=True)):
            loglik[y == c, c] = _kde_log_density(p, p, h, leave_one_out=True)
        ratio = model._ratio(loglik)
        model.scale = ratio.max(0)
        model.logical_prob = (ratio / model.scale).mean(0)
        return model

    def _ratio(self, loglik: np.ndarray) -> np.ndarray:
        """r_j(x) = P(x | y_j) / P(x) from per-class log-likelihoods (rows: instances)."""
        top = loglik.max(1, keepdims=True)
        lik = np.exp(loglik - top)
        return lik / (lik @ self.prior)[:, None]

    def log_likelihoods(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.stack(
            [_kde_log_density(p, x, h) for p, h in zip(self.classes, self.bandwidths, strict=True)], axis=1
        )

    def truth(self, x: np.ndarray) -> np.ndarray:
        """T(θ_j | x) for every instance (rows) and label (columns)."""
        return np.clip(self._ratio(self.log_likelihoods(x)) / self.scale, 0.0, 1.0)

    def posterior(self, x: np.ndarray, prior_y: np.ndarray) -> np.ndarray:
        """P(y_j | x) for the label prior ``prior_y`` by :func:`posterior_with_prior` (nothing relearned)."""
        return posterior_with_prior(self.truth(x), self.logical_prob, prior_y)


# --- calibration of predicted class probabilities -----------------------------------------------------------
def calibration_metrics(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    """Log-loss (nats, probabilities clipped at 1e-12), top-label ECE with ``bins`` equal-width bins,
    multi-class Brier score and accuracy of predicted class probabilities ``prob`` (rows) for labels ``y``."""
    prob = np.asarray(prob, dtype=float)
    y = np.asarray(y, dtype=int)
    n = len(y)
    p_true = np.clip(prob[np.arange(n), y], 1e-12, 1.0)
    conf, pred = prob.max(1), prob.argmax(1)
    correct = (pred == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    onehot = np.eye(prob.shape[1])[y]
    return {
        "log_loss": float(-np.log(p_true).mean()),
        "ece": float(ece),
        "brier": float(((prob - onehot) ** 2).sum(1).mean()),
        "accuracy": float(correct.mean()),
    }
