"""Continual-learning harness: metrics on a hand-made accuracy matrix, task streams (classes per task,
disjointness, permutations), protocols, a tiny end-to-end run of every method, and ``setup``: the stream and
pretrained network both continual papers start from."""

import math
from types import SimpleNamespace

import pytest
import torch

from subspacelab.continual import metrics
from subspacelab.continual.harness import ContinualNet, nan_to_none, run_method, setup
from subspacelab.continual.streams import class_groups, head_offsets, make_stream, predict

torch.set_num_threads(1)

# R[i, j]: accuracy on task j after training task i (upper triangle unused)
R = [[0.9, math.nan, math.nan], [0.7, 0.8, math.nan], [0.6, 0.5, 0.95]]


def test_metrics_on_a_hand_made_matrix():
    assert metrics.final_average_accuracy(R) == pytest.approx((0.6 + 0.5 + 0.95) / 3)
    # forgetting: task 0: max(0.9, 0.7) − 0.6 = 0.3; task 1: 0.8 − 0.5 = 0.3
    assert metrics.average_forgetting(R) == pytest.approx(0.3)
    # BWT: (0.6 − 0.9 + 0.5 − 0.8) / 2 = −0.3
    assert metrics.backward_transfer(R) == pytest.approx(-0.3)
    assert metrics.average_accuracy_curve(R) == pytest.approx([0.9, 0.75, (0.6 + 0.5 + 0.95) / 3])
    assert metrics.learning_accuracy(R) == pytest.approx((0.9 + 0.8 + 0.95) / 3)


def test_forgetting_uses_the_best_earlier_accuracy_not_the_diagonal():
    R2 = [[0.5, math.nan, math.nan], [0.9, 0.8, math.nan], [0.7, 0.8, 0.9]]
    assert metrics.average_forgetting(R2) == pytest.approx((0.2 + 0.0) / 2)
    assert metrics.backward_transfer(R2) == pytest.approx((0.2 + 0.0) / 2)  # positive transfer
    assert metrics.average_forgetting([[0.7]]) == 0.0


def _fake_data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return {"train": (x, y), "test": (x[: n // 2], y[: n // 2])}


def test_split_stream_classes_and_disjointness():
    tasks = make_stream("split", _fake_data(), 5, seed=0, n_train=40, n_test=20)
    assert [t.classes for t in tasks] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    seen = set()
    for t in tasks:
        assert not seen & set(t.classes)
        seen |= set(t.classes)
        assert set(t.y_train.tolist()) == {0, 1} and len(t.y_train) == 40
        assert t.x_train.shape == (40, 784) and 0 <= t.x_train.min() and t.x_train.max() <= 1
    assert seen == set(range(10))
    assert head_offsets(tasks) == [0, 2, 4, 6, 8]
    with pytest.raises(ValueError):
        class_groups(10, 3)


def test_split_stream_local_labels_map_back_to_the_right_classes():
    data = _fake_data()
    x, y = data["train"]
    tasks = make_stream(
        "split", data, 5, seed=1, n_train=40, n_test=20, class_order=[3, 1, 4, 0, 5, 9, 2, 6, 8, 7]
    )
    flat = x.reshape(len(x), -1).float() / 255
    for t in tasks:
        for xi, yi in zip(t.x_train[:10], t.y_train[:10], strict=True):
            j = int(torch.nonzero((flat == xi).all(1)).flatten()[0])
            assert int(y[j]) == t.classes[int(yi)]


def test_permuted_stream_uses_one_fixed_permutation_per_task():
    data = _fake_data()
    tasks = make_stream("permuted", data, 3, seed=0, n_train=50, n_test=20)
    assert torch.equal(tasks[0].permutation, torch.arange(784))
    assert not torch.equal(tasks[1].permutation, tasks[2].permutation)
    for t in tasks:
        assert sorted(t.permutation.tolist()) == list(range(784))
        assert t.classes == list(range(10))
        # the pixel multiset of every image is unchanged by the permutation
        assert torch.equal(
            t.x_train.sort(1).values, t.x_train[:, torch.argsort(t.permutation)].sort(1).values
        )


def test_predict_protocols():
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 5.0]])
    assert predict([a, b], 0, "task").item() == 0  # task-IL: head 0 only
    assert predict([a, b], 1, "class").item() == 3  # class-IL: argmax over both heads
    with pytest.raises(ValueError):
        predict([a], 0, "domain")


CFG = SimpleNamespace(
    lr=1e-2,
    fc_lr=1e-2,
    eps=1e-6,
    batch=16,
    steps_per_task=8,
    temperature=3.0,
    proj_rank=3,
    sketch_rank=6,
    update_gap=1,
    threshold=0.98,
    db_decay=1.0,
    lora_rank=2,
    lora_alpha=2.0,
    lora_seed=0,
    ablation_update_gap=3,
)


@pytest.mark.parametrize(
    "method", ["seq_ft", "lora", "galore", "fixed_subspace", "coso", "coso_gap", "joint"]
)
def test_every_method_fills_the_accuracy_matrix(method):
    tasks = make_stream("split", _fake_data(), 5, seed=0, n_train=32, n_test=20)
    torch.manual_seed(0)
    net = ContinualNet(784, 16)
    w0 = net.proj.weight.detach().clone()
    out = run_method(method, net, tasks, CFG, seed=0, protocols=("task", "class"))
    assert torch.equal(net.proj.weight, w0)  # the pretrained network is not modified
    for p in ("task", "class"):
        Rp = out["R"][p]
        for i in range(5):
            for j in range(5):
                if method != "joint":
                    assert (j <= i) == (not math.isnan(Rp[i][j])), (i, j)
        assert all(0 <= v <= 1 for v in Rp[-1])
        assert 0 <= out["metrics"][p]["final_acc"] <= 1
    if method in ("coso", "coso_gap", "fixed_subspace"):
        assert len(out["history_leak"]) == 4 and max(out["history_leak"]) < 1e-4
        sizes = [r["history_size"] for r in out["log"]]
        assert sizes == sorted(sizes) and sizes[-1] > 0


def test_nan_to_none_replaces_nested_nans_only():
    assert nan_to_none({"a": [1.0, math.nan, (math.nan, 2)], "b": math.nan, "c": "x"}) == {
        "a": [1.0, None, [None, 2]],
        "b": None,
        "c": "x",
    }


SETUP = SimpleNamespace(
    stream="split",
    dataset="mnist",
    n_tasks=5,
    n_train=32,
    n_test=16,
    data_root="data/raw",
    pretrain_dataset="fashion_mnist",
    n_pretrain=256,
    pretrain_epochs=1,
    pretrain_lr=1e-3,
    pretrain_batch=64,
    hidden=16,
    tag="split_mnist_5",
)


def test_setup_is_determined_by_the_seed():
    a, b, c = setup(SETUP, 0), setup(SETUP, 0), setup(SETUP, 1)
    assert [t.classes for t in a.tasks] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert all(torch.equal(s.x_train, t.x_train) for s, t in zip(a.tasks, b.tasks, strict=True))
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True))
    assert a.pretrain_log == b.pretrain_log and len(a.pretrain_log) == 1
    assert not torch.equal(a.net.proj.weight, c.net.proj.weight)
    assert not torch.equal(a.tasks[0].x_train, c.tasks[0].x_train)
