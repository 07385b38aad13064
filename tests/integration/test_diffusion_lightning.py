"""The diffusion harness through Lightning (``lit.diffusion.fit_denoiser`` over ``lit.fit.fit``): the steps of
the plain loop exactly, the Stiefel constraint kept around every optimiser step, and the five tests of a training
method (DESIGN.md): 2 DDP ranks end identical, accumulated micro-batches equal one larger batch, a resumed run
equals an uninterrupted one, seeds reproduce, checkpoints load with ``weights_only=True``."""

import numpy as np
import pytest
import torch

from subspacelab.diffusion.losses import NoiseLevels, NoisyBatch, denoising_loss, noisy_batch
from subspacelab.diffusion.mlp import MLPDenoiser
from subspacelab.diffusion.molr_mog import MoLRMoGDenoiser, molr_mog_truth, warm_start
from subspacelab.diffusion.molrg import LowRankMoLRGDenoiser
from subspacelab.lit.diffusion import fit_denoiser, loss_history
from subspacelab.numerics import union_of_subspaces as uos

pytestmark = pytest.mark.usefixtures("one_thread")


def train_denoiser(model, x0, levels, steps, lr, batch, seed) -> list[float]:
    """The plain reference loop (what the experiments ran before Lightning): Adam with a cosine-decayed learning
    rate on the weighted denoising loss over minibatches drawn with replacement (rows from
    ``np.random.default_rng([seed, 3])``, noise from a torch generator seeded by ``seed``), a Stiefel-constrained
    model's ``project_gradients`` / ``retract`` around every step. Returns the loss every 1% of the steps."""
    X = x0.to(next(model.parameters()).dtype)
    gen, idx_rng = torch.Generator().manual_seed(int(seed)), np.random.default_rng([int(seed), 3])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    every, history = max(1, steps // 100), []
    for step in range(steps):
        idx = torch.from_numpy(idx_rng.integers(0, X.shape[0], size=batch))
        loss = denoising_loss(model, noisy_batch(X[idx], levels, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if hasattr(model, "project_gradients"):
            model.project_gradients()
        opt.step()
        if hasattr(model, "retract"):
            model.retract()
        sched.step()
        if step % every == 0 or step == steps - 1:
            history.append(float(loss.detach()))
    return history


def test_lightning_training_of_the_low_rank_dae_finds_the_pca_subspace():
    """Theorem 1 of the MoLRG paper through the Trainer: K = 1 training recovers the samples' PCA subspace."""
    bases = uos.random_bases(12, [2], seed=5)
    X, _ = uos.sample_union(bases, 30, seed=6, noise=0.15)
    pca = uos.top_subspace(X, 2)
    model = LowRankMoLRGDenoiser(12, [2], seed=1)
    trainer = fit_denoiser(model, X.repeat(40, 1), NoiseLevels("edm"), steps=300, lr=0.05, batch=1024).trainer
    assert trainer.global_step == 300
    assert model.orthonormality_error() < 1e-12
    assert uos.projector_distance(model.bases()[0], pca) < 0.03
    assert trainer.lr_scheduler_configs[0].scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


def test_lightning_training_lowers_the_molr_mog_score_error():
    bases = uos.random_bases(16, [3, 3], seed=8)
    truth = molr_mog_truth(bases, 2, 3.0, 0.4, seed=9)
    X, _ = truth.sample(512, seed=10)
    x0, _ = truth.sample(200, seed=11)
    xt = x0 + 0.3 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = MoLRMoGDenoiser(16, 2, 3, 2)
    warm_start(m, X, seed=0)
    with torch.no_grad():  # spoil the start: modes too wide and off-centre, so training has work to do
        m.latent_factors.mul_(2.5)
        m.latent_means.add_(0.5)

    def error():
        with torch.no_grad():
            return float(((m(xt, 1.0, 0.3) - truth.posterior_mean(xt, 1.0, 0.3)) ** 2).sum(1).mean())

    before = error()
    fit_denoiser(m, X, NoiseLevels("edm", sigma_data=0.5), steps=100, lr=0.02, batch=128)
    assert error() < 0.5 * before and m.orthonormality_error() < 1e-12


def _data():
    bases = uos.random_bases(16, [2, 2], seed=5)
    X, _ = uos.sample_union(bases, 8, seed=6)
    return X


def _lowrank():
    return LowRankMoLRGDenoiser(16, [2, 2], seed=1, replicas=2)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize(
    "make", [_lowrank, lambda: MLPDenoiser(16, 32, 3, sigma_data=0.5, seed=2)], ids=["lowrank", "mlp"]
)
def test_one_process_takes_exactly_the_steps_of_the_plain_loop(make):
    """Same rows, same noise, same updates as the plain loop with the same seed: bit for bit."""
    X = _data()
    plain, lit = make(), make()
    hist = train_denoiser(plain, X, NoiseLevels("edm"), 60, 0.05, 32, seed=7)
    module = fit_denoiser(lit, X, NoiseLevels("edm"), 60, 0.05, 32, seed=7)
    assert torch.equal(_params(plain), _params(lit))
    assert loss_history(module.losses, 60) == hist


def test_accumulated_micro_batches_equal_one_larger_batch():
    """Two micro-batches of 16 accumulated = one step on the batch of their 32 rows with the same noise (the loss is
    a mean over rows), projection and retraction included."""
    X, seed, levels = _data(), 11, NoiseLevels("edm")
    acc, big = _lowrank(), _lowrank()
    fit_denoiser(acc, X, levels, 1, 0.05, 16, seed=seed, accumulate_grad_batches=2)

    rng, gen = np.random.default_rng([seed, 3]), torch.Generator().manual_seed(seed)
    parts = [
        noisy_batch(X[torch.from_numpy(rng.integers(0, len(X), size=16))], levels, gen) for _ in range(2)
    ]
    batch = NoisyBatch(
        *(torch.cat([getattr(p, f) for p in parts]) for f in ("x0", "xt", "s", "gamma", "weight", "eps"))
    )
    opt = torch.optim.Adam(big.parameters(), lr=0.05)
    denoising_loss(big, batch).backward()
    big.project_gradients()
    opt.step()
    big.retract()
    assert torch.allclose(_params(acc), _params(big), atol=1e-10)
    assert not torch.equal(_params(acc), _params(_lowrank()))


def test_resume_from_checkpoint_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    X, levels = _data(), NoiseLevels("edm")
    straight = fit_denoiser(_lowrank(), X, levels, 10, 0.05, 16, seed=3, steps_per_epoch=5)
    first = fit_denoiser(_lowrank(), X, levels, 10, 0.05, 16, seed=3, steps_per_epoch=5, max_epochs=1)
    assert first.trainer.global_step == 5
    ckpt = tmp_path / "half.ckpt"
    first.trainer.save_checkpoint(ckpt)
    resumed = fit_denoiser(
        LowRankMoLRGDenoiser(16, [2, 2], seed=99, replicas=2), X, levels, 10, 0.05, 16, seed=3,
        steps_per_epoch=5, ckpt_path=str(ckpt),
    )  # fmt: skip
    assert torch.equal(_params(straight.denoiser), _params(resumed.denoiser))
    assert resumed.losses == straight.losses[5:]
    state = torch.load(ckpt, weights_only=True)
    assert {"state_dict", "optimizer_states", "lr_schedulers", "generator_states"} <= set(state)


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    X, levels = _data(), NoiseLevels("edm")
    a, b, c = (fit_denoiser(_lowrank(), X, levels, 20, 0.05, 16, seed=s) for s in (4, 4, 5))
    assert torch.equal(_params(a.denoiser), _params(b.denoiser)) and a.losses == b.losses
    assert not torch.equal(_params(a.denoiser), _params(c.denoiser))


SCRIPT = """
import json, sys
import torch
from subspacelab.diffusion.losses import NoiseLevels
from subspacelab.diffusion.molr_mog import MoLRMoGDenoiser, molr_mog_truth
from subspacelab.lit import RankAgreement
from subspacelab.lit.diffusion import fit_denoiser
from subspacelab.numerics.union_of_subspaces import random_bases

torch.set_num_threads(1)
truth = molr_mog_truth(random_bases(12, [3, 3], seed=1), 2, 3.0, 0.4, seed=2)
X, _ = truth.sample(256, seed=3)
model = MoLRMoGDenoiser(12, 2, 3, 2, seed=0)
agree = RankAgreement()
trainer = fit_denoiser(model, X, NoiseLevels("edm", sigma_data=0.5), steps=8, lr=0.05, batch=32,
                       callbacks=[agree], trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"}).trainer
if trainer.global_rank == 0:
    json.dump({"world_size": trainer.world_size, "max_abs_diff": agree.max_abs_diff,
               "orthonormality": model.orthonormality_error()}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_end_identical_with_the_stiefel_retraction(run_script):
    """Two CPU processes (gloo): every rank draws its own noise and data shard, DDP averages the gradients before
    the tangent projection, so the retracted bases stay identical across ranks."""
    res = run_script(SCRIPT, "ddp_denoiser.py")
    assert res["world_size"] == 2
    assert res["max_abs_diff"] == 0.0
    assert res["orthonormality"] < 1e-12
