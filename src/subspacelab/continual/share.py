"""Share (Kaushik, Vaidya, Chaudhari, Chellappa, Yuille, "Shared LoRA Subspaces for almost Strict Continual
Learning", arXiv 2602.06043) as plain torch maths on one linear layer.

Notation (one layer, weight W ∈ R^{m×n}, torch layout out × in). A LoRA adapter is ΔW = s · B Aᵀ with the two
*factors* stored column-wise, B ∈ R^{m×p} (output side) and A ∈ R^{n×p} (input side), s = alpha / p.

- Shared bases, one per side: β ∈ R^{m×k_B} and α ∈ R^{n×k_A}, orthonormal columns (k ≤ ``k_max``).
- Task i is stored only as coefficients: B_i = β E^B_i, A_i = α E^A_i, E^B_i ∈ R^{k_B×p}, E^A_i ∈ R^{k_A×p}.
- The current task trains its coefficients plus temporary factors of rank φ on each side:
  B_t = β E^B_t + U^B V^B, A_t = α E^A_t + U^A V^A (U ∈ R^{m|n × φ}, V ∈ R^{φ×p}); the bases are frozen.
  When there is no basis yet (the first task) the factors are a plain rank-p LoRA pair (B = U^B, A = U^A, PEFT
  init), from which the bases are then initialised (the paper's Phase 1 with t = 1 adapter).
- ``merge`` (per side, X = B or A): stack S = [X_0, …, X_t] (old X_j = basis · E_j rebuilt from coefficients, the
  new X_t with its temporary part), optionally centre its rows (S − μ 1ᵀ, μ = the mean column; the official code
  does this), SVD S = Q Σ Pᵀ, new basis = the top k columns of Q, then every task's coefficients are re-projected
  analytically:  E_j ← basis_newᵀ X_j = argmin_E ‖basis_new E − X_j‖_F  (the pseudo-inverse; basis_new is
  orthonormal). No data and no replay. X_j is unchanged exactly when it lies in span(basis_new), e.g. when k covers
  the rank of S and no centring is used.
- k = min(k_max, numerical rank of S, the smallest k whose explained variance Σ_{i<k} σ_i² / Σ σ_i² ≥ ev).

Stored parameters of Share after T tasks (per layer): m·k_B + n·k_A + Σ_j (numel E^B_j + numel E^A_j);
per-task LoRA of rank r stores T·r·(m + n).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def choose_rank(s: torch.Tensor, k_max: int, ev: float = 1.0, tol: float = 1e-6) -> int:
    """Number of basis vectors kept from singular values ``s`` (descending)."""
    if s.numel() == 0 or float(s[0]) <= 0:
        return 0
    rank = int((s > tol * s[0]).sum())
    k = min(int(k_max), rank)
    if ev < 1.0:
        e = torch.cumsum(s**2, 0) / (s**2).sum()
        k = min(k, int((e < ev).sum()) + 1)
    return max(k, 1)


def shared_basis(stacked: torch.Tensor, k_max: int, ev: float = 1.0, center: bool = False) -> torch.Tensor:
    """Top-k left singular vectors of ``stacked`` (rows = the layer side's dimension), optionally row-centred."""
    S = stacked - stacked.mean(1, keepdim=True) if center else stacked
    Q, s, _ = torch.linalg.svd(S, full_matrices=False)
    return Q[:, : choose_rank(s, k_max, ev)].contiguous()


def project(basis: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients of X on an orthonormal ``basis``: basisᵀ X (= basis⁺ X)."""
    return basis.T @ X


def init_from_adapters(
    factors: list[torch.Tensor], k_max: int, ev: float = 1.0, center: bool = False
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Phase 1 for one side: basis from the SVD of the stacked factors [X_1 … X_t], and each factor's
    coefficients. Returns (basis, [E_1, …, E_t])."""
    basis = shared_basis(torch.cat(factors, 1), k_max, ev, center)
    return basis, [project(basis, X) for X in factors]


def lora_stored_parameters(m: int, n: int, r: int, n_tasks: int) -> int:
    """One rank-r LoRA adapter (B: m×r, A: r×n) per task."""
    return n_tasks * r * (m + n)


class ShareLayer(nn.Module):
    """A frozen linear map + a Share adapter (bases, per-task coefficients, temporary factors of the current task).

    ``forward`` applies the *active* task's adapter: the current (training) task with its temporary factors, or an
    old task rebuilt from the bases and its coefficients (``set_task``)."""

    def __init__(
        self,
        base: nn.Linear,
        p: int,
        k_max: int,
        phi: int,
        alpha: float | None = None,
        ev: float = 1.0,
        center: bool = False,
    ):
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.p, self.k_max, self.phi, self.ev, self.center = (
            int(p),
            int(k_max),
            int(phi),
            float(ev),
            bool(center),
        )
        if not 1 <= self.p <= min(self.in_features, self.out_features) or self.phi < 1 or self.k_max < 1:
            raise ValueError("p in 1..min(m, n); phi, k_max >= 1")
        self.scaling = float(alpha if alpha is not None else p) / self.p
        self.weight = nn.Parameter(base.weight.detach().clone(), requires_grad=False)
        self.bias = (
            None if base.bias is None else nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        )
        dt = self.weight.dtype
        self.register_buffer("beta", torch.zeros(self.out_features, 0, dtype=dt))  # output-side basis
        self.register_buffer("alpha_basis", torch.zeros(self.in_features, 0, dtype=dt))  # input-side basis
        self.coef_B: list[torch.Tensor] = []  # merged tasks' coefficients (k_B × p)
        self.coef_A: list[torch.Tensor] = []
        self.active: int | None = None  # None = the current (training) task
        self.cur: nn.ParameterDict | None = None

    # ------------------------------------------------------------------ current task
    @property
    def n_tasks(self) -> int:
        return len(self.coef_B)

    def start_task(self, generator: torch.Generator | None = None) -> list[nn.Parameter]:
        """New coefficients + temporary factors for the next task; returns the trainable parameters. The adapter
        starts at zero (the B side is zero), like PEFT's LoRA init."""
        m, n, p, dt = self.out_features, self.in_features, self.p, self.weight.dtype
        kB, kA = self.beta.shape[1], self.alpha_basis.shape[1]
        g = generator

        def uni(shape, bound):
            return nn.Parameter((torch.rand(*shape, generator=g, dtype=dt) * 2 - 1) * bound)

        if kB == 0:  # the first task: a plain rank-p LoRA (B = U^B, A = U^A, V = I fixed), PEFT init
            eye = torch.eye(p, dtype=dt)
            self.cur = nn.ParameterDict(
                {
                    "EB": nn.Parameter(torch.zeros(0, p, dtype=dt), requires_grad=False),
                    "EA": nn.Parameter(torch.zeros(kA, p, dtype=dt), requires_grad=False),
                    "UB": nn.Parameter(torch.zeros(m, p, dtype=dt)),
                    "VB": nn.Parameter(eye.clone(), requires_grad=False),
                    "UA": uni((n, p), 1.0 / math.sqrt(n)),
                    "VA": nn.Parameter(eye.clone(), requires_grad=False),
                }
            )
            self.active = None
            return [self.cur["UB"], self.cur["UA"]]
        phi = self.phi
        self.cur = nn.ParameterDict(
            {
                "EB": nn.Parameter(torch.zeros(kB, p, dtype=dt)),
                "EA": uni((kA, p), 1.0 / math.sqrt(max(kA, 1))),
                "UB": uni((m, phi), 1.0 / math.sqrt(m)),
                "VB": nn.Parameter(torch.zeros(phi, p, dtype=dt)),
                "UA": uni((n, phi), 1.0 / math.sqrt(n)),
                "VA": uni((phi, p), 1.0 / math.sqrt(phi)),
            }
        )
        self.active = None
        return list(self.cur.values())

    def current_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.cur
        return self.beta @ c["EB"] + c["UB"] @ c["VB"], self.alpha_basis @ c["EA"] + c["UA"] @ c["VA"]

    def task_factors(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B_j, A_j) of a merged task rebuilt from the bases and its coefficients."""
        return self.beta @ self.coef_B[j], self.alpha_basis @ self.coef_A[j]

    def delta(self, j: int | None = None) -> torch.Tensor:
        B, A = self.current_factors() if j is None else self.task_factors(j)
        return self.scaling * B @ A.T

    def set_task(self, j: int | None) -> None:
        self.active = j

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.active is None and self.cur is None:
            return y
        B, A = self.current_factors() if self.active is None else self.task_factors(self.active)
        return y + self.scaling * (x @ A) @ B.T

    # ------------------------------------------------------------------ merge
    @torch.no_grad()
    def merge(self) -> dict:
        """Fold the current task into the bases (module doc): re-SVD of every task's rebuilt factors + the new one,
        then analytic re-projection of all coefficients. Returns the relative change of each old task's ΔW."""
        newB, newA = (t.detach() for t in self.current_factors())
        oldB = [self.beta @ E for E in self.coef_B]
        oldA = [self.alpha_basis @ E for E in self.coef_A]
        old_delta = [self.scaling * b @ a.T for b, a in zip(oldB, oldA, strict=True)]
        self.beta, cB = init_from_adapters([*oldB, newB], self.k_max, self.ev, self.center)
        self.alpha_basis, cA = init_from_adapters([*oldA, newA], self.k_max, self.ev, self.center)
        self.coef_B, self.coef_A = cB, cA
        self.cur, self.active = None, None
        drift = [
            float((self.delta(j) - d).norm() / d.norm().clamp_min(1e-30)) for j, d in enumerate(old_delta)
        ]
        new_err = float(
            (self.delta(len(cB) - 1) - self.scaling * newB @ newA.T).norm()
            / (self.scaling * newB @ newA.T).norm().clamp_min(1e-30)
        )
        return {
            "k_B": int(self.beta.shape[1]),
            "k_A": int(self.alpha_basis.shape[1]),
            "old_task_drift": drift,
            "new_task_error": new_err,
        }

    # ------------------------------------------------------------------ accounting
    def stored_parameters(self) -> int:
        """Exact count of what Share keeps after merging: both bases + every task's coefficients."""
        return int(
            self.beta.numel()
            + self.alpha_basis.numel()
            + sum(E.numel() for E in self.coef_B)
            + sum(E.numel() for E in self.coef_A)
        )

    def trainable_parameters(self) -> int:
        return 0 if self.cur is None else int(sum(p.numel() for p in self.cur.values() if p.requires_grad))
