"""Critic training for the variational mutual-information estimators, through Lightning. The critics, bounds and
read-outs are ``analysis.information`` and ``analysis.mi_protocol``; what trains them is here.

- ``BoundAscent`` / ``train_critic_mi``: Adam ascends a bound (InfoNCE, NWJ or MINE with its moving-average
  gradient) on ``batch_size`` distinct pairs drawn by the run's own generator every step, for a fixed number
  of steps; the estimate is the mean bound of the frozen critic over random batches (Poole et al. 2019).
- ``MaxTestModule`` / ``train_max_test``: NeuralMI's max-test training. Every epoch Adam goes over a fresh
  permutation of the training part in batches (loss −I_NCE, or kl − β I_NCE for the VSIB critic), then I_NCE
  on the whole held-out part is recorded with the epoch's weights; the weights at the arg-max of the smoothed
  held-out curve are the estimate's.

Both run on one CPU process and draw every random number from a generator seeded by ``seed`` (the global torch
generator is forked, so callers' streams are untouched): a critic is a few thousand parameters trained in
seconds, many times over inside one experiment run, so there is nothing for DDP to share out. On one process
they take the steps of the plain loops they replaced, bit for bit (tests/analysis/test_critic_training.py).
"""

from __future__ import annotations

import math
import warnings

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from subspacelab.analysis.information import (
    _BOUNDS,
    _evaluate_bound,
    _mine_surrogate,
    _to_numpy_2d,
    _to_tensor,
    infonce_lower_bound,
    make_critic,
)
from subspacelab.analysis.mi_protocol import _full_bound, make_protocol_critic, smooth_history
from subspacelab.lit.fit import fit
from subspacelab.lit.full_batch import step_loader


class BoundAscent(L.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        estimator: str,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        lr: float,
        generator: torch.Generator,
        mine_ema_rate: float | None = 0.01,
    ):
        super().__init__()
        self.net, self.estimator, self.x, self.y = net, estimator, x, y
        self.batch_size, self.lr, self.gen, self.mine_ema_rate = (
            int(batch_size),
            float(lr),
            generator,
            mine_ema_rate,
        )
        self.ema: Tensor | None = None

    def training_step(self, batch, batch_idx: int) -> Tensor:
        idx = torch.randperm(self.x.shape[0], generator=self.gen)[: self.batch_size]
        s = self.net(self.x[idx], self.y[idx])
        if self.estimator == "mine" and self.mine_ema_rate is not None:
            objective, self.ema = _mine_surrogate(s, self.ema, self.mine_ema_rate)
        else:
            objective = _BOUNDS[self.estimator](s)
        return -objective

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


def _fit_on_cpu(module: L.LightningModule, batches: int, epochs: int) -> None:
    """``epochs`` of ``batches`` steps on one CPU process (``step_loader`` leaves the global generator, hence the
    VSIB critic's sampling noise, as the plain loop had it)."""
    steps = step_loader(batches)
    with warnings.catch_warnings():  # a skipped one-pair batch is on purpose (MaxTestModule.training_step)
        warnings.filterwarnings("ignore", message=r".*`training_step` returned `None`.*")
        fit(module, steps, max_epochs=epochs, max_steps=-1)


