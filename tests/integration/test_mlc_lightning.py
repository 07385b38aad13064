"""MLC through Lightning: the objective of the plain loop trains (the loss moves, outputs stay on the sphere),
the one-shot head copy survives the Trainer, and DDP ranks end with identical parameters."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from subspacelab.clustering import mlc as M
from subspacelab.lit.mlc import MLCModule, fit_mlc

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n=64, seed=0, k=4):
    """k classes: a random smooth 7x7 pattern per class, upsampled to 28x28, plus pixel noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.nn.functional.interpolate(torch.rand(k, 1, 7, 7, generator=g), size=28, mode="bilinear")
    x = protos[torch.arange(n) % k] + 0.2 * torch.rand(n, 1, 28, 28, generator=g)
    return x.clamp(0, 1)


def _net(seed=0):
    torch.manual_seed(seed)
    return M.MLCNet(channels=(4, 8, 8, 8), hidden=32, dim=8)


def test_lightning_mlc_steps_lower_the_loss_and_keep_outputs_on_the_sphere():
    X = _images()
    net = _net()
    fit_mlc(net, X, steps=3, stage="tcr", batch=32, module_kwargs={"lr_backbone": 1e-3})
    M.copy_feature_to_cluster_head(net)

    def loss_on_fixed_views():  # batch statistics (train mode), fixed augmentations, no update
        net.train()
        with torch.no_grad():
            return float(M.mlc_step(net, X, torch.Generator().manual_seed(123), 0.5, 0.175, 10)[0])

    before = loss_on_fixed_views()
    trainer = fit_mlc(
        net, X, steps=15, stage="mlc", batch=32, module_kwargs={"lr_heads": 1e-2, "lr_backbone": 1e-3}
    )
    assert trainer.global_step == 15
    after = loss_on_fixed_views()
    assert after < before, (before, after)
    net.eval()
    with torch.no_grad():
        z, c = net(X)
    assert torch.allclose(z.norm(dim=1), torch.ones(len(X)), atol=1e-5)
    assert torch.allclose(c.norm(dim=1), torch.ones(len(X)), atol=1e-5)


def test_frozen_backbone_is_not_updated_and_tcr_leaves_the_cluster_head_alone():
    X = _images(32)
    net = _net(1)
    backbone = [p.detach().clone() for p in net.backbone.parameters()]
    head = [p.detach().clone() for p in net.cluster_head.parameters()]
    fit_mlc(net, X, steps=2, stage="tcr", batch=16, module_kwargs={"lr_backbone": 0.0})
    assert all(torch.equal(a, b) for a, b in zip(backbone, net.backbone.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(head, net.cluster_head.parameters(), strict=True))
    with pytest.raises(ValueError, match="stage"):
        MLCModule(net, stage="nmce")


SCRIPT = """
import json, sys
import torch
from subspacelab.clustering import mlc as M
from subspacelab.lit.mlc import fit_mlc
import lightning as L


class ParamAgreement(L.Callback):
    # parameters only: BatchNorm running statistics are per-rank buffers under plain DDP
    def on_train_end(self, trainer, pl_module):
        flat = torch.cat([p.detach().double().flatten() for p in pl_module.parameters()])
        gathered = trainer.strategy.all_gather(flat.contiguous())
        self.max_abs_diff = float((gathered - gathered[0]).abs().max())
        self.moved = float((flat - self.start).abs().max())

    def on_train_start(self, trainer, pl_module):
        self.start = torch.cat([p.detach().double().flatten() for p in pl_module.parameters()])


torch.set_num_threads(1)
torch.manual_seed(0)
net = M.MLCNet(channels=(4, 8, 8, 8), hidden=32, dim=8)
M.copy_feature_to_cluster_head(net)
X = torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(1))
agree = ParamAgreement()
trainer = fit_mlc(net, X, steps=4, stage="mlc", batch=32, callbacks=[agree], devices=2, strategy="ddp",
                  module_kwargs={"lr_heads": 1e-2, "lr_backbone": 1e-3})
if trainer.global_rank == 0:
    net.eval()
    with torch.no_grad():
        z, c = net(X[:16])
    json.dump({"world_size": trainer.world_size, "max_abs_diff": agree.max_abs_diff, "moved": agree.moved,
               "norm_err": float((z.norm(dim=1) - 1).abs().max())}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_end_identical(tmp_path):
    """Two CPU processes (gloo): each rank augments its own shard with its own generator and builds Γ on it; DDP
    averages the gradients, so the parameters stay identical across ranks (and did move)."""
    script = tmp_path / "ddp_mlc.py"
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
    assert res["moved"] > 0.0
    assert res["norm_err"] < 1e-5
