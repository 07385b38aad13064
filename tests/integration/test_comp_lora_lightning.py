"""Training a Comp-LoRA network through Lightning (``lit.classifier.fit_classifier``, how comp_lora adapts), and the
five tests of a training method (DESIGN.md): 2 DDP ranks end identical and equal one process, accumulated
micro-batches take the step of the whole batch, a resumed run equals an uninterrupted one, seeds reproduce,
checkpoints load with weights_only; only A, B and the head learn, and the update stays out of the excluded
subspace after training."""

import pytest
import torch
from torch import nn

from subspacelab.lit.classifier import fit_classifier
from subspacelab.lowrank.complement import ComplementLoRALinear, principal_leak
from subspacelab.lowrank.lora import inject_lora

pytestmark = pytest.mark.usefixtures("one_thread")


def _net(dtype=torch.float32):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)
    inject_lora(net, ["0"], r=2, layer_cls=ComplementLoRALinear, excluded_rank=3)
    return net


def _data(dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 6, generator=g, dtype=torch.float32).to(dtype)  # as the DDP script's
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long()


def _fit(seed=1, epochs=2, batch=8, dtype=torch.float32, **kw):
    return fit_classifier(
        _net(dtype), *_data(dtype), 3, seed=seed, epochs=epochs, batch_size=batch, lr=0.05, **kw
    )


def _trained(net):
    return torch.cat([p.detach().flatten() for p in net.parameters() if p.requires_grad])


def test_only_a_b_and_the_head_learn_and_the_update_stays_out_of_the_excluded_subspace():
    before = _net()
    after = _fit(epochs=4)
    assert torch.equal(before[0].weight, after[0].weight) and torch.equal(
        before[0].u_principal, after[0].u_principal
    )
    assert not torch.equal(before[0].lora_B, after[0].lora_B) and not torch.equal(
        before[2].weight, after[2].weight
    )
    assert torch.linalg.matrix_norm(after[0].delta()) > 0 and principal_leak(after[0]) < 1e-5
    x, y = _data()
    assert nn.functional.cross_entropy(after(x), y) < nn.functional.cross_entropy(before(x), y)


def test_accumulated_micro_batches_take_the_step_of_the_whole_batch():
    a = _fit(batch=8, dtype=torch.float64)
    b = _fit(batch=4, dtype=torch.float64, accumulate_grad_batches=2)
    torch.testing.assert_close(_trained(a), _trained(b), atol=1e-9, rtol=0)


def test_resume_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    every_epoch = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1, every_n_epochs=1)
    straight = _fit(callbacks=[every_epoch])
    ckpt = tmp_path / "epoch=0.ckpt"
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert any(k.endswith("u_principal") for k in state)  # the frozen bases travel with the checkpoint
    resumed = _fit(ckpt_path=str(ckpt))
    assert torch.equal(_trained(straight), _trained(resumed))


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    a, b, c = _fit(seed=7), _fit(seed=7), _fit(seed=8)
    assert torch.equal(_trained(a), _trained(b)) and not torch.equal(_trained(a), _trained(c))


SCRIPT = """
import json, sys
import torch
from torch import nn
from subspacelab.lit.classifier import fit_classifier
from subspacelab.lowrank.complement import ComplementLoRALinear
from subspacelab.lowrank.lora import inject_lora

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
inject_lora(net, ["0"], r=2, layer_cls=ComplementLoRALinear, excluded_rank=3)
x = torch.randn(32, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float32).double()
y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
fit_classifier(net, x, y, 3, seed=1, epochs=2, batch_size=8, lr=0.05,
               trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
flat = torch.cat([p.detach().flatten() for p in net.parameters() if p.requires_grad])
ranks = [None, None]
torch.distributed.all_gather_object(ranks, flat.tolist())
if torch.distributed.get_rank() == 0:
    json.dump({"ranks": ranks, "world": torch.distributed.get_world_size()}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_ranks_end_identical_and_equal_one_process(run_script, float64_default):
    got = run_script(SCRIPT, "ddp_comp_lora.py")
    assert got["world"] == 2 and got["ranks"][0] == got["ranks"][1]
    with float64_default():
        one = _fit(dtype=torch.float64)
    torch.testing.assert_close(
        torch.tensor(got["ranks"][0], dtype=torch.float64), _trained(one), atol=1e-9, rtol=0
    )
