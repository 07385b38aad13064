"""Koopman autoencoders through Lightning (``lit.koopman.fit_koopman`` over ``lit.fit.fit``) and the five tests of
a training method (DESIGN.md): 2 DDP ranks end identical (and, for the objectives whose terms decompose over
windows, equal to one process), accumulated micro-batches take the step of their averaged gradient, a resumed run
equals an uninterrupted one, seeds reproduce, checkpoints load with ``weights_only=True``."""

import numpy as np
import pytest
import torch

from subspacelab.dynamics import koopman as kp
from subspacelab.lit.koopman import fit_koopman

pytestmark = pytest.mark.usefixtures("one_thread")
FULL = kp.LossWeights(mi=2.0, entropy=-0.1, mi_window=2)


def _windows(n=64, T=8, obs=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.linalg.qr(torch.randn(obs, obs, generator=g))[0]
    x = [torch.randn(n, obs, generator=g)]
    for _ in range(T):
        x.append(x[-1] @ A + 0.01 * torch.randn(n, obs, generator=g))
    return torch.stack(x, 1)


def _model(seed=0):
    torch.manual_seed(seed)
    return kp.MLPAutoencoder(6, 3, 16)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_lowers_the_prediction_loss():
    module = fit_koopman(_model(), _windows(), FULL, epochs=6, batch=16, seed=1, lr=1e-2)
    assert module.history[-1]["fwd"] < module.history[0]["fwd"]
    assert set(module.history[-1]) == {"epoch", "loss", "fwd", "id", "mi", "entropy"}


def test_accumulated_micro_batches_take_the_step_of_their_averaged_gradient():
    """Each micro-batch has its own operator, InfoNCE and entropy (they couple its windows), so k micro-batches are
    k losses whose gradients are averaged, clipped, then one Adam step: built here by hand."""
    X, seed, b = _windows(), 3, 8
    net = _model(2)
    fit_koopman(net, X, FULL, steps=1, batch=b, seed=seed, clip=1.0, accumulate_grad_batches=2)
    ref = _model(2)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    perm = np.random.default_rng([seed, 0]).permutation(len(X))
    for i in range(2):
        w = X[perm[i * b : (i + 1) * b]]
        loss, _, _ = kp.koopman_loss(ref, w[:, :-1], w[:, 1:], FULL)
        (loss / 2).backward()
    torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
    opt.step()
    torch.testing.assert_close(_params(net), _params(ref), atol=1e-6, rtol=0)
    one = _model(2)
    fit_koopman(one, X, FULL, steps=1, batch=b, seed=seed)
    assert not torch.allclose(_params(one), _params(net), atol=1e-6)


def test_resume_from_checkpoint_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    X = _windows()
    straight = fit_koopman(_model(4), X, FULL, epochs=2, batch=16, seed=5)
    first = fit_koopman(_model(4), X, FULL, epochs=1, batch=16, seed=5)
    ckpt = tmp_path / "epoch1.ckpt"
    first.trainer.save_checkpoint(ckpt)
    resumed = fit_koopman(_model(9), X, FULL, epochs=2, batch=16, seed=5, ckpt_path=str(ckpt))
    assert torch.equal(_params(straight.model), _params(resumed.model))
    assert resumed.history == straight.history
    state = torch.load(ckpt, weights_only=True)
    assert {"state_dict", "optimizer_states", "lr_schedulers", "koopman_history"} <= set(state)


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    X = _windows(48)
    a, b, c = (fit_koopman(_model(0), X, FULL, steps=3, batch=16, seed=s) for s in (7, 7, 8))
    assert torch.equal(_params(a.model), _params(b.model)) and a.history == b.history
    assert not torch.equal(_params(a.model), _params(c.model))


SCRIPT = """
import json, sys
import torch
from subspacelab.dynamics import koopman as kp
from subspacelab.lit.koopman import fit_koopman

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
X = torch.randn(64, 9, 6, generator=g)
out = {}
for name, w in (("full", kp.LossWeights(mi=2.0, entropy=-0.1, mi_window=2)), ("mi", kp.LossWeights(mi=2.0, mi_window=2))):
    torch.manual_seed(0)
    model = kp.MLPAutoencoder(6, 3, 16)
    module = fit_koopman(model, X, w, steps=4, batch=16, seed=1, lr=1e-2,
                         trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
    flat = torch.cat([p.detach().flatten() for p in model.parameters()]).double()
    out[name] = {"diff": float((module.trainer.strategy.all_gather(flat) - flat).abs().max()),
                 "params": flat.tolist(), "world": module.trainer.world_size}
if torch.distributed.get_rank() == 0:
    json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_end_identical_and_equal_one_process_where_the_terms_decompose(run_script):
    """Two gloo processes: the parameters are identical on both ranks for the full objective. Without the entropy
    term every part of the loss is a mean over windows and the operator is averaged over the ranks, so 2 ranks of
    8 windows take the one-process step of 16 windows."""
    res = run_script(SCRIPT, "ddp_koopman.py")
    assert res["full"]["world"] == 2 and res["full"]["diff"] == 0.0 and res["mi"]["diff"] == 0.0
    torch.manual_seed(0)
    model = kp.MLPAutoencoder(6, 3, 16)
    X = torch.randn(64, 9, 6, generator=torch.Generator().manual_seed(0))
    fit_koopman(model, X, kp.LossWeights(mi=2.0, mi_window=2), steps=4, batch=16, seed=1, lr=1e-2)
    np.testing.assert_allclose(res["mi"]["params"], _params(model).double().numpy(), atol=1e-5)
