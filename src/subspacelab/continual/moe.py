"""Mixture-of-experts low-rank adapters on the harness's trained layer, and three ways of giving tasks experts:
isolated new experts per task, similarity-driven sharing, and iGSP's subspace identification then orthogonal
fine-tuning (Cui et al. 2026; the method is unreleased: every detail here is our reconstruction, docs/research/
igsp.md).

``MoEAdapterLinear``: ``y = W x + b + s * sum_e pi_e(x) B_e A_e x`` over a fixed pool of rank-r experts, with
``pi`` the softmax over the top-k router logits of the experts the current task may use (one router per task).
A task's trainable experts learn; every other expert is held (its gradient is cut in the forward pass; a fresh
AdamW per task then never moves it). After iGSP's identification, the task's surviving new experts read only the
part of the input outside the span of the historical experts' input directions (``orthogonal``).

Methods (``continual.baselines.Method``):
- ``moe_isolated``: ``moe_new`` new experts per task, routed alone;
- ``moe_similarity``: the experts of the earlier task whose mean input has cosine >= ``moe_similarity`` with this
  task's are reused and trained further; otherwise new experts as ``moe_isolated``;
- ``igsp``: phase 1 routes over every historical expert (held) and ``moe_candidates`` new ones, with the penalty
  ``moe_penalty * mean_b sum_{candidates} pi``, which pushes the routing, and so the gradient, onto the
  historical experts; after ``moe_identify_epochs`` epochs the candidates whose mean routing mass on the task's
  training inputs is below ``moe_prune_below`` are released, the survivors made orthogonal, and the penalty
  dropped (phase 2).
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from subspacelab.continual.baselines import Method


class MoEAdapterLinear(nn.Module):
    """A frozen linear map plus a routed mixture of low-rank experts (module doc)."""

    def __init__(
        self, base: nn.Linear, experts: int, rank: int, tasks: int, top_k: int = 2, alpha: float = 1.0
    ):
        super().__init__()
        if min(experts, rank, tasks, top_k) < 1:
            raise ValueError("MoEAdapterLinear: experts, rank, tasks and top_k must be >= 1")
        m, n = base.out_features, base.in_features
        self.in_features, self.out_features = n, m
        self.top_k, self.scaling = int(top_k), float(alpha) / rank
        self.weight = nn.Parameter(base.weight.detach().clone(), requires_grad=False)
        self.bias = (
            None if base.bias is None else nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        )
        self.A = nn.Parameter(torch.zeros(experts, rank, n))
        self.B = nn.Parameter(torch.zeros(experts, m, rank))
        self.router = nn.Parameter(torch.zeros(tasks, experts, n))
        self.register_buffer("task", torch.zeros((), dtype=torch.long))
        self.register_buffer("allowed", torch.zeros(tasks, experts, dtype=torch.bool))
        self.register_buffer("trainable", torch.zeros(experts, dtype=torch.bool))
        self.register_buffer("owner", torch.full((experts,), -1, dtype=torch.long))  # -1: free
        self.register_buffer("orthogonal", torch.zeros(experts, dtype=torch.bool))
        self.register_buffer(
            "held_inputs", torch.zeros(n, n)
        )  # projector onto held experts' input directions
        self.register_buffer("identified_mass", torch.zeros(experts))  # iGSP: routing mass when identified
        self.last_routing: Tensor | None = None

    @property
    def n_experts(self) -> int:
        return self.A.shape[0]

    def expert_size(self) -> int:
        return self.A[0].numel() + self.B[0].numel()

    @torch.no_grad()
    def allocate(self, k: int, task: int, generator: torch.Generator) -> list[int]:
        """Give ``k`` free experts to ``task``: A drawn as LoRA's (kaiming-uniform), B = 0 (the output unchanged)."""
        free = torch.nonzero(self.owner < 0).flatten()[:k].tolist()
        if len(free) < k:
            raise ValueError(
                f"experts: the pool of {self.n_experts} is full (moe_experts too small for the stream)"
            )
        bound = 1.0 / math.sqrt(self.A.shape[2])
        for e in free:
            self.A[e].uniform_(-bound, bound, generator=generator)
            self.B[e].zero_()
            self.owner[e] = task
        return free

    @torch.no_grad()
    def start_router(self, task: int, generator: torch.Generator) -> None:
        """Draw ``task``'s router as a linear layer's weight (kaiming-uniform): with top-k routing an expert the
        router never picks gets no gradient, so all-zero logits (ties) would leave the last experts unused."""
        bound = 1.0 / math.sqrt(self.router.shape[2])
        self.router[task].uniform_(-bound, bound, generator=generator)

    @torch.no_grad()
    def release(self, experts: list[int]) -> None:
        for e in experts:
            self.A[e].zero_()
            self.B[e].zero_()
            self.owner[e] = -1
            self.allowed[:, e] = False
            self.trainable[e] = False
            self.orthogonal[e] = False

    def routing(self, x: Tensor) -> Tensor:
        """(b, E) mixing weights: a softmax over the top-k allowed router logits of the current task, 0 elsewhere."""
        allowed = self.allowed[self.task]
        logits = (x @ self.router[self.task].T).masked_fill(~allowed, float("-inf"))
        k = min(self.top_k, int(allowed.sum()))
        if k == 0:
            return torch.zeros_like(logits)
        top = logits.topk(k, dim=1)
        return torch.zeros_like(logits).scatter(1, top.indices, torch.softmax(top.values, dim=1))

    def forward(self, x: Tensor) -> Tensor:
        held = ~self.trainable
        A = torch.where(held[:, None, None], self.A.detach(), self.A)
        B = torch.where(held[:, None, None], self.B.detach(), self.B)
        if bool(self.orthogonal.any()):
            A = torch.where(self.orthogonal[:, None, None], A - A @ self.held_inputs, A)
        pi = self.routing(x)
        self.last_routing = pi
        low = torch.einsum("bn,ern->ber", x, A)
        out = torch.einsum("be,bem->bm", pi, torch.einsum("ber,emr->bem", low, B))
        return F.linear(x, self.weight, self.bias) + self.scaling * out

    @torch.no_grad()
    def fold_orthogonal(self) -> None:
        """Write the orthogonal experts' effective A = A (I - P) into A and clear their flag: the function is
        unchanged, and stays so when ``held_inputs`` is recomputed for a later task."""
        e = self.orthogonal
        self.A[e] = self.A[e] - self.A[e] @ self.held_inputs
        self.orthogonal.zero_()

    @torch.no_grad()
    def mean_routing(self, x: Tensor) -> Tensor:
        """The mean over ``x``'s rows of each expert's mixing weight under the current task's router."""
        return torch.cat([self.routing(x[i : i + 1024]) for i in range(0, len(x), 1024)]).mean(0)

    @torch.no_grad()
    def hold_inputs(self, experts: list[int]) -> None:
        """The projector onto the span of the input directions (A's rows) of ``experts``: the part of the input
        orthogonal experts do not read (zero when there are none)."""
        self.held_inputs.zero_()
        rows = self.A[experts].reshape(-1, self.A.shape[2]).double()
        if len(rows) and float(rows.abs().max()) > 0:
            u, s, _ = torch.linalg.svd(rows.T, full_matrices=False)
            basis = u[:, s > s.max() * 1e-6]
            self.held_inputs.copy_((basis @ basis.T).to(self.held_inputs.dtype))


