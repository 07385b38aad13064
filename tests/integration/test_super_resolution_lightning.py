"""Light-field super-resolution through Lightning (``lit.super_resolution``) on MLFSR's network, and the five tests of
a training method (DESIGN.md): 2 DDP ranks end identical and equal one process, accumulated micro-batches take the
step of the whole batch, a resumed run equals an uninterrupted one, seeds reproduce, checkpoints load with
weights_only; the loss against a hand computation, the T2M term and its frozen teacher, the PSNR protocol."""

import pytest
import torch

from subspacelab.lit.super_resolution import fit_super_resolver, sr_loss, super_resolution_scores
from subspacelab.models.lfsr import LightFieldSR

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n=8, ang=3, side=4):
    gen = torch.Generator().manual_seed(0)
    hr = torch.rand(n, ang * ang, 2 * side, 2 * side, generator=gen)
    return torch.nn.functional.avg_pool2d(hr, 2), hr


def _net(seed=0, mixer="mamba"):
    torch.manual_seed(seed)
    return LightFieldSR(mixer, channels=4, groups=1, ang=3, scale=2, d_state=2)


def _params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _fit(net, *, batch=4, seed=1, epochs=1, **kw):
    x, y = _data()
    return fit_super_resolver(net, x, y, seed=seed, epochs=epochs, batch_size=batch, lr=1e-2, **kw)


def test_the_loss_is_l1_plus_the_weighted_feature_l1():
    sr, hr = torch.tensor([[0.5, 1.0]]), torch.tensor([[0.0, 0.0]])
    f_student, f_teacher = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])
    assert float(sr_loss(sr, hr)) == 0.75
    assert float(sr_loss(sr, hr, f_student, f_teacher, distill_weight=0.1)) == pytest.approx(0.75 + 0.1 * 2.0)


def test_the_scores_follow_the_psnr_protocol():
    class Shift(torch.nn.Module):
        def forward(self, x):
            return x + 0.1, None

    x = torch.rand(3, 9, 4, 4)
    s = super_resolution_scores(Shift(), x, x)
    assert s["psnr"] == pytest.approx(20.0) and s["mae"] == pytest.approx(0.1)


def test_training_lowers_the_loss():
    module = _fit(_net(mixer="conv"), epochs=4)
    assert module.history[-1]["loss"] < module.history[0]["loss"]


def test_t2m_leaves_the_teacher_frozen_and_a_self_teacher_adds_nothing():
    teacher = _net(5, "transformer")
    before = _params(teacher)
    student = _net(1)
    _fit(student, teacher=teacher, distill_weight=0.1)
    assert torch.equal(_params(teacher), before) and not teacher.training
    assert not torch.equal(_params(student), _params(_net(1)))
    # a teacher equal to the student's starting point: the T2M term of the first step is 0, so its loss is plain L1;
    # with weight 0 the teacher changes nothing
    x, y = _data()
    one_step = dict(seed=1, epochs=1, batch_size=8, lr=1e-2)
    plain = fit_super_resolver(_net(3), x, y, **one_step)
    self_taught = fit_super_resolver(_net(3), x, y, teacher=_net(3), **one_step)
    assert self_taught.history[0]["loss"] == pytest.approx(plain.history[0]["loss"], abs=1e-6)
    a, b = _net(3), _net(3)
    fit_super_resolver(a, x, y, **one_step)
    fit_super_resolver(b, x, y, teacher=_net(7, "transformer"), distill_weight=0.0, **one_step)
    assert torch.equal(_params(a), _params(b))


def test_accumulated_micro_batches_take_the_step_of_the_whole_batch(float64_default):
    x, y = _data()
    with float64_default():  # float64: Adam's normalised step would magnify float32 round-off
        a, b = _net(2), _net(2)
        fit_super_resolver(a, x.double(), y.double(), seed=1, epochs=1, batch_size=8, lr=1e-2)
        fit_super_resolver(b, x.double(), y.double(), seed=1, epochs=1, batch_size=4, lr=1e-2,
                           accumulate_grad_batches=2)  # fmt: skip
    torch.testing.assert_close(_params(a), _params(b), atol=1e-9, rtol=0)


def test_resume_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    every_epoch = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1, every_n_epochs=1)
    straight = _fit(_net(4), epochs=2, callbacks=[every_epoch], teacher=_net(6, "transformer"))
    ckpt = tmp_path / "epoch=0.ckpt"
    assert torch.load(ckpt, weights_only=True)["super_resolution_history"] == straight.history[:1]
    resumed = _fit(_net(9), epochs=2, ckpt_path=str(ckpt), teacher=_net(8, "transformer"))
    assert torch.equal(_params(straight.net), _params(resumed.net)) and resumed.history == straight.history
    assert torch.equal(_params(resumed.teacher), _params(_net(6, "transformer")))  # the teacher came back too


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    a, b, c = (_fit(_net(0), seed=s) for s in (7, 7, 8))
    assert torch.equal(_params(a.net), _params(b.net)) and a.history == b.history
    assert not torch.equal(_params(a.net), _params(c.net))


SCRIPT = """
import json, sys
import torch
from subspacelab.lit.super_resolution import fit_super_resolver
from subspacelab.models.lfsr import LightFieldSR

torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)
hr = torch.rand(8, 9, 8, 8, generator=gen)  # as the test's _data, in float32, then float64
x, y = torch.nn.functional.avg_pool2d(hr, 2).double(), hr.double()
torch.set_default_dtype(torch.float64)
torch.manual_seed(5)
teacher = LightFieldSR("transformer", channels=4, groups=1, ang=3, scale=2, d_state=2)
torch.manual_seed(0)
net = LightFieldSR("mamba", channels=4, groups=1, ang=3, scale=2, d_state=2)
module = fit_super_resolver(net, x, y, seed=1, epochs=1, batch_size=4, lr=1e-2, teacher=teacher,
                            trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
flat = torch.cat([p.detach().flatten() for p in net.parameters()])
ranks = [None, None]
torch.distributed.all_gather_object(ranks, flat.tolist())
if torch.distributed.get_rank() == 0:
    json.dump({"ranks": ranks, "history": module.history, "world": module.trainer.world_size}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_ranks_end_identical_and_equal_one_process(run_script, float64_default):
    got = run_script(SCRIPT, "ddp_super_resolution.py")
    assert got["world"] == 2 and got["ranks"][0] == got["ranks"][1]
    x, y = _data()
    with float64_default():
        teacher, net = _net(5, "transformer"), _net(0)
        module = fit_super_resolver(net, x.double(), y.double(), seed=1, epochs=1, batch_size=4, lr=1e-2,
                                    teacher=teacher)  # fmt: skip
    torch.testing.assert_close(
        torch.tensor(got["ranks"][0], dtype=torch.float64), _params(net), atol=1e-9, rtol=0
    )
    assert got["history"][0]["loss"] == pytest.approx(module.history[0]["loss"], abs=1e-9)
