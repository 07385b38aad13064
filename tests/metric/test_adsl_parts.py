"""ADSL's network (models.attention_embedder) and batches (lit.cluster_batches)."""

import numpy as np
import pytest
import torch

from subspacelab.lit.cluster_batches import ClusterBalancedBatches, usable_classes
from subspacelab.models.attention_embedder import AttentionEmbedder


def test_the_embedding_is_one_unit_block_per_learner_and_the_penultimate_a_unit_vector():
    torch.manual_seed(0)
    net = AttentionEmbedder(1, (8, 16, 16), dim=12, learners=3).eval()
    x = torch.rand(5, 1, 28, 28)
    z = net(x)
    assert z.shape == (5, 12) and net.sizes == [4, 4, 4]
    assert torch.allclose(z.view(5, 3, 4).norm(dim=-1), torch.ones(5, 3))
    assert torch.allclose(net.penultimate(x).norm(dim=-1), torch.ones(5))
    a = net.attention(net.body(x))
    assert a.shape == (5, 1, 7, 7) and (a > 0).all() and (a < 1).all()


def _labels(n_classes=6, per=10, clusters=2, seed=0):
    classes = np.repeat(np.arange(n_classes), per)
    rng = np.random.default_rng(seed)
    return classes, rng.integers(0, clusters, len(classes))


def test_every_batch_is_one_cluster_and_class_balanced():
    classes, clusters = _labels()
    sampler = ClusterBalancedBatches(classes, clusters, batch=8, per_class=2, steps=6, seed=1)
    seen = []
    for rows in sampler:
        assert len(rows) == 8 and len(set(clusters[rows])) == 1
        _, counts = np.unique(classes[rows], return_counts=True)
        assert (counts % 2 == 0).all()
        seen.append(int(clusters[rows[0]]))
    assert seen == [0, 1, 0, 1, 0, 1]  # the clusters take turns


def test_a_class_with_one_image_in_a_cluster_is_left_out_of_it():
    classes = np.array([0, 0, 1, 2, 2, 2])
    clusters = np.array([0, 0, 0, 1, 1, 1])
    pools = usable_classes(classes, clusters)
    assert set(pools) == {0, 1} and set(pools[0]) == {0} and set(pools[1]) == {2}


def test_batches_follow_seed_and_epoch_and_ranks_split_each_global_batch():
    classes, clusters = _labels()
    one = ClusterBalancedBatches(classes, clusters, batch=8, per_class=2, steps=4, seed=3)
    again = ClusterBalancedBatches(classes, clusters, batch=8, per_class=2, steps=4, seed=3)
    assert list(one) == list(again)
    one.set_epoch(1)
    assert list(one) != list(again)
    ranks = [ClusterBalancedBatches(classes, clusters, 8, 2, 4, seed=3, world=2, rank=r) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == list(again)


def test_bad_batch_settings_are_refused():
    classes, clusters = _labels()
    with pytest.raises(ValueError, match="per_class"):
        ClusterBalancedBatches(classes, clusters, batch=9, per_class=2, steps=1, seed=0)
