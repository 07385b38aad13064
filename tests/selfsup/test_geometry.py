"""View-manifold geometry on constructed embeddings and the weighted kNN vote on hand-made banks."""

import math

import pytest
import torch

from subspacelab.selfsup.geometry import knn_accuracy, manifold_geometry


def test_identical_views_on_orthonormal_directions():
    b, n, d = 4, 3, 6
    z = torch.eye(d, dtype=torch.float64)[:b, None].expand(b, n, d) * 2.0
    g = manifold_geometry(z)
    assert g["radius"] == 0 and g["centroid_norm"] == pytest.approx(1)
    assert g["centroid_nuclear_norm"] == pytest.approx(b) and g["centroid_effective_rank"] == pytest.approx(b)
    assert g["centroid_abs_cosine"] == pytest.approx(0)


def test_radius_and_dimension_of_views_spread_in_a_known_plane():
    # 4 views of one image at +-e1 and +-e2 tilted off e3 by angle t: radius sin t, two equal directions
    t = 0.3
    e = torch.eye(3, dtype=torch.float64)
    views = [math.cos(t) * e[2] + s * math.sin(t) * e[i] for i in (0, 1) for s in (1, -1)]
    g = manifold_geometry(torch.stack(views)[None].repeat(2, 1, 1))
    assert g["radius"] == pytest.approx(math.sin(t)) and g["dimension"] == pytest.approx(2.0)
    line = manifold_geometry(torch.stack(views[:2])[None])
    assert line["dimension"] == pytest.approx(1.0)


def test_knn_votes_by_exponentiated_similarity():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    query = torch.tensor([[1.0, 0.05], [0.1, 1.0]])
    assert knn_accuracy(bank, labels, query, torch.tensor([0, 1]), k=1) == 1.0
    # k = 3, query near (0.6, 0.8): one class-1 neighbour at cos 0.8 outweighs two class-0 ones only when T is small
    q = torch.tensor([[0.6, 0.8]])
    cos = torch.nn.functional.normalize(bank, dim=1) @ q[0]
    for temperature in (0.05, 5.0):
        w = (cos / temperature).exp()
        expected = int(w[2] > w[0] + w[1])
        assert knn_accuracy(bank, labels, q, torch.tensor([expected]), k=3, temperature=temperature) == 1.0
    many = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    truth = (many[:, 0] > 0).long()
    assert knn_accuracy(bank, labels, many, truth, k=2, chunk=7) == knn_accuracy(
        bank, labels, many, truth, k=2
    )
    with pytest.raises(ValueError, match="k <= 3"):
        knn_accuracy(bank, labels, query, torch.tensor([0, 1]), k=4)
