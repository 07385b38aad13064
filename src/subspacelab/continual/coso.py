"""CoSO (Cheng, Wan, Wu, Hou, Zhang; NeurIPS 2025; arXiv 2505.11816): continuous subspace optimisation for
continual learning, in plain torch. Written from the paper's description and a reading of the official code
(quinn-ch/CoSO, coso/coso_projector.py and coso/adamw.py); no code copied.

For a 2-D weight W (out x in) with gradient G, per optimizer step:

1. G <- G - M Mᵀ G, M = the historical basis (out x k, k = 0 on the first task);
2. every ``update_gap`` steps (step counter before the increment, so the first step always does it):
   U, σ = SVD(G); P = U[:, :proj_rank] (the current optimisation subspace) and the task's Frequent-Directions
   sketch absorbs U·diag(σ) (sketch size ℓ = ``sketch_rank``);
3. Adam on R = Pᵀ G (moments in P-coordinates, not rotated when P changes within a task, bias correction on);
   W <- W - lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · P (m / (√v + eps)); decoupled weight decay.

At the end of a task (:meth:`CoSO.end_task`) the sketch's leading left vectors whose cumulative energy fraction is
below ``threshold`` (0.98) join M; the sketch, projector, moments and step counter are reset.

Everything the optimizer carries is a tensor in ``self.state[p]`` (projector, sketch, history, moments, step), so
``state_dict``/``load_state_dict`` resume a run mid-task exactly.

Deviation (documented): columns of P whose singular value is ~0 (G has rank < proj_rank) are set to zero. In the
official code they are arbitrary completions of U that need not be orthogonal to M; zeroing them keeps the update
in range(G) ⊥ M.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

_REL_TOL = 1e-6  # singular values below _REL_TOL * σ_max count as zero


def _shrink(s: torch.Tensor, ell: int) -> torch.Tensor:
    """FD shrink: σ_i' = √max(σ_i² − σ_{ℓ+1}², 0) for i ≤ ℓ (σ_{ℓ+1} = 0 when there are ≤ ℓ values)."""
    head = s[:ell]
    delta = s[ell] ** 2 if s.numel() > ell else s.new_zeros(())
    return torch.sqrt(torch.clamp(head**2 - delta, min=0.0))


class FrequentDirections:
    """Frequent-Directions sketch of a stream of column blocks A = [A_1, A_2, ...] (each m x n_t).

    Keeps B (m x ℓ) = U·diag(σ) with B Bᵀ ≈ A Aᵀ: 0 ⪯ A Aᵀ − B Bᵀ and ‖A Aᵀ − B Bᵀ‖₂ ≤ ‖A‖_F²/(ℓ+1) ≤ ‖A‖_F²/ℓ
    (decay = 1); exact when rank(A) ≤ ℓ. Each insertion SVDs the new block, shrinks it by its (ℓ+1)-th singular
    value, then SVDs [decay·B, block] and shrinks again (the official code's two-step update)."""

    def __init__(self, ell: int, decay: float = 1.0):
        if ell < 1:
            raise ValueError("sketch size ell must be >= 1")
        self.ell, self.decay = int(ell), float(decay)
        self.U: torch.Tensor | None = None  # m x ℓ' left vectors (ℓ' <= ℓ)
        self.sigma: torch.Tensor | None = None  # ℓ' shrunk singular values, descending

    @property
    def B(self) -> torch.Tensor | None:
        return None if self.U is None else self.U * self.sigma

    def insert_svd(self, U: torch.Tensor, s: torch.Tensor) -> None:
        """Insert a block given by its SVD factors (U: m x r, s: r; the right vectors do not matter)."""
        s_new = _shrink(s, self.ell)
        block = U[:, : s_new.numel()] * s_new
        if self.U is None:
            self.U, self.sigma = U[:, : s_new.numel()].clone(), s_new.clone()
            return
        merged = torch.cat([self.decay * self.B, block], dim=1)
        Um, sm, _ = torch.linalg.svd(merged, full_matrices=False)
        self.sigma = _shrink(sm, self.ell)
        self.U = Um[:, : self.sigma.numel()].contiguous()

    def insert(self, A: torch.Tensor) -> None:
        U, s, _ = torch.linalg.svd(A, full_matrices=False)
        self.insert_svd(U, s)


def energy_rank(sigma: torch.Tensor, threshold: float) -> int:
    """Number of leading directions whose cumulative energy fraction Σ_{j≤i} σ_j² / Σ σ² is < threshold (strict,
    as in the official code)."""
    e = sigma.double() ** 2
    if e.numel() == 0 or float(e.sum()) <= 0:
        return 0
    return int((torch.cumsum(e / e.sum(), 0) < threshold).sum())


