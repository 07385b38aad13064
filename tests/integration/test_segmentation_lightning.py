"""Binary segmentation through Lightning (``lit.segmentation``) on MHS-VM's network, and the five tests of a training
method (DESIGN.md): 2 DDP ranks end identical and equal one process, accumulated micro-batches take the step of the
whole batch, a resumed run equals an uninterrupted one, seeds reproduce, checkpoints load with weights_only; the
loss and the pooled-pixel scores against hand computations."""

import pytest
import torch

from subspacelab.lit.segmentation import bce_dice_loss, fit_segmenter, segmentation_scores
from subspacelab.models.vm_unet import VMUNet

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n=16, size=16):
    gen = torch.Generator().manual_seed(0)
    masks = (torch.rand(n, 1, size // 4, size // 4, generator=gen) > 0.5).float()
    masks = masks.repeat_interleave(4, 2).repeat_interleave(4, 3)
    return masks + 0.5 * torch.randn(n, 1, size, size, generator=gen), masks


def _net(seed=0, mixer="mhs"):
    torch.manual_seed(seed)
    return VMUNet(mixer, dims=(8, 16), d_state=4)


def _params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _fit(net, *, batch=8, seed=1, epochs=1, **kw):
    x, m = _data()
    return fit_segmenter(net, x, m, seed=seed, epochs=epochs, batch_size=batch, lr=1e-2, **kw)


def test_the_loss_is_bce_plus_one_minus_the_per_image_dice():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]], [[[1.0, -2.0], [0.5, 0.0]]]])
    masks = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]], [[[1.0, 0.0], [1.0, 1.0]]]])
    p = torch.sigmoid(logits)
    bce = -(masks * p.log() + (1 - masks) * (1 - p).log()).mean()
    dice = [(2 * (p[i] * masks[i]).sum() + 1) / (p[i].sum() + masks[i].sum() + 1) for i in range(2)]
    torch.testing.assert_close(bce_dice_loss(logits, masks), bce + 1 - (dice[0] + dice[1]) / 2)


def test_the_scores_pool_every_pixel_then_count():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x

    pred = torch.tensor([[[[5.0, 5.0], [-5.0, -5.0]]], [[[5.0, -5.0], [-5.0, -5.0]]]])
    true = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    s = segmentation_scores(Fixed(), pred, true)  # TP 1, FP 2, FN 1, TN 4
    assert (s["iou"], s["dsc"], s["accuracy"]) == (0.25, 0.4, 5 / 8)
    assert (s["specificity"], s["sensitivity"], s["dsc_per_image"]) == (4 / 6, 0.5, 0.25)  # image Dice 0.5, 0


def test_training_lowers_the_loss():
    module = _fit(_net(), epochs=4, batch=4)
    assert module.history[-1]["loss"] < module.history[0]["loss"]


def test_accumulated_micro_batches_take_the_step_of_the_whole_batch(float64_default):
    x, m = _data()
    with (
        float64_default()
    ):  # float64: Adam's normalised step would magnify float32 round-off of near-zero gradients
        a, b = _net(2), _net(2)
        fit_segmenter(a, x.double(), m.double(), seed=1, epochs=1, batch_size=8, lr=1e-2)
        # the same rows: batches of 4 slice the same per-epoch permutation
        fit_segmenter(
            b, x.double(), m.double(), seed=1, epochs=1, batch_size=4, lr=1e-2, accumulate_grad_batches=2
        )
    torch.testing.assert_close(_params(a), _params(b), atol=1e-9, rtol=0)


def test_resume_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    every_epoch = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1, every_n_epochs=1)
    straight = _fit(
        _net(4), epochs=2, callbacks=[every_epoch]
    )  # the cosine spans both epochs: resume mid-run
    ckpt = tmp_path / "epoch=0.ckpt"
    assert torch.load(ckpt, weights_only=True)["segmentation_history"] == straight.history[:1]
    resumed = _fit(_net(9), epochs=2, ckpt_path=str(ckpt))
    assert torch.equal(_params(straight.net), _params(resumed.net)) and resumed.history == straight.history


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    a, b, c = (_fit(_net(0), seed=s) for s in (7, 7, 8))
    assert torch.equal(_params(a.net), _params(b.net)) and a.history == b.history
    assert not torch.equal(_params(a.net), _params(c.net))


SCRIPT = """
import json, sys
import torch
from subspacelab.lit.segmentation import fit_segmenter
from subspacelab.models.vm_unet import VMUNet

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(0)
masks = (torch.rand(16, 1, 4, 4, generator=gen, dtype=torch.float32) > 0.5).float()
masks = masks.repeat_interleave(4, 2).repeat_interleave(4, 3)
x = (masks + 0.5 * torch.randn(16, 1, 16, 16, generator=gen, dtype=torch.float32)).double()  # as the test's _data
masks = masks.double()
out = {}
for mixer in ("mhs", "ss2d"):
    torch.manual_seed(0)
    net = VMUNet(mixer, dims=(8, 16), d_state=4)
    module = fit_segmenter(net, x, masks, seed=1, epochs=1, batch_size=8, lr=1e-2,
                           trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
    flat = torch.cat([p.detach().flatten() for p in net.parameters()])
    ranks = [None, None]
    torch.distributed.all_gather_object(ranks, flat.tolist())
    out[mixer] = {"ranks": ranks, "history": module.history, "world": module.trainer.world_size}
if torch.distributed.get_rank() == 0:
    json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_ranks_end_identical_and_equal_one_process(run_script, float64_default):
    res = run_script(SCRIPT, "ddp_segmentation.py")
    x, m = _data()
    for mixer in ("mhs", "ss2d"):
        got = res[mixer]
        assert got["world"] == 2 and got["ranks"][0] == got["ranks"][1]
        with float64_default():
            net = _net(0, mixer)
            module = fit_segmenter(net, x.double(), m.double(), seed=1, epochs=1, batch_size=8, lr=1e-2)
        torch.testing.assert_close(
            torch.tensor(got["ranks"][0], dtype=torch.float64), _params(net), atol=1e-9, rtol=0
        )
        assert got["history"][0]["loss"] == pytest.approx(module.history[0]["loss"], abs=1e-9)
