"""ADSL's maths (subspacelab.metric): learner blocks and their split, the mined margin loss against
pytorch-metric-learning, cluster matching and the retrieval metrics against the library's."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import MarginLoss
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN

from subspacelab.metric.clusters import match_clusters
from subspacelab.metric.evaluation import recall_at_k, score_embedding
from subspacelab.metric.learners import (
    normalize_per_learner,
    split_newest_learner,
    split_sizes,
    taylor_scores,
)
from subspacelab.metric.margin import margin_loss, mine_pairs


@pytest.mark.parametrize(("dim", "k", "sizes"), [(128, 1, [128]), (128, 4, [32] * 4), (10, 3, [4, 4, 2])])
def test_initial_blocks_are_ceil_sized_and_cover_the_embedding(dim, k, sizes):
    assert split_sizes(dim, k) == sizes


def test_each_learner_block_has_unit_norm_and_keeps_its_direction():
    x = torch.randn(5, 10, generator=torch.Generator().manual_seed(0))
    y = normalize_per_learner(x, [4, 4, 2])
    for block_x, block_y in zip(torch.split(x, [4, 4, 2], -1), torch.split(y, [4, 4, 2], -1), strict=True):
        assert torch.allclose(block_y.norm(dim=-1), torch.ones(5))
        assert torch.allclose(block_y * block_x.norm(dim=-1, keepdim=True), block_x)


def test_taylor_scores_span_zero_to_one_and_ignore_sign_and_scale():
    g = torch.tensor([0.1, -3.0, 0.5, 2.0])
    s = taylor_scores(g)
    assert s.max() == 1 and s.min() == 0 and s.argmax() == 1
    assert torch.allclose(taylor_scores(-7 * g), s)


def _layer(out=16, fan_in=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(out, fan_in, generator=gen), torch.randn(out, generator=gen)


def test_a_split_keeps_the_important_neurons_first_and_renews_the_rest():
    w, b = _layer()
    w0, b0 = w.clone(), b.clone()
    sizes = [4, 12]  # the newest learner: neurons 4..15
    scores = torch.zeros(12)
    scores[[9, 2, 5, 7, 11, 0]] = torch.tensor([1.0, 0.9, 0.8, 0.7, 0.6, 0.55])  # six above 0.5
    new = split_newest_learner(w, b, sizes, scores, generator=torch.Generator().manual_seed(1))
    assert new == [4, 6, 6]
    assert torch.equal(w[:4], w0[:4]) and torch.equal(b[:4], b0[:4])  # older learners untouched
    order = [9, 2, 5, 7, 11, 0]  # highest score first, copied from the snapshot (no aliasing)
    assert torch.equal(w[4:10], w0[4:][order]) and torch.equal(b[4:10], b0[4:][order])
    assert not torch.isclose(w[10:], w0[10:]).any()  # re-initialised
    assert b[10:].abs().max() <= 1 / 6**0.5


@pytest.mark.parametrize(
    ("sizes", "above"),
    [([16], 4), ([6, 10], 8)],  # too few important neurons; a learner of 10 neurons or fewer
)
def test_no_split_leaves_the_layer_as_it_was(sizes, above):
    w, b = _layer()
    w0 = w.clone()
    scores = torch.zeros(sizes[-1])
    scores[:above] = 1.0
    assert split_newest_learner(w, b, sizes, scores) is None
    assert torch.equal(w, w0)


def _batch(seed=0, classes=4, per_class=8, dim=8):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    x = (
        torch.randn(classes * per_class, dim, generator=gen)
        + 0.7 * torch.randn(classes, dim, generator=gen)[labels]
    )
    return torch.nn.functional.normalize(x, dim=1), labels


def test_mining_takes_every_positive_and_the_nearest_negatives_beyond_the_cutoff():
    x, labels = _batch()
    a_p, p, a_n, n = mine_pairs(x, labels, cutoff=0.5)
    assert len(a_p) == 32 * 7 and (labels[a_p] == labels[p]).all() and (a_p != p).all()
    assert len(a_n) == 32 * 7 and (labels[a_n] != labels[n]).all()
    d = torch.cdist(x, x)
    assert (d[a_n, n] >= 0.5 - 1e-6).all()
    for i in range(32):  # the chosen negatives are the nearest admissible ones
        admissible = (labels != labels[i]) & (d[i] >= 0.5)
        chosen = n[a_n == i]
        assert d[i, chosen].max() <= d[i][admissible & ~torch.isin(torch.arange(32), chosen)].min() + 1e-6


def test_the_margin_loss_on_triplets_equals_pytorch_metric_learning():
    x, labels = _batch(seed=3)
    x.requires_grad_(True)
    a_p, p, a_n, n = mine_pairs(x.detach(), labels)
    assert torch.equal(a_p, a_n)  # balanced classes: the k-th positive and negative share their anchor
    ours = margin_loss(x, (a_p, p, a_n, n))
    theirs = MarginLoss(margin=0.2, nu=0.0, beta=1.2)(x, labels, indices_tuple=(a_p, p, n))
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    (g_ours,) = torch.autograd.grad(ours, x)
    (g_theirs,) = torch.autograd.grad(
        MarginLoss(margin=0.2, nu=0.0, beta=1.2)(x, labels, indices_tuple=(a_p, p, n)), x
    )
    assert torch.allclose(g_ours, g_theirs, atol=1e-5)


def test_well_separated_classes_give_zero_loss():
    labels = torch.arange(4).repeat_interleave(4)
    x = torch.nn.functional.one_hot(labels, 4).float()  # same class: distance 0; others: sqrt(2) > 1.4
    assert margin_loss(x, mine_pairs(x, labels)).item() == 0.0


def test_matching_undoes_a_renaming_and_names_a_new_cluster_after_the_old_ones():
    rng = np.random.default_rng(0)
    previous = rng.integers(0, 3, 200)
    renamed = np.array([2, 0, 1])[previous]
    assert np.array_equal(match_clusters(previous, renamed), previous)
    grown = renamed.copy()
    grown[:20] = 3  # one more cluster
    matched = match_clusters(previous, grown)
    assert set(np.unique(matched)) == {0, 1, 2, 3}
    assert np.array_equal(matched[20:], previous[20:])


def test_recall_at_1_equals_the_librarys_precision_at_1():
    x, labels = _batch(seed=5)
    calc = AccuracyCalculator(
        include=("precision_at_1",), k=1, knn_func=CustomKNN(LpDistance(normalize_embeddings=False))
    )
    theirs = calc.get_accuracy(x, labels)["precision_at_1"]
    assert recall_at_k(x, labels)[1] == pytest.approx(theirs)


def test_recall_grows_with_k_and_perfect_classes_score_one():
    x, labels = _batch(seed=6)
    r = recall_at_k(x, labels)
    assert r[1] <= r[2] <= r[4] <= r[8]
    perfect = torch.nn.functional.one_hot(labels, 4).double() + 1e-3 * torch.arange(32).unsqueeze(1)
    scores = score_embedding(perfect, labels, seed=0)
    assert scores["nmi"] == pytest.approx(1.0) and scores["recall@1"] == 1.0