class _MoEMethod(Method):
    """What the three share: the layer, the generator of the experts' draws, one AdamW per task over the layer
    (the held parts get no gradient) and the head, and the parameter counts."""

    def setup(self, net) -> None:
        c = self.cfg
        net.proj = MoEAdapterLinear(
            net.proj, c.moe_experts, c.moe_rank, c.moe_tasks, c.moe_top_k, c.lora_alpha
        )
        self._layer = net.proj
        self.gen = torch.Generator().manual_seed(int(c.lora_seed))
        self.log: list[dict] = []

    def begin_task(self, net, feats, task) -> None:
        layer = net.proj
        layer.task.fill_(task)
        with torch.no_grad():
            layer.trainable.zero_()
            layer.orthogonal.zero_()
        layer.start_router(task, self.gen)
        self.assign(layer, feats, task)

    def assign(self, layer: MoEAdapterLinear, feats: Tensor, task: int) -> None:
        raise NotImplementedError

    def trainable_count(self, layer: MoEAdapterLinear, task: int) -> int:
        return (
            int(layer.trainable.sum()) * layer.expert_size()
            + int(layer.allowed[task].sum()) * layer.A.shape[2]
        )

    def optimizer(self, net):
        layer = net.proj
        self.log.append({"trainable": self.trainable_count(layer, int(layer.task))})
        return torch.optim.AdamW(
            [layer.A, layer.B, layer.router], lr=self.cfg.lr, eps=self.cfg.eps, weight_decay=0.0
        )

    def end_task(self, net, opt, test=None) -> dict:
        layer = net.proj
        with torch.no_grad():
            layer.trainable.zero_()
        used = int(layer.allowed[int(layer.task)].sum())
        return {**self.log[-1], "experts_used": used, "experts_allocated": int((layer.owner >= 0).sum())}

    def eval_task(self, net, task: int) -> None:
        net.proj.task.fill_(task)

    def state_dict(self) -> dict:
        """Taken when a task starts: the layer as the earlier tasks left it (its experts, routers, owners), which a
        resumed run needs before the task's fit restores the rest."""
        layer = {k: v.detach().clone() for k, v in self._layer.state_dict().items()}
        return {"generator": self.gen.get_state(), "log": [dict(r) for r in self.log], "layer": layer}

    def load_state_dict(self, net, state: dict) -> None:
        self.gen.set_state(state["generator"])
        self.log = [dict(r) for r in state["log"]]
        net.proj.load_state_dict(state["layer"])

    def summary(self, net, log) -> dict:
        """Trainable parameters per task (mean; iGSP's phase 2 count is in its log) and the parameters stored at the
        end: the allocated experts and the routers' rows of the experts each task may use."""
        layer = net.proj
        routers = int(layer.allowed.sum()) * layer.A.shape[2]
        stored = int((layer.owner >= 0).sum()) * layer.expert_size() + routers
        trainable = [r["trainable"] for r in log if "trainable" in r]
        return {"trainable_mean": sum(trainable) / max(len(trainable), 1), "stored": stored}


