"""Multi-view self-supervision through Lightning (``lit.multiview.fit_multiview`` over ``lit.fit.fit``) and the
five tests of a training method (DESIGN.md): 2 DDP ranks end identical and equal one process (MMCR's nuclear norm
and SimCLR's negatives are gathered across ranks with a gradient), accumulated micro-batches take the step of
their averaged gradient, a resumed run equals an uninterrupted one, seeds reproduce (the views are redrawn from
the seed, image index and epoch), checkpoints load with ``weights_only=True``."""

import pytest
import torch

from subspacelab.lit.multiview import fit_multiview
from subspacelab.models.conv_encoder import ConvEncoder, Projector
from subspacelab.selfsup.objectives import objective
from subspacelab.selfsup.views import RandomViews

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n=48):
    return torch.rand(n, 1, 10, 10, generator=torch.Generator().manual_seed(0))


def _net(seed=0, norm=True):
    torch.manual_seed(seed)
    return ConvEncoder(1, (4, 8), norm=norm), Projector(8, 16, 8, norm=norm)


def _params(*modules):
    return torch.cat([p.detach().flatten() for m in modules for p in m.parameters()])


def _fit(net, name="mmcr", n_views=4, batch=8, seed=1, **kw):
    return fit_multiview(
        *net, _images(), objective(name), RandomViews(n_views, 10, seed=5), batch=batch, seed=seed, **kw
    )


def test_training_lowers_the_mmcr_objective():
    module = _fit(_net(), epochs=8, lr=1e-2)
    assert module.history[-1]["loss"] < module.history[0]["loss"]
    assert set(module.history[-1]) == {"epoch", "loss", "global_nuc", "local_nuc"}


def test_accumulated_micro_batches_take_the_step_of_their_averaged_gradient():
    """MMCR couples the images of a batch (one centroid matrix), so k micro-batches are k losses whose gradients are
    averaged, then one Adam step: built here by hand with the same rows and views."""
    import numpy as np

    net = _net(2)
    _fit(net, batch=8, seed=3, steps=1, accumulate_grad_batches=2)
    ref = _net(2)
    opt = torch.optim.Adam([p for m in ref for p in m.parameters()], lr=1e-3, weight_decay=1e-6)
    perm = np.random.default_rng([3, 0]).permutation(48)
    views = RandomViews(4, 10, seed=5)
    x = _images()
    for i in range(2):
        rows = torch.as_tensor(perm[i * 8 : (i + 1) * 8])
        v = views(x[rows], rows, 0)
        z = ref[1](ref[0](v.flatten(0, 1))).view(8, 4, -1)
        (objective("mmcr")(z)[0] / 2).backward()
    opt.step()
    torch.testing.assert_close(_params(*net), _params(*ref), atol=1e-6, rtol=0)
    one = _net(2)
    _fit(one, batch=8, seed=3, steps=1)
    assert not torch.allclose(_params(*one), _params(*net), atol=1e-6)


def test_resume_from_checkpoint_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    straight = _fit(_net(4), name="barlow", n_views=2, epochs=2)
    first = _fit(_net(4), name="barlow", n_views=2, epochs=1)
    ckpt = tmp_path / "epoch1.ckpt"
    first.trainer.save_checkpoint(ckpt)
    resumed = _fit(_net(9), name="barlow", n_views=2, epochs=2, ckpt_path=str(ckpt))
    assert torch.equal(_params(straight), _params(resumed)) and resumed.history == straight.history
    state = torch.load(ckpt, weights_only=True)
    assert {"state_dict", "optimizer_states", "epoch_history"} <= set(state)


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    a, b, c = (_fit(_net(0), name="simclr", n_views=2, seed=s, steps=3) for s in (7, 7, 8))
    assert torch.equal(_params(a), _params(b)) and a.history == b.history
    assert not torch.equal(_params(a), _params(c))


SCRIPT = """
import json, sys
import torch
from subspacelab.lit.multiview import fit_multiview
from subspacelab.models.conv_encoder import ConvEncoder, Projector
from subspacelab.selfsup.objectives import objective
from subspacelab.selfsup.views import RandomViews

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)  # float32 round-off through Adam's normalised steps would blur the comparison
x = torch.rand(48, 1, 10, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float32).double()
out = {}
for name, n in (("mmcr", 4), ("simclr", 2)):
    torch.manual_seed(0)
    net = (ConvEncoder(1, (4, 8), norm=False), Projector(8, 16, 8, norm=False))
    module = fit_multiview(*net, x, objective(name), RandomViews(n, 10, seed=5), batch=8, seed=1, steps=3, lr=1e-2,
                           trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
    flat = torch.cat([p.detach().flatten() for m in net for p in m.parameters()]).double()
    ranks = [None, None]
    torch.distributed.all_gather_object(ranks, flat.tolist())
    out[name] = {"ranks": ranks, "world": module.trainer.world_size}
if torch.distributed.get_rank() == 0:
    json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_ranks_end_identical_and_equal_one_process(run_script, float64_default):
    """Without batch norm (per-rank statistics), 2 ranks of 4 images take the one-process step of 8: MMCR's
    centroid matrix and SimCLR's negatives span both ranks' images."""
    res = run_script(SCRIPT, "ddp_multiview.py")
    for name, n in (("mmcr", 4), ("simclr", 2)):
        assert res[name]["world"] == 2 and res[name]["ranks"][0] == res[name]["ranks"][1]
        images, views = _images().double(), RandomViews(n, 10, seed=5)
        with float64_default():
            net = _net(0, norm=False)
            fit_multiview(*net, images, objective(name), views, batch=8, seed=1, steps=3, lr=1e-2)
        got = torch.tensor(res[name]["ranks"][0], dtype=torch.float64)
        torch.testing.assert_close(got, _params(*net), atol=1e-9, rtol=0)
