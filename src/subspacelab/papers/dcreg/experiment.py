"""What a DCReg run executes: point-to-plane ICP on one simulated degenerate scene, DCReg's Schur-complement
detection + clamped-preconditioner PCG against plain QR and four degeneracy-aware baselines (ME-SR, ME-TSVD,
ME-TReg, FCN-SR), all on the same scans and initial poses.

One run = one scene and one seed: a map of the scene, then ``trials`` LiDAR scans each registered
from its own random initial pose by every method. Per trial and method: final pose error, iterations,
wall time; for DCReg also the degeneracy mask of every iteration, compared with the scene's
geometrically degenerate axes (and the same H read by the baselines' detectors and by a no-Schur
ablation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from subspacelab.experiments.harness import map_trials, trial_seed, wilson_interval, write_trials
from subspacelab.numerics import dcreg as D
from subspacelab.numerics import icp as I

METHODS = ("plain", "dcreg", "me_sr", "me_tsvd", "me_treg", "fcn_sr")
AWARE = ("me_sr", "me_tsvd", "me_treg", "fcn_sr")  # the degeneracy-aware baselines
DETECTORS = ("dcreg", "me", "fcn", "block")
MAP_HALF = {"corridor": 40.0, "tunnel": 40.0, "planes": 20.0, "room": 40.0, "corridor_pillars": 40.0}
LABEL = {
    "plain": "plain QR",
    "dcreg": "DCReg",
    "me_sr": "ME-SR",
    "me_tsvd": "ME-TSVD",
    "me_treg": "ME-TReg",
    "fcn_sr": "FCN-SR",
}


@dataclass
class Experiment:
    """DCReg experiment: one simulated scene, `trials` LiDAR scans registered from random initial poses by
    every method (point-to-plane ICP; DCReg vs plain QR and four degeneracy-aware baselines).
    Solver settings are the official code's (DCReg/config/icp.yaml, DCReg/include/utils.hpp).

    One scene, ``trials`` scans/initial poses, every method in ``methods`` on each.

    Defaults are the official code's settings (``DCReg/config/icp.yaml``, ``include/utils.hpp``)."""

    TAG: ClassVar[str] = "${.scene}"

    scene: str = "corridor"  # corridor | tunnel | planes | room | corridor_pillars
    trials: int = 8  # scans / initial poses per run (all methods see the same ones)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    n_scan: int = 3000  # points kept from each simulated 32-beam LiDAR scan
    map_density: float = 10.0  # map points per square metre
    noise: float = 0.01  # Gaussian noise (m) on scan and map points
    init_trans: float = 0.3  # initial translation error (m), random direction
    init_rot_deg: float = 2.0  # initial rotation error (deg), random axis
    max_iterations: int = 30
    # DCReg: axis degenerate when lambda_max / lambda_axis > this (per Schur block)
    cond_threshold: float = D.COND_THRESHOLD
    # DCReg: weak eigenvalues clamped to lambda_max / kappa_target in the preconditioner
    kappa_target: float = D.KAPPA_TARGET
    pcg_tol: float = D.PCG_TOL  # PCG stops at ||r|| <= tol * max(1, ||b||)
    pcg_max_iter: int = D.PCG_MAX_ITER  # (at least 6)
    eig_threshold: float = D.EIG_THRESHOLD  # ME baselines: eigen-directions of H below this are degenerate
    tikhonov_gamma: float = D.TIKHONOV_GAMMA  # ME-TReg: H + gamma I when degenerate
    timing_repeats: int = 20  # repeats of each solver on one (H, b) for the per-solve time

    def __post_init__(self):
        self.methods = list(self.methods)
        if self.scene not in I.SCENES:
            raise ValueError(f"scene: {self.scene!r} is not one of {list(I.SCENES)}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or "dcreg" not in self.methods:
            raise ValueError(f"methods: must include 'dcreg' and only {list(METHODS)} (got {self.methods})")
        for name in ("trials", "n_scan", "max_iterations", "pcg_max_iter", "timing_repeats"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1")
        for name in ("map_density", "cond_threshold", "kappa_target", "pcg_tol", "eig_threshold"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name}: must be > 0")
        for name in ("noise", "init_trans", "init_rot_deg", "tikhonov_gamma"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name}: must be >= 0")

    # -- solvers -------------------------------------------------------------------------------

    def solver(self, method: str):
        """``(H, b) -> (delta, info)`` for one method (the ICP loop calls it every iteration)."""
        if method == "plain":
            return lambda h, b: (D.solve_plain(h, b), {})
        if method == "dcreg":

            def dcreg(h, b):
                s = D.dcreg_solve(
                    h, b, self.cond_threshold, self.kappa_target, self.pcg_tol, self.pcg_max_iter
                )
                ch = s.characterization
                return s.delta, {
                    "mask": ch.mask.copy(),
                    "pcg_iterations": s.pcg_iterations,
                    "qr_fallback": s.qr_fallback,
                    "lam_rot": ch.lam_rot_aligned.copy(),
                    "lam_trans": ch.lam_trans_aligned.copy(),
                }

            return dcreg
        detect, handle = method.split("_", 1)

        def baseline(h, b):
            det = (
                D.detect_min_eigenvalue(h, self.eig_threshold)
                if detect == "me"
                else D.detect_full_condition(h, self.cond_threshold)
            )
            if handle == "sr":
                x = D.solve_solution_remapping(h, b, det)
            elif handle == "tsvd":
                x = D.solve_tsvd(h, b, det)
            else:
                x = D.solve_tikhonov(h, b, det, self.tikhonov_gamma)
            return x, {"flagged": int(det.mask.sum())}

        return baseline

    def detector_masks(self, h: np.ndarray) -> dict[str, np.ndarray]:
        """Each detector's reading of H as a mask over the physical axes."""
        return {
            "dcreg": D.characterize(h, self.cond_threshold, self.kappa_target).mask,
            "me": D.eigen_mask_to_axes(D.detect_min_eigenvalue(h, self.eig_threshold)),
            "fcn": D.eigen_mask_to_axes(D.detect_full_condition(h, self.cond_threshold)),
            "block": D.block_diagonal_mask(h, self.cond_threshold),
        }

    # -- one trial -----------------------------------------------------------------------------

    def _trial(self, task: tuple[int, int]) -> dict:
        seed, trial = task
        tgt, tree = scene_map(self.scene, self.map_density, self.noise, seed)
        rng = np.random.default_rng(trial_seed(seed, "dcreg", self.scene, trial))
        src = I.lidar_scan(self.scene, self.n_scan, rng, MAP_HALF[self.scene], self.noise)
        r0, t0 = I.random_perturbation(rng, self.init_trans, self.init_rot_deg)
        params = I.ICPParams(max_iterations=self.max_iterations)
        expected = np.array(I.EXPECTED_MASK[self.scene])
        obs_t, obs_r = ~expected[3:], ~expected[:3]
        records, detection = [], {d: [] for d in DETECTORS}
        extra: dict = {}
        for method in self.methods:
            res = I.icp(src, tgt, tree, r0, t0, self.solver(method), params, keep_systems=(method == "dcreg"))
            err = I.pose_error(np.eye(3), np.zeros(3), res.r, res.t)
            rec = {
                "trial": trial,
                "method": method,
                "trans_err": err.trans_m,
                "rot_err": err.rot_deg,
                "obs_trans_err": float(np.linalg.norm(err.trans_vec[obs_t])),
                "obs_rot_err": float(np.degrees(np.linalg.norm(err.rot_vec[obs_r]))),
                "iterations": res.iterations,
                "converged": res.converged,
                "failure": res.failure,
                "seconds": res.seconds,
                "solve_ms_per_iter": 1e3 * res.solve_seconds / max(res.iterations, 1),
            }
            for a, v in zip(("x", "y", "z"), err.trans_vec, strict=True):
                rec[f"err_{a}"] = float(v)
            records.append(rec)
            if method == "dcreg":
                systems = res.systems
                for h, _ in systems:
                    for d, m in self.detector_masks(h).items():
                        detection[d].append(np.asarray(m, dtype=bool))
                hist = res.history
                extra["pcg_iterations"] = [int(x["pcg_iterations"]) for x in hist]
                extra["qr_fallbacks"] = int(sum(bool(x["qr_fallback"]) for x in hist))
                extra["lam_first"] = (
                    np.concatenate([hist[0]["lam_rot"], hist[0]["lam_trans"]]).tolist() if hist else None
                )
                extra["lam_last"] = (
                    np.concatenate([hist[-1]["lam_rot"], hist[-1]["lam_trans"]]).tolist() if hist else None
                )
                # DCReg's update vs the plain QR update on the very same systems
                diffs = []
                for h, b in systems:
                    x_dc = D.dcreg_solve(
                        h, b, self.cond_threshold, self.kappa_target, self.pcg_tol, self.pcg_max_iter
                    ).delta
                    x_qr = D.solve_plain(h, b)
                    diffs.append(float(np.linalg.norm(x_dc - x_qr) / max(np.linalg.norm(x_qr), 1e-15)))
                extra["max_rel_diff_vs_qr"] = max(diffs) if diffs else float("nan")
                extra["final_system"] = systems[-1] if systems else None
        # per-solve time of every method on the same (H, b): DCReg's last system
        solve_us = {}
        if extra.get("final_system") is not None:
            h, b = extra.pop("final_system")
            for method in self.methods:
                f = self.solver(method)
                best = math.inf
                for _ in range(self.timing_repeats):
                    s0 = time.perf_counter()
                    f(h, b)
                    best = min(best, time.perf_counter() - s0)
                solve_us[method] = 1e6 * best
        else:
            extra.pop("final_system", None)
        for rec in records:
            rec["solve_us"] = solve_us.get(rec["method"], float("nan"))
        return {"records": records, "detection": {d: np.array(v) for d, v in detection.items()}, **extra}

    # -- the run -------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        out_dir = Path(out_dir)
        results = map_trials(self._trial, [(int(seed), t) for t in range(self.trials)], n_jobs)
        records = [r for res in results for r in res["records"]]
        expected = np.array(I.EXPECTED_MASK[self.scene])
        points = []
        for method in self.methods:
            rs = [r for r in records if r["method"] == method]
            points.append({"kind": "method", "scene": self.scene, "method": method, **_summary(rs)})
        det_summary = {}
        for d in DETECTORS:
            masks = np.concatenate([res["detection"][d].reshape(-1, 6) for res in results], axis=0)
            first = np.stack([res["detection"][d][0] for res in results if len(res["detection"][d])])
            exact = int(np.sum(np.all(masks == expected, axis=1)))
            recall = int(np.sum(np.all(masks[:, expected], axis=1))) if expected.any() else len(masks)
            lo, hi = wilson_interval(exact, len(masks))
            det_summary[d] = {
                "kind": "detector",
                "scene": self.scene,
                "detector": d,
                "iterations": int(len(masks)),
                "exact": exact,
                "exact_rate": exact / max(len(masks), 1),
                "ci_low": lo,
                "ci_high": hi,
                "recall": recall,
                "recall_rate": recall / max(len(masks), 1),
                "exact_first_rate": float(np.mean(np.all(first == expected, axis=1))),
                "axis_rate": masks.mean(axis=0).tolist(),
                "most_common": _most_common(masks),
            }
            points.append(det_summary[d])
        lam_first = np.array([res["lam_first"] for res in results if res.get("lam_first") is not None])
        lam_last = np.array([res["lam_last"] for res in results if res.get("lam_last") is not None])
        max_diff = max(res.get("max_rel_diff_vs_qr", float("nan")) for res in results)
        pcg_its = [i for res in results for i in res.get("pcg_iterations", [])]
        write_trials(out_dir / "trials.csv", records)
        by = {p["method"]: p for p in points if p["kind"] == "method"}
        return {
            "scene": self.scene,
            "expected_mask": D.mask_string(expected),
            "trials": self.trials,
            "dcreg_exact_rate": det_summary["dcreg"]["exact_rate"],
            "dcreg_recall_rate": det_summary["dcreg"]["recall_rate"],
            "dcreg_median_trans_err": by["dcreg"]["median_trans_err"],
            "dcreg_median_rot_err": by["dcreg"]["median_rot_err"],
            "dcreg_max_rel_diff_vs_qr": max_diff,
            "dcreg_pcg_iterations_mean": float(np.mean(pcg_its)) if pcg_its else float("nan"),
            "dcreg_qr_fallbacks": int(sum(res.get("qr_fallbacks", 0) for res in results)),
            "schur_lambda_first_median": np.median(lam_first, axis=0).tolist() if len(lam_first) else None,
            "schur_lambda_last_median": np.median(lam_last, axis=0).tolist() if len(lam_last) else None,
            "points": points,
            "trial_records": [{k: v for k, v in r.items() if k != "failure"} for r in records],
        }


@lru_cache(maxsize=8)
def scene_map(scene: str, density: float, noise: float, seed: int):
    """The scene's map (uniform by area, ``density`` points per m^2) and its k-d tree, one per
    (scene, seed); cached so that trials in one process share it."""
    from scipy.spatial import cKDTree

    half = MAP_HALF[scene]
    area = sum(s.area for s in I.scene_surfaces(scene, half))
    rng = np.random.default_rng(trial_seed(seed, "dcreg-map", scene))
    tgt = I.sample_scene(scene, max(2000, int(area * density)), rng, half, noise)
    return tgt, cKDTree(tgt)


def _q(x, q):
    return float(np.quantile(x, q)) if len(x) else float("nan")


def _summary(rs: list[dict]) -> dict:
    out: dict = {"trials": len(rs)}
    for key in (
        "trans_err",
        "rot_err",
        "obs_trans_err",
        "obs_rot_err",
        "iterations",
        "seconds",
        "solve_us",
        "solve_ms_per_iter",
    ):
        v = np.array([r[key] for r in rs], dtype=float)
        out[f"median_{key}"] = _q(v, 0.5)
        out[f"q25_{key}"] = _q(v, 0.25)
        out[f"q75_{key}"] = _q(v, 0.75)
        out[f"mean_{key}"] = float(np.mean(v)) if len(v) else float("nan")
    out["converged_rate"] = float(np.mean([bool(r["converged"]) for r in rs])) if rs else float("nan")
    return out


def _most_common(masks: np.ndarray) -> str:
    if not len(masks):
        return "none"
    names, counts = np.unique([D.mask_string(m) for m in masks], return_counts=True)
    order = np.argsort(-counts)[:3]
    return ", ".join(f"{names[i]} ({counts[i] / len(masks):.0%})" for i in order)
