"""HF-DSC's and DSC-Net's training through Lightning: each stage is a full-batch stage of ``lit.full_batch``
(one process: C couples every sample, so there is no data parallelism; the pipeline refuses ``trainer=ddp``
for hf_dsc). The pieces (autoencoder, self-expression, losses, stopping rule, read-outs) are
``clustering.hf_dsc``.

- ``fit``: HF-DSC's three label-free stages, (1) reconstruction, (2) + self-expression with one joint C over
  the chosen layers, (3) + the structured norm with labels refreshed from C; each ends by the relative-error
  rule.
- ``fit_dscnet``: DSC-Net (Ji et al. 2017) with the same pre-training, then its fixed number of epochs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from subspacelab.clustering.hf_dsc import (
    RelativeErrorStop,
    SelfExpression,
    dscnet_labels,
    flatten,
    live_autoencoder,
    reconstruction_loss,
    select_layers,
    self_expression_loss,
    shifted_laplacian_labels,
    structured_norm,
)
from subspacelab.lit.full_batch import FullBatchModule, train_full_batch


@dataclass
class StageLog:
    name: str
    steps: int = 0
    reason: str = ""
    losses: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)  # {"step", "acc", "nmi", ...}: for the report only


@dataclass
class FitResult:
    C: np.ndarray
    labels: np.ndarray
    stages: list[StageLog]
    C_after_se: np.ndarray | None = None  # C at the end of stage 2 (the "without stage 3" ablation)
    redraws: int = 0  # autoencoder starts re-drawn because they reconstructed everything as 0


def train_stage(
    name: str,
    modules: Sequence[nn.Module],
    loss_fn: Callable[[int], Tensor],
    stop: RelativeErrorStop,
    lr: float,
    evaluate: Callable[[], dict] | None = None,
    eval_every: int = 0,
    accelerator: str = "cpu",
) -> StageLog:
    """Full-batch Adam on the parameters of ``modules`` with ``loss_fn(step)`` until ``stop`` fires, through
    Lightning (``lit.full_batch``); ``evaluate()`` (which may look at labels, for the report's oracle curve
    only) every ``eval_every`` steps and at the end."""
    module = train_full_batch(FullBatchModule(modules, loss_fn, stop, lr, evaluate, eval_every), accelerator)
    log = StageLog(name, len(module.losses), stop.reason, module.losses, module.evals)
    print(
        f"    {name}: {log.steps} steps ({log.reason}), loss {log.losses[0]:.4g} -> {log.losses[-1]:.4g}",
        flush=True,
    )
    return log


def _refresh(every: int, read_out: Callable[[], np.ndarray]):
    """Labels Q for stage 3, recomputed from the current C every ``every`` steps."""
    state: dict = {}

    def labels(step: int) -> np.ndarray:
        if step % every == 0 or "q" not in state:
            state["q"] = read_out()
        return state["q"]

    return labels


def fit(
    images: Tensor,
    n_clusters: int,
    k: int | None,
    channels: list[int],
    kernels: list[int],
    layers: str = "all",
    stage3: bool = True,
    lr: float = 1e-3,
    init: float = 1e-4,
    tol: float = 1e-4,
    patience: int = 3,
    min_steps: int = 10,
    max_steps: tuple[int, int, int] = (1000, 1000, 200),
    q_refresh: int = 10,
    seed: int = 0,
    labels_true=None,
    eval_every: int = 0,
    angular_delta: float | None = None,
    device: str = "cpu",
) -> FitResult:
    """HF-DSC's three stages (module doc) on the full batch ``images``; ``labels_true`` is used only to
    record the oracle ACC curve (never to choose anything). Returns C, the labels and the stage logs.
    Training runs on ``device`` (one process: C couples every sample, so there is no data parallelism);
    the read-out runs on the CPU."""
    from subspacelab.clustering.metrics import scores

    torch.manual_seed(seed)
    x = images.float()
    n = x.shape[0]
    ae, redraws = live_autoencoder(channels, kernels, x)
    se = SelfExpression(n, init)
    x, ae, se = x.to(device), ae.to(device), se.to(device)
    C_np = lambda: se.C.detach().double().cpu().numpy()  # noqa: E731
    read_out = lambda: shifted_laplacian_labels(C_np(), n_clusters, k, seed, angular_delta)  # noqa: E731
    evaluate = (lambda: scores(labels_true, read_out())) if labels_true is not None else None

    def stop(i: int) -> RelativeErrorStop:
        return RelativeErrorStop(tol, patience, min_steps, max_steps[i])

    def rec(step: int) -> Tensor:
        return reconstruction_loss(x, ae.reconstruct(ae.encode(x)))

    def rec_se(step: int) -> Tensor:
        outs = ae.encode(x)
        return reconstruction_loss(x, ae.reconstruct(outs)) + self_expression_loss(
            se.C, select_layers(outs, layers)
        )

    stages = [train_stage("pretrain", [ae], rec, stop(0), lr, accelerator=device)]
    both = [ae, se]
    stages.append(train_stage("self_expression", both, rec_se, stop(1), lr, evaluate, eval_every, device))
    C_se = C_np()
    if stage3:
        q = _refresh(q_refresh, read_out)
        stages.append(
            train_stage(
                "structured_norm",
                both,
                lambda t: rec_se(t) + structured_norm(se.C, q(t)),
                stop(2),
                lr,
                evaluate,
                eval_every,
                device,
            )
        )
    C = C_np()
    return FitResult(C, read_out(), stages, C_se, redraws)


def fit_dscnet(
    images: Tensor,
    n_clusters: int,
    channels: list[int],
    kernels: list[int],
    epochs: int,
    weight_coef: float,
    weight_self_exp: float,
    alpha: float,
    dim_subspace: int,
    ro: float,
    pretrain_steps: tuple[int, float, int] = (1000, 1e-4, 3),
    lr: float = 1e-3,
    init: float = 1e-8,
    seed: int = 0,
    device: str = "cpu",
) -> FitResult:
    """DSC-Net (Ji et al. 2017; XifengGuo/DSC-Net main.py): the same reconstruction pre-training, then
    ||X − dec(C Z)||² + λ1 ||C||_F² + λ2 ||Z − C Z||² on the last layer for a fixed number of epochs, C free
    (diagonal included, start 1e-8), read out with its own label-tuned post-processing."""
    torch.manual_seed(seed)
    x = images.float()
    ae, redraws = live_autoencoder(channels, kernels, x)
    se = SelfExpression(x.shape[0], init, zero_diagonal=False)
    x, ae, se = x.to(device), ae.to(device), se.to(device)
    cap, tol, patience = pretrain_steps
    stages = [
        train_stage(
            "pretrain",
            [ae],
            lambda t: reconstruction_loss(x, ae.reconstruct(ae.encode(x))),
            RelativeErrorStop(tol, patience, 10, cap),
            lr,
            accelerator=device,
        )
    ]

    def loss(step: int) -> Tensor:
        outs = ae.encode(x)
        z = outs[-1]
        zc = (se.C @ flatten(z)).reshape(z.shape)
        return (
            reconstruction_loss(x, ae.reconstruct([*outs[:-1], zc]))
            + weight_coef * se.C.pow(2).sum()
            + weight_self_exp * (flatten(z) - flatten(zc)).pow(2).sum()
        )

    stages.append(
        train_stage(
            "dscnet",
            [ae, se],
            loss,
            RelativeErrorStop(0.0, 1, epochs, epochs),
            lr,
            accelerator=device,
        )
    )
    C = se.C.detach().double().cpu().numpy()
    return FitResult(C, dscnet_labels(C, n_clusters, dim_subspace, alpha, ro, seed), stages, None, redraws)
