"""ADSL's training step through Lightning (``lit.subspace_learners``) and the five tests of a training method
(DESIGN.md): 2 DDP ranks end identical and equal one process (embeddings and labels gathered, so every rank mines
the global batch), accumulated micro-batches take the step of their averaged gradient, a resumed run equals an
uninterrupted one (learner sizes and history included), seeds reproduce, checkpoints load with weights_only; and
the Taylor accumulator is the sum of activation x gradient."""

import numpy as np
import pytest
import torch

from subspacelab.lit.cluster_batches import ClusterBalancedBatches
from subspacelab.lit.subspace_learners import SubspaceLearnersModule, fit_subspace_learners
from subspacelab.metric.margin import margin_loss, mine_pairs
from subspacelab.models.attention_embedder import AttentionEmbedder

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n=48, classes=4):
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(classes).repeat_interleave(n // classes)
    x = torch.rand(n, 1, 8, 8, generator=gen) + 0.5 * y.view(-1, 1, 1, 1) / classes
    clusters = torch.as_tensor(np.arange(n) % 2)  # two clusters, every class in both
    return x, y, clusters


def _net(seed=0, learners=2, norm=True):
    torch.manual_seed(seed)
    return AttentionEmbedder(1, (4, 8), dim=16, learners=learners, dropout=0.0, norm=norm)


def _params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _fit(net, *, batch=8, seed=1, epochs=1, steps=3, lr=1e-2, **kw):
    x, y, clusters = _data()
    module = SubspaceLearnersModule(net, lr=lr)
    return fit_subspace_learners(module, x, y, clusters, batch=batch, per_class=2, steps_per_epoch=steps, seed=seed,
                                 epochs=epochs, **kw)  # fmt: skip


def test_training_lowers_the_margin_loss():
    module = _fit(_net(), epochs=6, steps=6)
    assert module.history[-1]["loss"] < module.history[0]["loss"]


def test_the_epoch_taylor_is_summed_over_ranks_once_whichever_hook_asks_first():
    from types import SimpleNamespace

    from subspacelab.lit.subspace_learners import SubspaceLearnersModule

    calls = []

    def reduce(t, reduce_op):  # two ranks holding the same sums
        calls.append(reduce_op)
        return 2 * t

    module = SubspaceLearnersModule(_net())
    fake = SimpleNamespace(world_size=2, strategy=SimpleNamespace(reduce=reduce))
    module.trainer = fake  # a stand-in trainer of world size 2
    module.on_train_epoch_start()
    module.taylor += 1.0
    assert torch.equal(module.summed_taylor(), 2 * torch.ones_like(module.taylor))  # the schedule's callback
    assert torch.equal(module.summed_taylor(), 2 * torch.ones_like(module.taylor))  # the module's own hook
    assert calls == ["sum"]
    module.on_train_epoch_start()  # a new epoch sums afresh
    module.taylor += 1.0
    module.summed_taylor()
    assert calls == ["sum", "sum"]


def test_the_taylor_accumulator_is_the_sum_of_activation_times_gradient():
    net, ref = _net(3), _net(3)
    module = _fit(net, steps=1)
    x, y, clusters = _data()
    (rows,) = list(ClusterBalancedBatches(y.numpy(), clusters.numpy(), 8, 2, 1, seed=1))
    z = ref(x[rows])
    z.retain_grad()
    block = torch.split(z, ref.sizes, -1)[int(clusters[rows[0]])]
    margin_loss(block, mine_pairs(block.detach(), y[rows])).backward()
    torch.testing.assert_close(module.taylor, (z.detach() * z.grad).sum(0).double(), atol=1e-6, rtol=1e-5)
    assert (
        module.taylor[8:].abs().sum() == 0 or module.taylor[:8].abs().sum() == 0
    )  # only the batch's learner


def test_accumulated_micro_batches_take_the_step_of_their_averaged_gradient():
    """The mined pairs couple a batch's rows, so k micro-batches are k losses whose gradients are averaged, then
    one Adam step: built here by hand from the sampler's batches."""
    net = _net(2)
    _fit(net, steps=2, accumulate_grad_batches=2)
    ref = _net(2)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2, weight_decay=1e-4)
    x, y, clusters = _data()
    for rows in ClusterBalancedBatches(y.numpy(), clusters.numpy(), 8, 2, 2, seed=1):
        block = torch.split(ref(x[rows]), ref.sizes, -1)[int(clusters[rows[0]])]
        (margin_loss(block, mine_pairs(block.detach(), y[rows])) / 2).backward()
    opt.step()
    torch.testing.assert_close(_params(net), _params(ref), atol=1e-6, rtol=0)


