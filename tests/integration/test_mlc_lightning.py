"""MLC through Lightning (``lit.mlc.fit_mlc`` over ``lit.fit.fit``): the objective trains (the loss moves, outputs
stay on the sphere), stages freeze what they do not train, and the five tests of a training method (DESIGN.md):
2 DDP ranks end identical, accumulated micro-batches take the step of their averaged gradient, a resumed run
equals an uninterrupted one, seeds reproduce, checkpoints load with ``weights_only=True``; plus the paper's smoke
run from the command line on two gloo processes."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from subspacelab.clustering import mlc as M
from subspacelab.lit.mlc import MLCModule, fit_mlc

pytestmark = pytest.mark.usefixtures("one_thread")
HEADS = {"lr_heads": 1e-2, "lr_backbone": 1e-3}


def _images(n=64, seed=0, k=4):
    """k classes: a random smooth 7x7 pattern per class, upsampled to 28x28, plus pixel noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.nn.functional.interpolate(torch.rand(k, 1, 7, 7, generator=g), size=28, mode="bilinear")
    x = protos[torch.arange(n) % k] + 0.2 * torch.rand(n, 1, 28, 28, generator=g)
    return x.clamp(0, 1)


def _net(seed=0):
    torch.manual_seed(seed)
    net = M.MLCNet(channels=(4, 8, 8, 8), hidden=32, dim=8)
    M.copy_feature_to_cluster_head(net)
    return net


def _params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


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
    module = fit_mlc(net, X, steps=15, stage="mlc", batch=32, module_kwargs=HEADS)
    assert module.trainer.global_step == 15
    # 2 batches of 32 per epoch: 7 full epochs and the first step of an 8th
    assert [row["epoch"] for row in module.history] == list(range(1, 9))
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


def test_accumulated_micro_batches_take_the_step_of_their_averaged_gradient():
    """MLC's loss couples the samples of a batch (Γ, log det), so k micro-batches are not one k-times batch: they
    are k losses whose gradients are averaged, which is what DDP's k ranks compute too. Reference by hand: the same
    two micro-batches (first 2 x 16 rows of the epoch-0 permutation), the same augmentation stream, one Adam step."""
    X = _images(64)
    seed, b = 3, 16
    net = _net(2)
    ref = _net(2)
    fit_mlc(net, X, steps=1, stage="mlc", batch=b, seed=seed, module_kwargs=HEADS, accumulate_grad_batches=2)

    perm = np.random.default_rng([seed, 0]).permutation(len(X))
    gen = torch.Generator().manual_seed(seed)
    ref.train()
    opt = torch.optim.Adam(
        [
            {"params": [*ref.pre_feature.parameters(), *ref.feature_head.parameters(), *ref.cluster_head.parameters()],
             "lr": HEADS["lr_heads"]},
            {"params": list(ref.backbone.parameters()), "lr": HEADS["lr_backbone"]},
        ]
    )  # fmt: skip
    for i in range(2):
        loss, _ = M.mlc_step(ref, X[perm[i * b : (i + 1) * b]], gen, 0.5, 0.175, 10)
        (loss / 2).backward()
    opt.step()
    assert torch.allclose(_params(net), _params(ref), atol=1e-6)
    # and the step did something: the one-micro-batch step differs
    one = _net(2)
    fit_mlc(one, X, steps=1, stage="mlc", batch=b, seed=seed, module_kwargs=HEADS)
    assert not torch.allclose(_params(one), _params(net), atol=1e-6)


