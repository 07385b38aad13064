"""The critic trainers of ``lit.critics`` (Lightning) take the steps of the plain loops they replaced, bit for
bit: the loops are kept here as the reference (Adam ascending a bound on random distinct pairs for a fixed
number of steps; NeuralMI's max-test epochs over shuffled batches with a held-out curve). Also: the global torch
generator is left as it was, and a last batch of one pair is skipped as the loop skipped it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from subspacelab.analysis import mi_protocol as P
from subspacelab.analysis.information import (
    _BOUNDS,
    _evaluate_bound,
    _mine_surrogate,
    infonce_lower_bound,
    make_critic,
)
from subspacelab.lit.critics import train_critic_mi, train_max_test


def _plain_bound_ascent(x, y, critic, estimator, steps, batch_size, lr, seed, ema_rate=0.01, hidden=16):
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_critic(critic, xt.shape[1], yt.shape[1], hidden, 8, 2)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        ema = None
        for _ in range(steps):
            idx = torch.randperm(xt.shape[0], generator=gen)[:batch_size]
            s = net(xt[idx], yt[idx])
            if estimator == "mine" and ema_rate is not None:
                objective, ema = _mine_surrogate(s, ema, ema_rate)
            else:
                objective = _BOUNDS[estimator](s)
            opt.zero_grad()
            (-objective).backward()
            opt.step()
        return _evaluate_bound(net, _BOUNDS[estimator], xt, yt, batch_size, 16, gen)


def _plain_max_test_history(x, y, critic, epochs, batch_size, lr, seed, beta=1024.0):
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(xt.shape[0], generator=gen)
        n_test = int(xt.shape[0] * 0.1)
        te, tr = perm[:n_test], perm[n_test:]
        x_tr, y_tr, x_te, y_te = xt[tr], yt[tr], xt[te], yt[te]
        net = P.make_protocol_critic(critic, xt.shape[1], yt.shape[1], 16, 8, 2)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        history = []
        for _ in range(epochs):
            net.train()
            order = torch.randperm(x_tr.shape[0], generator=gen)
            for start in range(0, x_tr.shape[0], batch_size):
                idx = order[start : start + batch_size]
                if idx.numel() < 2:
                    continue
                bound = infonce_lower_bound(net(x_tr[idx], y_tr[idx]))
                loss = (net.kl - beta * bound) if critic == "vsib" else -bound
                opt.zero_grad()
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                history.append(float(infonce_lower_bound(net(x_te, y_te))))
        return history


def _pairs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    return x, x + 0.5 * rng.standard_normal((n, 3))


@pytest.mark.parametrize(
    ("critic", "estimator"), [("separable", "infonce"), ("concat", "nwj"), ("separable", "mine")]
)
def test_bound_ascent_takes_the_plain_loops_steps(critic, estimator):
    x, y = _pairs()
    kw = {"steps": 25, "batch_size": 32, "lr": 3e-3, "seed": 4}
    ours = train_critic_mi(x, y, critic, estimator, hidden=16, embed_dim=8, **kw)
    assert ours == _plain_bound_ascent(x, y, critic, estimator, **kw)


@pytest.mark.parametrize("critic", ["separable", "vsib"])
def test_max_test_takes_the_plain_loops_epochs_and_skips_a_one_pair_batch(critic):
    x, y = _pairs(n=271)  # 244 training pairs: batches of 81, 81, 81 and one pair (skipped)
    state = torch.random.get_rng_state()
    ours = train_max_test(x, y, critic, epochs=4, batch_size=81, lr=3e-3, hidden=16, embed_dim=8, seed=2)
    assert torch.equal(state, torch.random.get_rng_state())
    assert ours["n_train"] == 244 and math.ceil(244 / 81) == 4
    assert ours["history"] == _plain_max_test_history(x, y, critic, 4, 81, 3e-3, 2)