def test_resume_equals_an_uninterrupted_run_and_checkpoints_hold_plain_tensors(tmp_path):
    straight = _fit(_net(4), epochs=2)
    first = _fit(_net(4), epochs=1)
    first.whole = True  # the fine-tune flag and the learner sizes travel in the checkpoint
    first.net.sizes = [4, 12]
    ckpt = tmp_path / "epoch1.ckpt"
    first.trainer.save_checkpoint(ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["subspace_learners"] == {"learner_sizes": [4, 12], "whole": True}
    first.whole, first.net.sizes = False, [8, 8]
    first.trainer.save_checkpoint(ckpt)
    resumed = _fit(_net(9), epochs=2, ckpt_path=str(ckpt))
    assert torch.equal(_params(straight.net), _params(resumed.net)) and resumed.history == straight.history
    assert torch.equal(straight.taylor, resumed.taylor)


def test_a_seed_reproduces_its_run_and_another_seed_does_not():
    a, b, c = (_fit(_net(0), seed=s) for s in (7, 7, 8))
    assert torch.equal(_params(a.net), _params(b.net)) and a.history == b.history
    assert not torch.equal(_params(a.net), _params(c.net))


SCRIPT = """
import json, sys
import numpy as np
import torch
from subspacelab.lit.subspace_learners import SubspaceLearnersModule, fit_subspace_learners
from subspacelab.models.attention_embedder import AttentionEmbedder

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(0)
y = torch.arange(4).repeat_interleave(12)
x = (torch.rand(48, 1, 8, 8, generator=gen, dtype=torch.float32) + (0.5 * y.view(-1, 1, 1, 1) / 4).float()).double()
clusters = torch.as_tensor(np.arange(48) % 2)
torch.manual_seed(0)
net = AttentionEmbedder(1, (4, 8), dim=16, learners=2, dropout=0.0, norm=False)
module = fit_subspace_learners(SubspaceLearnersModule(net, lr=1e-2), x, y, clusters, batch=8, per_class=2,
                               steps_per_epoch=3, seed=1, epochs=1,
                               trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp"})
flat = torch.cat([p.detach().flatten() for p in net.parameters()])
ranks = [None, None]
torch.distributed.all_gather_object(ranks, [flat.tolist(), module.taylor.tolist()])
if torch.distributed.get_rank() == 0:
    json.dump({"ranks": ranks, "world": module.trainer.world_size}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_two_ddp_ranks_end_identical_and_equal_one_process(run_script, float64_default):
    res = run_script(SCRIPT, "ddp_subspace_learners.py")
    assert res["world"] == 2 and res["ranks"][0] == res["ranks"][1]
    x, y, clusters = _data()
    with float64_default():
        net = _net(0, norm=False)
        module = SubspaceLearnersModule(net, lr=1e-2)
        fit_subspace_learners(module, x.double(), y, clusters, batch=8, per_class=2, steps_per_epoch=3, seed=1,
                              epochs=1)  # fmt: skip
    params, taylor = res["ranks"][0]
    torch.testing.assert_close(torch.tensor(params, dtype=torch.float64), _params(net), atol=1e-9, rtol=0)
    torch.testing.assert_close(
        torch.tensor(taylor, dtype=torch.float64), 2 * module.taylor, atol=1e-9, rtol=1e-7
    )


def _scheduled(net, *, dynamic, epochs, finetune, ckpt_path=None, clusters=None, **kw):
    from subspacelab.lit.subspace_learners import LearnerSchedule

    x, y, _ = _data()
    clusters = torch.zeros(len(y), dtype=torch.long) if clusters is None else clusters
    schedule = LearnerSchedule(
        x, clusters, x[::2], y[::2], seed=1, dynamic=dynamic, finetune_epoch=finetune, **kw
    )
    if len(net.sizes) > 1 and ckpt_path is None:
        schedule.cluster(net, 0)
    module = SubspaceLearnersModule(net, lr=1e-2)
    fit_subspace_learners(module, x, y, clusters, batch=8, per_class=2, steps_per_epoch=3, seed=1, epochs=epochs,
                          callbacks=[schedule], ckpt_path=ckpt_path)  # fmt: skip
    return module, schedule, clusters


def test_fixed_learners_recluster_every_other_epoch_then_fine_tune_on_one_cluster():
    module, schedule, clusters = _scheduled(_net(1), dynamic=False, epochs=5, finetune=4)
    assert [bool(r.get("reclustered")) for r in schedule.rows] == [
        False,
        True,
        False,
        False,
        False,
    ]  # redrawn for the third epoch; the fifth is fine-tuning
    assert schedule.rows[2].get("finetune") is None and schedule.rows[3]["finetune"] is True
    assert module.whole and (clusters == 0).all() and module.net.sizes == [8, 8]
    assert all(0 <= r["val_nmi"] <= 1 for r in schedule.rows)


def test_a_dynamic_run_splits_once_its_nmi_stalls_and_not_again_before_a_new_best(monkeypatch):
    from subspacelab.metric import evaluation

    falling = iter([0.9, 0.8, 0.7, 0.6, 0.5])  # the best stays at the first epoch
    monkeypatch.setattr(evaluation, "nmi_kmeans", lambda *a, **k: next(falling))
    module, schedule, clusters = _scheduled(_net(2, learners=1), dynamic=True, epochs=5, finetune=9, patience=1,
                                            threshold=0.2)  # fmt: skip
    splits = [r["epoch"] for r in schedule.rows if r.get("split")]
    assert splits == [2]  # epoch index 1 >= best 0 + patience 1; then no new best, no second split
    sizes = module.net.sizes
    assert len(sizes) == 2 and sum(sizes) == 16 and sizes[0] >= 5
    assert schedule.rows[1]["reclustered"] and set(clusters.tolist()) == {0, 1}  # epoch 3 trains two learners


def test_a_scheduled_run_resumes_to_the_uninterrupted_result(tmp_path):
    straight, s_sched, s_clusters = _scheduled(_net(3), dynamic=False, epochs=4, finetune=3)
    first, _, _ = _scheduled(_net(3), dynamic=False, epochs=2, finetune=3)
    ckpt = tmp_path / "epoch2.ckpt"
    first.trainer.save_checkpoint(ckpt)
    assert {"best_nmi", "rows", "clusters"} <= set(
        next(iter(torch.load(ckpt, weights_only=True)["callbacks"].values()))
    )
    resumed, r_sched, r_clusters = _scheduled(
        _net(9), dynamic=False, epochs=4, finetune=3, ckpt_path=str(ckpt)
    )
    assert torch.equal(_params(straight.net), _params(resumed.net))
    assert r_sched.rows == s_sched.rows and torch.equal(r_clusters, s_clusters) and resumed.whole