def train_critic_mi(
    x,
    y,
    critic: str = "separable",
    estimator: str = "infonce",
    steps: int = 500,
    *,
    batch_size: int = 128,
    lr: float = 5e-4,
    hidden: int = 64,
    embed_dim: int = 16,
    layers: int = 2,
    mine_ema_rate: float | None = 0.01,
    x_eval=None,
    y_eval=None,
    eval_batches: int = 16,
    seed: int = 0,
) -> float:
    """Train a small MLP critic by maximising a variational MI bound with Adam; return the bound (nats).

    Each step draws ``batch_size`` distinct paired samples, forms the (B, B) score matrix and ascends the
    bound named by ``estimator`` ("infonce", "nwj", or "mine"; Poole et al. 2019). For "mine" the gradient
    uses the moving-average correction of Belghazi et al. 2018 with rate ``mine_ema_rate`` (None: plain DV
    gradient). The estimate is the mean bound over ``eval_batches`` random batches of the same size, drawn
    from (x_eval, y_eval) when given (held-out data) else from (x, y), with the critic frozen. InfoNCE is
    therefore capped at log(batch_size). Everything is seeded (``seed``) and the global torch RNG is left
    untouched. Settings defaults: lr 5e-4 and batch 128 as in Poole et al.'s demo and NeuralMI.
    """
    if estimator not in _BOUNDS:
        raise ValueError(f"unknown estimator {estimator!r}; use one of {sorted(_BOUNDS)}")
    xt, yt = _to_tensor(_to_numpy_2d(x), torch.float32), _to_tensor(_to_numpy_2d(y), torch.float32)
    n = xt.shape[0]
    if yt.shape[0] != n or n < batch_size:
        raise ValueError(f"need len(x) == len(y) >= batch_size, got {n}, {yt.shape[0]}, {batch_size}")
    xe = xt if x_eval is None else _to_tensor(_to_numpy_2d(x_eval), torch.float32)
    ye = yt if y_eval is None else _to_tensor(_to_numpy_2d(y_eval), torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_critic(critic, xt.shape[1], yt.shape[1], hidden, embed_dim, layers)
        gen = torch.Generator().manual_seed(seed)
        if steps > 0:
            _fit_on_cpu(BoundAscent(net, estimator, xt, yt, batch_size, lr, gen, mine_ema_rate), steps, 1)
        return _evaluate_bound(net, _BOUNDS[estimator], xe, ye, batch_size, eval_batches, gen)


class MaxTestModule(L.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        critic: str,
        train: tuple[Tensor, Tensor],
        test: tuple[Tensor, Tensor],
        batch_size: int,
        lr: float,
        beta: float,
        generator: torch.Generator,
    ):
        super().__init__()
        self.net, self.critic, self.train_xy, self.test_xy = net, critic, train, test
        self.batch_size, self.lr, self.beta, self.gen = int(batch_size), float(lr), float(beta), generator
        self.history: list[float] = []
        self.states: list[dict] = []
        self.order = torch.empty(0, dtype=torch.long)

    def on_train_epoch_start(self) -> None:
        self.net.train()
        self.order = torch.randperm(self.train_xy[0].shape[0], generator=self.gen)

    def training_step(self, batch, batch_idx: int) -> Tensor | None:
        idx = self.order[batch_idx * self.batch_size : (batch_idx + 1) * self.batch_size]
        if idx.numel() < 2:
            return None  # a last batch of one pair has no negatives: skipped
        x, y = self.train_xy
        bound = infonce_lower_bound(self.net(x[idx], y[idx]))
        return (self.net.kl - self.beta * bound) if self.critic == "vsib" else -bound

    def on_train_epoch_end(self) -> None:
        self.net.eval()
        self.history.append(_full_bound(self.net, *self.test_xy))
        self.states.append({k: v.detach().clone() for k, v in self.net.state_dict().items()})

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


def train_max_test(
    x,
    y,
    critic: str = "separable",
    *,
    epochs: int = 50,
    batch_size: int = 128,
    lr: float = 5e-4,
    hidden: int = 64,
    embed_dim: int = 64,
    layers: int = 2,
    beta: float = 1024.0,
    train_fraction: float = 0.9,
    smoothing_sigma: float = 1.0,
    median_window: int = 3,
    max_eval_samples: int = 5000,
    seed: int = 0,
) -> dict:
    """Train a critic on InfoNCE with max-test checkpoint selection (NeuralMI ``Trainer.train``).

    The data are split at random into a training part (``train_fraction``) and a held-out part. Each epoch runs
    Adam over shuffled training batches of ``batch_size`` (loss -I_NCE, or kl - beta I_NCE for "vsib"), then
    evaluates I_NCE on the whole held-out part as one score matrix. The held-out curve is smoothed
    (``smooth_history``) and the epoch of its maximum is the "max-test" checkpoint. [reconstructed: NeuralMI
    reloads a checkpoint saved when the causally smoothed value improved; we keep every epoch's weights and load
    the arg-max of the fully smoothed curve.] Returned: ``train_mi`` = I_NCE on the whole training part at that
    checkpoint (one score matrix, at most ``max_eval_samples`` rows; NeuralMI's per-run value), ``test_mi`` the
    held-out I_NCE there, ``best_epoch`` and the raw ``history``. Seeded; the global torch RNG is left untouched.
    """
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float32)
    n = xt.shape[0]
    if yt.shape[0] != n or n < 4:
        raise ValueError(f"need len(x) == len(y) >= 4, got {n}, {yt.shape[0]}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=gen)
        n_test = int(n * (1.0 - train_fraction))
        test_idx, train_idx = perm[:n_test], perm[n_test:]
        x_tr, y_tr, x_te, y_te = xt[train_idx], yt[train_idx], xt[test_idx], yt[test_idx]
        n_tr = x_tr.shape[0]
        b = min(batch_size, n_tr)
        net = make_protocol_critic(critic, xt.shape[1], yt.shape[1], hidden, embed_dim, layers)
        module = MaxTestModule(net, critic, (x_tr, y_tr), (x_te, y_te), b, lr, beta, gen)
        if epochs > 0:
            _fit_on_cpu(module, math.ceil(n_tr / b), epochs)
        history = module.history
        if np.all(np.isnan(history)):
            best = len(history) - 1  # no held-out data: the last epoch
        else:
            best = int(np.argmax(smooth_history(history, smoothing_sigma, median_window)))
        net.load_state_dict(module.states[best])
        net.eval()
        if n_tr > max_eval_samples:
            keep = torch.randperm(n_tr, generator=gen)[:max_eval_samples]
            x_ev, y_ev = x_tr[keep], y_tr[keep]
        else:
            x_ev, y_ev = x_tr, y_tr
        return {
            "train_mi": _full_bound(net, x_ev, y_ev),
            "test_mi": _full_bound(net, x_te, y_te),
            "best_epoch": best,
            "n_train": int(n_tr),
            "n_test": int(n_test),
            "ceiling": math.log(x_ev.shape[0]),
            "history": [float(h) for h in history],
        }
