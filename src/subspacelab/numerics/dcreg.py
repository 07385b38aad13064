"""DCReg: Schur-complement degeneracy detection, physical-axis characterisation and a clamped
preconditioner for the 6x6 normal equations of point-to-plane ICP, plus the baselines it is
compared with.

Hu, Chen, Jia, Wu, Tan, Waslander. "DCReg: Decoupled Characterization for Efficient Degenerate
LiDAR Registration". arXiv:2509.06285 (IJRR 2026). Official code: github.com/JokerJohn/DCReg.

The equations below were read from the official code (``DCReg/include/dcreg.hpp``, which cites
the paper's equation numbers in its comments) and its configuration (``DCReg/config/icp.yaml``,
``DCReg/include/utils.hpp``); the baselines from the ``baseline`` branch's ``DCReg.h``.
Ordering of the 6 unknowns everywhere: ``[roll, pitch, yaw, x, y, z]`` (rotation block first).

Modules (paper Algorithm 1-3):

1. *Detection* (Eq. 18-20): Schur complements ``S_R = H_RR - H_Rt H_tt^-1 H_tR`` and
   ``S_t = H_tt - H_tR H_RR^-1 H_Rt`` and their symmetric eigen-decompositions.
2. *Characterisation* (Eq. 21, 36-38, 43-46): each Schur eigenbasis is matched to the canonical
   axes (greedy max ``|<e_axis, v>|``, sign fixed so ``<e_axis, v> >= 0``); an axis is degenerate
   when ``lambda_max / lambda_axis > kappa_thr`` (per block); weak eigenvalues are clamped to
   ``lambda_max / kappa_target``; the preconditioner is
   ``P = blockdiag(V_R diag(1/lam~_R) V_R^T, V_t diag(1/lam~_t) V_t^T)`` (approximates H^-1).
3. *Mitigation* (Eq. 41-42, Algorithm 3): preconditioned conjugate gradients on ``H x = b`` with
   ``P``; falls back to a column-pivoted QR solve when the Schur factorisation or PCG fails.

Baselines (``DCReg/config/icp.yaml`` ``test_methods``): ME = smallest eigenvalues of H below an
absolute threshold (120); FCN = full condition number above 10; handled by solution remapping
(SR, Zhang et al. ICRA 2016: project the solution onto the well-conditioned eigenvectors), truncated
SVD (TSVD) or Tikhonov regularisation ``H + gamma I`` (gamma = 100).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

AXES = ("roll", "pitch", "yaw", "x", "y", "z")

# Settings of the official code (utils.hpp SolverParameters; config/icp.yaml).
COND_THRESHOLD = 10.0  # degeneracy_condition_threshold
KAPPA_TARGET = 10.0  # kappa_target
PCG_TOL = 1e-6  # pcg_tolerance
PCG_MAX_ITER = 10  # pcg_max_iterations
EIG_THRESHOLD = 120.0  # DEGENERACY_THRES_EIG (ME detection), TSVD / SR thresholds
TIKHONOV_GAMMA = 100.0  # STD_REG_GAMMA


# ----------------------------------------------------------------------------------------------
# Linear algebra helpers
# ----------------------------------------------------------------------------------------------


def symmetrize(h: np.ndarray) -> np.ndarray:
    """``(H + H^T) / 2``."""
    h = np.asarray(h, dtype=float)
    return 0.5 * (h + h.T)


def split_blocks(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 3x3 blocks ``H_RR, H_Rt, H_tR, H_tt`` of a 6x6 matrix ordered [rotation; translation]."""
    h = np.asarray(h, dtype=float)
    if h.shape != (6, 6):
        raise ValueError(f"H must be 6x6, got {h.shape}")
    return h[:3, :3], h[:3, 3:], h[3:, :3], h[3:, 3:]


def is_invertible(a: np.ndarray, rtol: float | None = None) -> bool:
    """Numerical invertibility as a rank-revealing factorisation judges it: the smallest singular
    value above ``rtol * largest`` (``rtol`` defaults to ``n * eps``, Eigen's FullPivLU threshold)."""
    s = np.linalg.svd(a, compute_uv=False)
    if not np.all(np.isfinite(s)) or s[0] == 0.0:
        return False
    tol = (a.shape[0] * np.finfo(float).eps) if rtol is None else rtol
    return bool(s[-1] > tol * s[0])


