"""Learning Concrete merging's mask through Lightning (``lit.concrete_merging``), and the five tests of a training
method (DESIGN.md): 2 DDP ranks end identical and equal one process, accumulated micro-batches take the step of the
whole batch, a resumed run equals an uninterrupted one, seeds reproduce, checkpoints load with weights_only; the
entropy against a hand computation, the seeded draw against torch's relaxed Bernoulli, and only the mask learns."""

import pytest
import torch
from torch import nn

from subspacelab.lit.concrete_merging import fit_concrete_mask, prediction_entropy
from subspacelab.merging.concrete import relaxed_bernoulli

pytestmark = pytest.mark.usefixtures("one_thread")


def _models(dtype=torch.float32):
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU()).to(dtype)
    base = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
    tuned = [{k: v + 0.3 * torch.randn_like(v) for k, v in base.items()} for _ in range(2)]
    heads = [nn.Linear(6, 3).to(dtype) for _ in range(2)]
    return backbone, heads, base, tuned


def _inputs(dtype=torch.float32):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(16, 2, 1, 4, 4, generator=gen, dtype=torch.float32).to(dtype)  # as the DDP script's


def _fit(epochs=1, batch=8, seed=3, dtype=torch.float32, **kw):
    backbone, heads, base, tuned = _models(dtype)
    return fit_concrete_mask(backbone, heads, base, tuned, _inputs(dtype), seed=seed, epochs=epochs,
                             batch_size=batch, lr=0.05, **kw)  # fmt: skip


def _logits(module):
    return torch.cat([p.detach().flatten() for p in module.mask.logits])


def test_the_entropy_and_the_seeded_draw():
    logits = torch.tensor([[0.0, 0.0], [0.0, 100.0]])
    assert float(prediction_entropy(logits)) == pytest.approx(
        torch.log(torch.tensor(2.0)).item() / 2, abs=1e-6
    )
    z = torch.randn(50)
    torch.manual_seed(4)
    theirs = torch.distributions.RelaxedBernoulli(torch.tensor(0.5), logits=z).rsample()
    torch.manual_seed(4)
    torch.testing.assert_close(relaxed_bernoulli(z, 0.5, torch.rand(50)), theirs, atol=1e-6, rtol=0)


def test_only_the_mask_learns_and_the_entropy_falls():
    backbone, heads, base, tuned = _models()
    before = [p.detach().clone() for p in backbone.parameters()], [h.weight.detach().clone() for h in heads]
    module = fit_concrete_mask(
        backbone, heads, base, tuned, _inputs(), seed=3, epochs=6, batch_size=8, lr=0.05
    )
    assert all(torch.equal(a, b) for a, b in zip(before[0], backbone.parameters(), strict=True))
    assert all(torch.equal(a, h.weight) for a, h in zip(before[1], heads, strict=True))
    assert _logits(module).abs().sum() > 0 and module.history[-1]["loss"] < module.history[0]["loss"]
    assert sorted(n for n, _ in module.named_parameters()) == [f"mask.logits.{i}" for i in range(len(base))]


def test_accumulated_micro_batches_take_the_step_of_the_whole_batch():
    a = _fit(batch=8, dtype=torch.float64)
    b = _fit(batch=4, dtype=torch.float64, accumulate_grad_batches=2)
    torch.testing.assert_close(_logits(a), _logits(b), atol=1e-9, rtol=0)


def test_resume_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    every_epoch = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1, every_n_epochs=1)
    straight = _fit(epochs=2, callbacks=[every_epoch])
    ckpt = tmp_path / "epoch=0.ckpt"
    assert torch.load(ckpt, weights_only=True)["concrete_mask_history"] == straight.history[:1]
    resumed = _fit(epochs=2, ckpt_path=str(ckpt))
    assert torch.equal(_logits(straight), _logits(resumed)) and resumed.history == straight.history


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    a, b, c = _fit(seed=7), _fit(seed=7), _fit(seed=8)
    assert torch.equal(_logits(a), _logits(b)) and a.history == b.history
    assert not torch.equal(_logits(a), _logits(c))


SCRIPT = """
import json, sys
import torch
from torch import nn
from subspacelab.lit.concrete_merging import fit_concrete_mask

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
backbone = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU())
base = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
tuned = [{k: v + 0.3 * torch.randn_like(v) for k, v in base.items()} for _ in range(2)]
heads = [nn.Linear(6, 3) for _ in range(2)]
x = torch.randn(16, 2, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float32).double()
module = fit_concrete_mask(backbone, heads, base, tuned, x, seed=3, epochs=1, batch_size=8, lr=0.05,
                           trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
flat = torch.cat([p.detach().flatten() for p in module.mask.logits])
ranks = [None, None]
torch.distributed.all_gather_object(ranks, flat.tolist())
if torch.distributed.get_rank() == 0:
    json.dump({"ranks": ranks, "history": module.history, "world": module.trainer.world_size}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_ranks_end_identical_and_equal_one_process(run_script, float64_default):
    got = run_script(SCRIPT, "ddp_concrete_mask.py")
    assert got["world"] == 2 and got["ranks"][0] == got["ranks"][1]
    with float64_default():
        module = _fit(dtype=torch.float64)
    torch.testing.assert_close(
        torch.tensor(got["ranks"][0], dtype=torch.float64), _logits(module), atol=1e-9, rtol=0
    )
    assert got["history"][0]["loss"] == pytest.approx(module.history[0]["loss"], abs=1e-9)