def test_resume_from_checkpoint_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    X = _images(64)
    straight = fit_mlc(_net(4), X, epochs=2, stage="mlc", batch=16, seed=5, module_kwargs=HEADS)
    first = fit_mlc(_net(4), X, epochs=1, stage="mlc", batch=16, seed=5, module_kwargs=HEADS)
    ckpt = tmp_path / "epoch1.ckpt"
    first.trainer.save_checkpoint(ckpt)
    resumed = fit_mlc(
        _net(9), X, epochs=2, stage="mlc", batch=16, seed=5, module_kwargs=HEADS, ckpt_path=str(ckpt)
    )
    assert torch.equal(_params(straight.net), _params(resumed.net))
    assert resumed.history == straight.history
    state = torch.load(ckpt, weights_only=True)
    assert {"state_dict", "optimizer_states", "generator_states"} <= set(state)


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    X = _images(48)
    a, b, c = (
        fit_mlc(_net(0), X, steps=3, stage="mlc", batch=16, seed=s, module_kwargs=HEADS) for s in (7, 7, 8)
    )
    assert torch.equal(_params(a.net), _params(b.net)) and a.history == b.history
    assert not torch.equal(_params(a.net), _params(c.net))


SCRIPT = """
import json, sys
import torch
from subspacelab.clustering import mlc as M
from subspacelab.lit.mlc import fit_mlc

torch.set_num_threads(1)
torch.manual_seed(0)
net = M.MLCNet(channels=(4, 8, 8, 8), hidden=32, dim=8)
M.copy_feature_to_cluster_head(net)
start = torch.cat([p.detach().flatten() for p in net.parameters()])
X = torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(1))
module = fit_mlc(net, X, steps=4, stage="mlc", batch=32,
                 trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"},
                 module_kwargs={"lr_heads": 1e-2, "lr_backbone": 1e-3})
# after the fit: identical parameters (DDP), and rank 0's batch-norm statistics on every rank (the fit helper)
def rank_diff(tensors):
    flat = torch.cat([t.detach().double().flatten() for t in tensors])
    return float((module.trainer.strategy.all_gather(flat) - flat).abs().max())
params_diff, buffers_diff = rank_diff(net.parameters()), rank_diff(net.buffers())
if module.trainer.global_rank == 0:
    net.eval()
    with torch.no_grad():
        z, c = net(X[:16])
    moved = float((torch.cat([p.detach().flatten() for p in net.parameters()]) - start).abs().max())
    json.dump({"world_size": module.trainer.world_size, "params_diff": params_diff, "moved": moved,
               "buffers_diff": buffers_diff, "norm_err": float((z.norm(dim=1) - 1).abs().max()),
               "epochs": len(module.history)}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_end_identical(run_script):
    """Two CPU processes (gloo) through the fit helper: each rank augments its slice of the global batch with its
    own generator and builds Γ on it; DDP averages the gradients, so the parameters stay identical (and moved)."""
    res = run_script(SCRIPT, "ddp_mlc.py")
    assert res["world_size"] == 2 and res["epochs"] == 1  # 4 steps = the 128 / 32 global batches of one epoch
    assert res["params_diff"] == 0.0 and res["buffers_diff"] == 0.0
    assert res["moved"] > 0.0
    assert res["norm_err"] < 1e-5


@pytest.mark.slow
@pytest.mark.ddp
def test_the_smoke_run_trains_on_two_processes_from_the_command_line(tmp_path):
    """``python -m subspacelab.train paper=mlc scale=smoke trainer=ddp trainer.devices=2``: rank 0 records the
    run (world size 2), the other rank writes nothing of its own."""
    cmd = [
        sys.executable,
        "-m",
        "subspacelab.train",
        "paper=mlc",
        "scale=smoke",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"runs_root={tmp_path}",
        "logger=none",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)  # from the repo: data/raw
    assert out.returncode == 0, out.stderr[-3000:]
    (metrics,) = list(tmp_path.glob("mlc/smoke/*/metrics.json"))
    m = json.loads(metrics.read_text())
    assert m["world_size"] == 2 and m["kind"] == "experiment"
    assert len(m["tcr_log"]) == 1 and [row["epoch"] for row in m["mlc_log"]] == [0, 1]
    assert 0.0 <= m["mlc_acc"] <= 1.0