def qr_solve(h: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least-squares solve of ``H x = b`` by column-pivoted Householder QR (the code's
    ``colPivHouseholderQr().solve``): columns whose pivot falls below ``n * eps * |R_00|`` are
    treated as rank-deficient and their unknowns set to zero (a basic solution)."""
    h = np.asarray(h, dtype=float)
    b = np.asarray(b, dtype=float)
    q, r, piv = scipy.linalg.qr(h, pivoting=True)
    diag = np.abs(np.diag(r))
    if diag.size == 0 or diag[0] == 0.0:
        return np.zeros(h.shape[1])
    rank = int(np.sum(diag > h.shape[0] * np.finfo(float).eps * diag[0]))
    y = q.T @ b
    z = np.zeros(h.shape[1])
    z[:rank] = scipy.linalg.solve_triangular(r[:rank, :rank], y[:rank])
    x = np.zeros(h.shape[1])
    x[piv] = z
    return x


# ----------------------------------------------------------------------------------------------
# Module 1: Schur-complement detection (paper Eq. 18-20)
# ----------------------------------------------------------------------------------------------


def schur_complements(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation Schur complements of H (paper Eq. 18):

    ``S_R = H_RR - H_Rt H_tt^-1 H_tR`` (rotation information once translation is free) and
    ``S_t = H_tt - H_tR H_RR^-1 H_Rt``. Raises ``np.linalg.LinAlgError`` when a diagonal block is
    singular (the code then marks every axis degenerate and falls back to QR)."""
    h_rr, h_rt, h_tr, h_tt = split_blocks(symmetrize(h))
    if not (is_invertible(h_rr) and is_invertible(h_tt)):
        raise np.linalg.LinAlgError("a diagonal 3x3 block of H is singular")
    s_r = h_rr - h_rt @ np.linalg.solve(h_tt, h_tr)
    s_t = h_tt - h_tr @ np.linalg.solve(h_rr, h_rt)
    return symmetrize(s_r), symmetrize(s_t)


def full_condition_number(h: np.ndarray) -> float:
    """``sigma_max / sigma_min`` of the full 6x6 H (inf when sigma_min <= 1e-12), as the code reports."""
    s = np.linalg.svd(np.asarray(h, dtype=float), compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 1e-12 else float("inf")


# ----------------------------------------------------------------------------------------------
# Module 2: physical-axis characterisation (paper Eq. 21, 36-38, 43-46; Algorithm 2)
# ----------------------------------------------------------------------------------------------


def align_eigenbasis_to_axes(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Match the columns of an orthonormal 3x3 eigenbasis to the canonical axes x, y, z (paper
    Eq. 36-38): for each axis in turn pick the unused column with the largest ``|<e_axis, v>|``
    and flip its sign so that ``<e_axis, v> >= 0``.

    Returns ``(aligned, idx)`` with ``aligned[:, a] = +-v[:, idx[a]]``."""
    v = np.asarray(v, dtype=float)
    aligned = np.zeros((3, 3))
    idx = np.full(3, -1, dtype=int)
    used = np.zeros(3, dtype=bool)
    for axis in range(3):
        scores = np.abs(v[axis, :])
        scores[used] = -1.0
        best = int(np.argmax(scores))
        used[best] = True
        idx[axis] = best
        col = v[:, best]
        aligned[:, axis] = -col if col[axis] < 0.0 else col
    return aligned, idx


def per_axis_condition(lam_aligned: np.ndarray) -> np.ndarray:
    """``lambda_max / lambda_axis`` for each aligned axis of one block (paper Eq. 21; the code
    floors the denominator at 1e-12)."""
    lam = np.asarray(lam_aligned, dtype=float)
    return lam.max() / np.maximum(lam, 1e-12)


def clamp_weak_eigenvalues(lam_aligned: np.ndarray, weak: np.ndarray, kappa_target: float) -> np.ndarray:
    """Replace the weak (degenerate) eigenvalues by ``max(lambda_max / kappa_target, 1e-9)``
    (paper Eq. 46); the others are kept as they are."""
    lam = np.asarray(lam_aligned, dtype=float).copy()
    floor = max(lam.max() / kappa_target, 1e-9)
    lam[np.asarray(weak, dtype=bool)] = floor
    return lam


def block_preconditioner(
    v_rot: np.ndarray, lam_rot: np.ndarray, v_trans: np.ndarray, lam_trans: np.ndarray
) -> np.ndarray:
    """``P = blockdiag(V_R diag(1/lam_R) V_R^T, V_t diag(1/lam_t) V_t^T)`` (paper Eq. 43-44);
    eigenvalues are floored at 1e-9 as in the code."""
    p = np.zeros((6, 6))
    p[:3, :3] = (v_rot / np.maximum(lam_rot, 1e-9)) @ v_rot.T
    p[3:, 3:] = (v_trans / np.maximum(lam_trans, 1e-9)) @ v_trans.T
    return p


@dataclass
class Characterization:
    """What DCReg knows about one H: raw and axis-aligned Schur spectra, the degeneracy mask over
    ``AXES``, the clamped eigenvalues and the preconditioner."""

    ok: bool
    mask: np.ndarray  # (6,) bool over AXES
    cond_full: float
    cond_schur_rot: float = float("nan")
    cond_schur_trans: float = float("nan")
    lam_rot: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))  # raw, ascending
    lam_trans: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    lam_rot_aligned: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))  # roll, pitch, yaw
    lam_trans_aligned: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))  # x, y, z
    lam_rot_clamped: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    lam_trans_clamped: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    v_rot_aligned: np.ndarray = field(default_factory=lambda: np.eye(3))
    v_trans_aligned: np.ndarray = field(default_factory=lambda: np.eye(3))
    idx_rot: np.ndarray = field(default_factory=lambda: np.arange(3))
    idx_trans: np.ndarray = field(default_factory=lambda: np.arange(3))
    preconditioner: np.ndarray = field(default_factory=lambda: np.eye(6))

    @property
    def degenerate(self) -> bool:
        return bool(np.any(self.mask))

    @property
    def contribution_rot(self) -> np.ndarray:
        """Squared loadings of the aligned rotation eigenvectors (column sums are one)."""
        return self.v_rot_aligned**2

    @property
    def contribution_trans(self) -> np.ndarray:
        return self.v_trans_aligned**2


def characterize(
    h: np.ndarray, cond_threshold: float = COND_THRESHOLD, kappa_target: float = KAPPA_TARGET
) -> Characterization:
    """Detection + characterisation of one 6x6 H (paper Algorithms 1-2, the code's
    ``DetectDegeneracy`` and ``CharacterizeDegeneracy``). When a diagonal block is singular the
    result has ``ok=False`` and every axis flagged."""
    h = symmetrize(h)
    cond_full = full_condition_number(h)
    try:
        s_r, s_t = schur_complements(h)
    except np.linalg.LinAlgError:
        return Characterization(ok=False, mask=np.ones(6, dtype=bool), cond_full=cond_full)
    lam_r, v_r = np.linalg.eigh(s_r)
    lam_t, v_t = np.linalg.eigh(s_t)
    va_r, idx_r = align_eigenbasis_to_axes(v_r)
    va_t, idx_t = align_eigenbasis_to_axes(v_t)
    la_r, la_t = lam_r[idx_r], lam_t[idx_t]
    weak_r = per_axis_condition(la_r) > cond_threshold
    weak_t = per_axis_condition(la_t) > cond_threshold
    lc_r = clamp_weak_eigenvalues(la_r, weak_r, kappa_target)
    lc_t = clamp_weak_eigenvalues(la_t, weak_t, kappa_target)
    return Characterization(
        ok=True,
        mask=np.concatenate([weak_r, weak_t]),
        cond_full=cond_full,
        cond_schur_rot=float(lam_r.max() / max(lam_r.min(), 1e-12)),
        cond_schur_trans=float(lam_t.max() / max(lam_t.min(), 1e-12)),
        lam_rot=lam_r,
        lam_trans=lam_t,
        lam_rot_aligned=la_r,
        lam_trans_aligned=la_t,
        lam_rot_clamped=lc_r,
        lam_trans_clamped=lc_t,
        v_rot_aligned=va_r,
        v_trans_aligned=va_t,
        idx_rot=idx_r,
        idx_trans=idx_t,
        preconditioner=block_preconditioner(va_r, lc_r, va_t, lc_t),
    )


# ----------------------------------------------------------------------------------------------
# Module 3: preconditioned conjugate gradients (paper Eq. 41-42, Algorithm 3)
# ----------------------------------------------------------------------------------------------


@dataclass
class PCGResult:
    x: np.ndarray
    iterations: int
    relative_residual: float
    converged: bool


def pcg(
    h: np.ndarray, b: np.ndarray, p: np.ndarray, tol: float = PCG_TOL, max_iter: int = PCG_MAX_ITER
) -> PCGResult:
    """Preconditioned CG for SPD ``H x = b`` from ``x0 = 0`` with left preconditioner ``P ~ H^-1``
    (``z = P r``; ``alpha = r^T z / p^T H p``; ``beta = r_new^T z_new / r^T z``).

    Stopping rule of the code: ``||r|| <= tol * max(1, ||b||)``; at most ``max(max_iter, 6)``
    iterations; a breakdown (non-finite or ~0 denominators) stops early with ``converged=False``."""
    h = symmetrize(h)
    b = np.asarray(b, dtype=float)
    b_norm = float(np.linalg.norm(b))
    scale = max(1.0, b_norm)
    x = np.zeros_like(b)
    if b_norm < 1e-12:
        return PCGResult(x, 0, 0.0, True)
    r = b.copy()
    z = p @ r
    d = z.copy()
    rz = float(r @ z)
    if not np.isfinite(rz) or abs(rz) < 1e-20:
        return PCGResult(x, 0, float("nan"), False)
    target = tol * scale
    rel = float("nan")
    its = 0
    for k in range(max(int(max_iter), 6)):
        hd = h @ d
        denom = float(d @ hd)
        if not np.isfinite(denom) or abs(denom) < 1e-20:
            break
        alpha = rz / denom
        x = x + alpha * d
        r = r - alpha * hd
        its = k + 1
        r_norm = float(np.linalg.norm(r))
        rel = r_norm / scale
        if not (np.all(np.isfinite(x)) and np.isfinite(r_norm)):
            break
        if r_norm <= target:
            return PCGResult(x, its, rel, True)
        z = p @ r
        rz_new = float(r @ z)
        if not np.isfinite(rz_new):
            break
        d = z + (rz_new / rz) * d
        rz = rz_new
    return PCGResult(x, its, rel, bool(np.isfinite(rel) and rel <= tol))


@dataclass
class DCRegSolve:
    delta: np.ndarray
    characterization: Characterization
    pcg_iterations: int
    relative_residual: float
    qr_fallback: bool


def dcreg_solve(
    h: np.ndarray,
    b: np.ndarray,
    cond_threshold: float = COND_THRESHOLD,
    kappa_target: float = KAPPA_TARGET,
    tol: float = PCG_TOL,
    max_iter: int = PCG_MAX_ITER,
) -> DCRegSolve:
    """One DCReg update (the code's ``SolvePreconditionedUpdate``): characterise H, run PCG with
    the clamped preconditioner, fall back to :func:`qr_solve` when the factorisation failed, the
    preconditioner is not finite, or PCG did not reach its tolerance."""
    ch = characterize(h, cond_threshold, kappa_target)
    if not ch.ok or not np.all(np.isfinite(ch.preconditioner)):
        return DCRegSolve(qr_solve(h, b), ch, 0, float("nan"), True)
    res = pcg(h, b, ch.preconditioner, tol, max_iter)
    if res.converged and np.all(np.isfinite(res.x)):
        return DCRegSolve(res.x, ch, res.iterations, res.relative_residual, False)
    return DCRegSolve(qr_solve(h, b), ch, res.iterations, float("nan"), True)


# ----------------------------------------------------------------------------------------------
# Baselines (DCReg baseline branch, DCReg.h: analyzeDegeneracy / solveDegenerateSystem)
# ----------------------------------------------------------------------------------------------


@dataclass
class EigenDetection:
    """A detector over the eigen-directions of the full H (not over physical axes)."""

    eigenvalues: np.ndarray  # ascending
    eigenvectors: np.ndarray  # columns
    mask: np.ndarray  # (6,) bool per eigen-direction

    @property
    def degenerate(self) -> bool:
        return bool(np.any(self.mask))


def detect_min_eigenvalue(h: np.ndarray, threshold: float = EIG_THRESHOLD) -> EigenDetection:
    """ME detection (Zhang et al. 2016, as in the baseline code): every eigen-direction of H whose
    eigenvalue is below an absolute threshold is degenerate."""
    lam, v = np.linalg.eigh(symmetrize(h))
    return EigenDetection(lam, v, lam < threshold)


def detect_full_condition(h: np.ndarray, threshold: float = COND_THRESHOLD) -> EigenDetection:
    """FCN detection (baseline code): degenerate when the full condition number exceeds the
    threshold; then each eigen-direction with ``lambda_max / lambda_i > threshold`` is flagged."""
    h = symmetrize(h)
    lam, v = np.linalg.eigh(h)
    mask = np.zeros(6, dtype=bool)
    if full_condition_number(h) > threshold:
        mask = lam.max() / np.maximum(lam, 1e-300) > threshold
    return EigenDetection(lam, v, mask)


def solve_plain(h: np.ndarray, b: np.ndarray) -> np.ndarray:
    """No degeneracy handling: column-pivoted QR on the raw normal equations."""
    return qr_solve(h, b)


def solve_solution_remapping(h: np.ndarray, b: np.ndarray, det: EigenDetection) -> np.ndarray:
    """Solution remapping (Zhang, Kaess, Singh, ICRA 2016) as in the baseline code: solve the raw
    system, then project the update onto the span of the well-conditioned eigenvectors
    (degenerate eigen-directions receive no update)."""
    x = qr_solve(h, b)
    if not det.degenerate:
        return x
    good = det.eigenvectors[:, ~det.mask]
    return good @ (good.T @ x)


def solve_tsvd(h: np.ndarray, b: np.ndarray, det: EigenDetection) -> np.ndarray:
    """Truncated SVD: ``x = sum_{i kept} v_i (u_i^T b) / sigma_i`` over the directions the detector
    did not flag (and sigma_i > 1e-9). For symmetric PSD H the SVD is the EVD.

    [reconstructed] The released baseline indexes its mask (ascending eigenvalue order) into the
    singular values (descending order); we drop the flagged directions themselves."""
    keep = (~det.mask) & (det.eigenvalues > 1e-9)
    v = det.eigenvectors[:, keep]
    return v @ ((v.T @ np.asarray(b, dtype=float)) / det.eigenvalues[keep])


def solve_tikhonov(
    h: np.ndarray, b: np.ndarray, det: EigenDetection, gamma: float = TIKHONOV_GAMMA
) -> np.ndarray:
    """Tikhonov (standard) regularisation: when the detector fires, solve ``(H + gamma I) x = b``."""
    h = np.asarray(h, dtype=float)
    if not det.degenerate:
        return qr_solve(h, b)
    return qr_solve(h + gamma * np.eye(h.shape[0]), b)


# ----------------------------------------------------------------------------------------------
# Detector comparisons (ours: reading every detector's output as a mask over physical axes)
# ----------------------------------------------------------------------------------------------


def eigen_mask_to_axes(det: EigenDetection) -> np.ndarray:
    """Physical-axis mask of an eigen-direction detector: each flagged eigenvector of the full H is
    attributed to the axis carrying its largest absolute component. [ours: ME/FCN do not name axes;
    this is the natural reading used to compare detectors]"""
    axes = np.zeros(6, dtype=bool)
    for i in np.flatnonzero(det.mask):
        axes[int(np.argmax(np.abs(det.eigenvectors[:, i])))] = True
    return axes


def block_diagonal_mask(h: np.ndarray, cond_threshold: float = COND_THRESHOLD) -> np.ndarray:
    """Ablation of Module 1: DCReg's per-axis test applied to the *diagonal blocks* ``H_RR`` and
    ``H_tt`` directly (no Schur complement), i.e. ignoring rotation-translation coupling.
    [ours: the comparison the paper's decoupling argument is about]"""
    h_rr, _, _, h_tt = split_blocks(symmetrize(h))
    out = []
    for blk in (h_rr, h_tt):
        lam, v = np.linalg.eigh(blk)
        _, idx = align_eigenbasis_to_axes(v)
        out.append(per_axis_condition(lam[idx]) > cond_threshold)
    return np.concatenate(out)


def mask_string(mask: np.ndarray) -> str:
    """``"roll+x"``-style name of an axis mask ("none" when empty)."""
    names = [a for a, m in zip(AXES, np.asarray(mask, dtype=bool), strict=True) if m]
    return "+".join(names) if names else "none"
