"""``lit.classifier.fit_classifier``, the one call through which experiments train a classification network
inside their run (subspace_ad's backbone, treesynth's and molr_mog's classifiers, plato_cave's pretext encoders):
a seed reproduces its network, and two DDP processes end identical and equal to one process (each rank takes
its half of every global batch; DDP averages the gradients)."""

import pytest
import torch
from torch import nn

from subspacelab.lit.classifier import fit_classifier

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n=96, d=6, classes=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long()


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _flat(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_a_seed_reproduces_the_network_another_seed_does_not_and_training_fits():
    x, y = _data()
    a, b, c = (fit_classifier(_net(), x, y, 3, seed=s, epochs=3, batch_size=16, lr=1e-2) for s in (1, 1, 2))
    assert torch.equal(_flat(a), _flat(b)) and not torch.equal(_flat(a), _flat(c))
    assert not a.training  # returned in eval mode
    before = nn.functional.cross_entropy(_net()(x), y)
    assert nn.functional.cross_entropy(a(x), y) < before


SCRIPT = """
import json, sys
import torch
from torch import nn
from subspacelab.lit.classifier import fit_classifier

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x = torch.randn(96, 6, generator=g)
y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
fit_classifier(net, x, y, 3, seed=1, epochs=2, batch_size=16, lr=1e-2,
               trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
flat = torch.cat([p.detach().flatten() for p in net.parameters()]).double()
gathered = torch.distributed.all_gather_object
ranks = [None, None]
gathered(ranks, flat.tolist())
if torch.distributed.get_rank() == 0:
    json.dump({"ranks": ranks, "world": torch.distributed.get_world_size()}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_processes_end_identical_and_equal_one_process(run_script):
    res = run_script(SCRIPT, "ddp_fit.py")
    assert res["world"] == 2 and res["ranks"][0] == res["ranks"][1]
    x, y = _data()
    one = fit_classifier(_net(), x, y, 3, seed=1, epochs=2, batch_size=16, lr=1e-2)
    torch.testing.assert_close(
        torch.tensor(res["ranks"][0], dtype=torch.float64), _flat(one).double(), atol=1e-5, rtol=0
    )
