"""The diffusion harness through Lightning: the same denoising objective as the plain loop, the Stiefel
constraint kept around every optimiser step, and DDP ranks that end identical."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from subspacelab.diffusion.losses import NoiseLevels
from subspacelab.diffusion.molr_mog import MoLRMoGDenoiser, molr_mog_truth, warm_start
from subspacelab.diffusion.molrg import LowRankMoLRGDenoiser
from subspacelab.lit.diffusion import fit_denoiser
from subspacelab.numerics import union_of_subspaces as uos

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lightning_training_of_the_low_rank_dae_finds_the_pca_subspace():
    """Theorem 1 of the MoLRG paper through the Trainer: K = 1 training recovers the samples' PCA subspace."""
    bases = uos.random_bases(12, [2], seed=5)
    X, _ = uos.sample_union(bases, 30, seed=6, noise=0.15)
    pca = uos.top_subspace(X, 2)
    model = LowRankMoLRGDenoiser(12, [2], seed=1)
    trainer = fit_denoiser(model, X.repeat(40, 1), NoiseLevels("edm"), steps=300, lr=0.05, batch=1024)
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
                       callbacks=[agree], devices=2, strategy="ddp")
if trainer.global_rank == 0:
    json.dump({"world_size": trainer.world_size, "max_abs_diff": agree.max_abs_diff,
               "orthonormality": model.orthonormality_error()}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_end_identical_with_the_stiefel_retraction(tmp_path):
    """Two CPU processes (gloo): every rank draws its own noise and data shard, DDP averages the gradients before
    the tangent projection, so the retracted bases stay identical across ranks."""
    script = tmp_path / "ddp_denoiser.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out_file = tmp_path / "out.json"
    out = subprocess.run(
        [sys.executable, str(script), str(out_file)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out_file.read_text())
    assert res["world_size"] == 2
    assert res["max_abs_diff"] == 0.0
    assert res["orthonormality"] < 1e-12