def orthogonalise(G: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """G − M Mᵀ G (M has orthonormal columns; a no-op when M has no column)."""
    return G if M.shape[1] == 0 else G - M @ (M.T @ G)


class CoSO(torch.optim.Optimizer):
    """CoSO's AdamW for 2-D weights (module doc). ``use_history=False`` gives GaLore-style projection with no
    history (a baseline); ``fixed_projector=True`` keeps the first projector of a task for the whole task while the
    sketch and history work as in CoSO (a GPM/InfLoRA-like fixed orthogonal subspace; a baseline)."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        proj_rank: int = 8,
        sketch_rank: int = 32,
        update_gap: int = 1,
        threshold: float = 0.98,
        db_decay: float = 1.0,
        use_history: bool = True,
        fixed_projector: bool = False,
    ):
        if proj_rank < 1 or sketch_rank < 1 or update_gap < 1:
            raise ValueError("proj_rank, sketch_rank, update_gap: must be >= 1")
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold: in (0, 1]")
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            proj_rank=proj_rank,
            sketch_rank=sketch_rank,
            update_gap=update_gap,
            threshold=threshold,
            db_decay=db_decay,
            use_history=use_history,
            fixed_projector=fixed_projector,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(f"CoSO handles 2-D weights only, got shape {tuple(p.shape)}")

    # -- state helpers ------------------------------------------------------------------------------
    def _state(self, p: torch.Tensor) -> dict:
        st = self.state[p]
        if "history" not in st:
            st["history"] = p.new_zeros(p.shape[0], 0)
        return st

    def history(self, p: torch.Tensor) -> torch.Tensor:
        """The historical basis M of ``p`` (out x k)."""
        return self._state(p)["history"]

    def projector(self, p: torch.Tensor) -> torch.Tensor | None:
        return self.state[p].get("P")

    def sketch(self, p: torch.Tensor) -> FrequentDirections | None:
        st = self.state[p]
        if "sketch_U" not in st:
            return None
        group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
        fd = FrequentDirections(group["sketch_rank"], group["db_decay"])
        fd.U, fd.sigma = st["sketch_U"], st["sketch_sigma"]
        return fd

    # -- the step ---------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self._state(p)
                G = (
                    orthogonalise(p.grad.float(), st["history"].float())
                    if group["use_history"]
                    else p.grad.float()
                )
                step = int(st["step"]) if "step" in st else 0
                refresh = "P" not in st or (step % group["update_gap"] == 0)
                if refresh:
                    U, s, _ = torch.linalg.svd(G, full_matrices=False)
                    if "P" not in st or not group["fixed_projector"]:
                        P = U[:, : group["proj_rank"]].clone()
                        keep = s[: P.shape[1]] > _REL_TOL * s[0].clamp_min(1e-30)
                        P[:, ~keep] = 0.0
                        if P.shape[1] < group["proj_rank"]:  # fewer singular vectors than proj_rank
                            P = torch.cat([P, P.new_zeros(P.shape[0], group["proj_rank"] - P.shape[1])], 1)
                        st["P"] = P
                    fd = self.sketch(p) or FrequentDirections(group["sketch_rank"], group["db_decay"])
                    fd.insert_svd(U, s)
                    st["sketch_U"], st["sketch_sigma"] = fd.U, fd.sigma
                P = st["P"]
                R = P.T @ G
                if "exp_avg" not in st:
                    st["exp_avg"], st["exp_avg_sq"] = torch.zeros_like(R), torch.zeros_like(R)
                step += 1
                st["step"] = torch.tensor(float(step))
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m.mul_(beta1).add_(R, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(R, R, value=1 - beta2)
                step_size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                update = P @ (m / (v.sqrt() + group["eps"]))
                p.add_(update.to(p.dtype), alpha=-step_size)
                if group["weight_decay"] > 0:
                    p.add_(p, alpha=-group["lr"] * group["weight_decay"])
        return loss

    # -- task boundary ------------------------------------------------------------------------------
    @torch.no_grad()
    def end_task(self) -> dict:
        """Grow each weight's history with its sketch's top directions (energy < threshold), then reset the
        projector, sketch, moments and step for the next task. Returns {param index: directions added}."""
        added = {}
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                st = self._state(p)
                k = 0
                if group["use_history"] and "sketch_U" in st:
                    k = energy_rank(st["sketch_sigma"], group["threshold"])
                    if k:
                        new = orthogonalise(st["sketch_U"][:, :k], st["history"])  # numerically ⊥ already
                        st["history"] = torch.cat([st["history"], new.to(st["history"].dtype)], 1)
                added[i] = k
                i += 1
                for key in ("P", "sketch_U", "sketch_sigma", "exp_avg", "exp_avg_sq", "step"):
                    st.pop(key, None)
        return added
