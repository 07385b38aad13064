"""Split VAEs through Lightning (``lit.vae.fit_vae`` over ``lit.fit.fit``) and the five tests of a training method
(DESIGN.md): 2 DDP ranks end identical and equal one process (the per-factor InfoNCE gathers every rank's rows
with a gradient), accumulated micro-batches take the step of their averaged gradient, a resumed run equals an
uninterrupted one, seeds reproduce (the reparameterisation noise is redrawn from the seed, row and epoch),
checkpoints load with ``weights_only=True``."""

import numpy as np
import pytest
import torch

from subspacelab.disentangle.model import SplitVAE
from subspacelab.disentangle.objectives import BetaVAE, XFactors
from subspacelab.lit.vae import fit_vae, row_noise

pytestmark = pytest.mark.usefixtures("one_thread")
XF = XFactors(dim_s=2, factor_dims=2, factors=2, temperature=0.5)


def _data(n=48):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 32, 32, generator=g) > 0.7).float(), torch.randint(0, 3, (n, 2), generator=g)


def _model(seed=0, norm=True, groups=(2, 4)):
    torch.manual_seed(seed)
    return SplitVAE(list(groups), width=4, norm=norm)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_lowers_the_loss_and_logs_its_parts():
    x, y = _data()
    module = fit_vae(_model(), x, y, XF, batch=16, seed=1, epochs=6, lr=1e-2)
    assert module.history[-1]["loss"] < module.history[0]["loss"]
    assert set(module.history[-1]) == {"epoch", "loss", "mse", "kl_s", "kl_t", "nce"}


def test_accumulated_micro_batches_take_the_step_of_their_averaged_gradient():
    """The InfoNCE couples a batch's rows, so k micro-batches are k losses whose gradients are averaged, clipped,
    then one AdamW step: built here by hand with the same rows and noise."""
    x, y = _data()
    net = _model(2)
    fit_vae(net, x, y, XF, batch=16, seed=3, steps=1, accumulate_grad_batches=2)
    ref = _model(2)
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-3, weight_decay=1e-2)
    perm = np.random.default_rng([3, 0]).permutation(48)
    for i in range(2):
        rows = torch.as_tensor(perm[i * 16 : (i + 1) * 16])
        mu, logvar = ref.encode(x[rows])
        z = mu + (0.5 * logvar).exp() * row_noise(rows, 3, 0, mu.shape[-1], mu)
        loss, _ = XF(x[rows], y[rows], ref.decode(z), mu, logvar, z)
        (loss / 2).backward()
    torch.nn.utils.clip_grad_norm_(ref.parameters(), 3.0)
    opt.step()
    torch.testing.assert_close(_params(net), _params(ref), atol=1e-6, rtol=0)


def test_resume_from_checkpoint_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    x, y = _data()
    beta = BetaVAE(latent=6, beta=4.0)
    straight = fit_vae(_model(4, groups=(6,)), x, y, beta, batch=16, seed=5, epochs=2)
    first = fit_vae(_model(4, groups=(6,)), x, y, beta, batch=16, seed=5, epochs=1)
    ckpt = tmp_path / "epoch1.ckpt"
    first.trainer.save_checkpoint(ckpt)
    resumed = fit_vae(_model(9, groups=(6,)), x, y, beta, batch=16, seed=5, epochs=2, ckpt_path=str(ckpt))
    assert (
        torch.equal(_params(straight.model), _params(resumed.model)) and resumed.history == straight.history
    )
    state = torch.load(ckpt, weights_only=True)
    assert {"state_dict", "optimizer_states", "epoch_history"} <= set(state)


def test_a_seed_reproduces_its_run_and_the_noise_depends_on_the_row_not_the_batch():
    x, y = _data()
    a, b, c = (fit_vae(_model(0), x, y, XF, batch=16, seed=s, steps=3) for s in (7, 7, 8))
    assert torch.equal(_params(a.model), _params(b.model)) and a.history == b.history
    assert not torch.equal(_params(a.model), _params(c.model))
    like = torch.zeros(())
    whole = row_noise(torch.arange(6), 1, 0, 4, like)
    assert torch.equal(row_noise(torch.tensor([4, 2]), 1, 0, 4, like), whole[[4, 2]])
    assert not torch.equal(row_noise(torch.arange(6), 1, 1, 4, like), whole)


SCRIPT = """
import json, sys
import torch
from subspacelab.disentangle.model import SplitVAE
from subspacelab.disentangle.objectives import XFactors
from subspacelab.lit.vae import fit_vae

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x = (torch.rand(48, 1, 32, 32, generator=g) > 0.7).double()
y = torch.randint(0, 3, (48, 2), generator=g)
torch.set_default_dtype(torch.float64)  # float32 round-off through Adam's normalised steps would blur the comparison
torch.manual_seed(0)
model = SplitVAE([2, 4], width=4, norm=False)
module = fit_vae(model, x, y, XFactors(dim_s=2, factor_dims=2, factors=2, temperature=0.5), batch=16, seed=1,
                 steps=3, lr=1e-2, trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
ranks = [None, None]
torch.distributed.all_gather_object(ranks, flat.tolist())
if torch.distributed.get_rank() == 0:
    json.dump({"ranks": ranks, "world": module.trainer.world_size}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_ranks_end_identical_and_equal_one_process(run_script, float64_default):
    """Without batch norm (per-rank statistics), 2 ranks of 8 rows take the one-process step of 16: every factor's
    InfoNCE spans both ranks' rows, the reconstruction and KL terms are means."""
    res = run_script(SCRIPT, "ddp_vae.py")
    assert res["world"] == 2 and res["ranks"][0] == res["ranks"][1]
    x, y = _data()
    with float64_default():
        model = _model(0, norm=False)
        fit_vae(
            model,
            x.double(),
            y,
            XFactors(dim_s=2, factor_dims=2, factors=2, temperature=0.5),
            batch=16,
            seed=1,
            steps=3,
            lr=1e-2,
        )
    torch.testing.assert_close(
        torch.tensor(res["ranks"][0], dtype=torch.float64), _params(model), atol=1e-9, rtol=0
    )