class IsolatedExperts(_MoEMethod):
    name = "moe_isolated"

    def assign(self, layer, feats, task) -> None:
        new = layer.allocate(self.cfg.moe_new, task, self.gen)
        with torch.no_grad():
            layer.allowed[task, new] = True
            layer.trainable[new] = True


class SimilarityExperts(_MoEMethod):
    name = "moe_similarity"

    def setup(self, net) -> None:
        super().setup(net)
        self.means: list[Tensor] = []

    def assign(self, layer, feats, task) -> None:
        mean = feats.mean(0)
        sims = [float(F.cosine_similarity(mean, m, dim=0)) for m in self.means]
        self.means.append(mean.detach().clone())
        best = max(range(len(sims)), key=sims.__getitem__) if sims else None
        self.shared_with = best if best is not None and sims[best] >= self.cfg.moe_similarity else None
        if self.shared_with is not None:
            experts = torch.nonzero(layer.allowed[self.shared_with]).flatten().tolist()
        else:
            experts = layer.allocate(self.cfg.moe_new, task, self.gen)
        with torch.no_grad():
            layer.allowed[task, experts] = True
            layer.trainable[experts] = True

    def end_task(self, net, opt, test=None) -> dict:
        return {**super().end_task(net, opt, test), "shared_with": self.shared_with}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "means": [m.clone() for m in self.means]}

    def load_state_dict(self, net, state: dict) -> None:
        super().load_state_dict(net, state)
        self.means = [m.clone() for m in state["means"]]


class IGSP(_MoEMethod):
    name = "igsp"

    def assign(self, layer, feats, task) -> None:
        self.feats, self.phase = feats, 1
        historical = torch.nonzero(layer.owner >= 0).flatten().tolist()
        self.candidates = layer.allocate(self.cfg.moe_candidates, task, self.gen)
        with torch.no_grad():
            layer.allowed[task, historical + self.candidates] = True
            layer.trainable[self.candidates] = True

    def penalty(self, net):
        pi = net.proj.last_routing
        if self.phase != 1 or pi is None:
            return 0.0
        return self.cfg.moe_penalty * pi[:, self.candidates].sum(1).mean()

    def identify(self, net) -> dict:
        """End of phase 1: release the candidates with little routing mass on the task's training inputs, make the
        survivors orthogonal to the historical experts' input directions, drop the penalty. What it decided lives in
        the layer's buffers (checkpointed with the network)."""
        layer = net.proj
        mass = layer.mean_routing(self.feats)
        pruned = [e for e in self.candidates if float(mass[e]) < self.cfg.moe_prune_below]
        survivors = [e for e in self.candidates if e not in pruned]
        historical = [
            e for e in torch.nonzero(layer.owner >= 0).flatten().tolist() if e not in self.candidates
        ]
        layer.release(pruned)
        layer.hold_inputs(historical)
        with torch.no_grad():
            layer.orthogonal[survivors] = True
            layer.identified_mass.copy_(mass)
        self.phase = 2
        return {"pruned": pruned, "survivors": survivors}

    def end_task(self, net, opt, test=None) -> dict:
        layer, task = net.proj, int(net.proj.task)
        survivors = [e for e in self.candidates if int(layer.owner[e]) == task]
        phase2 = self.trainable_count(layer, task)
        layer.fold_orthogonal()  # the survivors keep computing what they computed, once the projector moves on
        info = super().end_task(net, opt, test)
        return {**info, "candidate_mass": [round(float(layer.identified_mass[e]), 6) for e in self.candidates],
                "pruned": len(self.candidates) - len(survivors), "trainable_phase2": phase2}  # fmt: skip

    def callbacks(self, task: int) -> list:
        return [_Identify(self, int(self.cfg.moe_identify_epochs))]


class _Identify(L.Callback):
    """Runs iGSP's identification at the end of epoch ``epoch`` of a task's fit (before its checkpoint, so a
    resumed run starts phase 2 from the pruned layer)."""

    def __init__(self, method: IGSP, epoch: int):
        self.method, self.epoch = method, epoch

    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.current_epoch + 1 == self.epoch:
            self.method.identify(module.net)

    def on_train_start(self, trainer, module) -> None:  # a run resumed after the identification is in phase 2
        if trainer.current_epoch >= self.epoch:
            self.method.phase = 2


METHODS = {"moe_isolated": IsolatedExperts, "moe_similarity": SimilarityExperts, "igsp": IGSP}
