"""Closed-form checks of subspacelab.analysis: similarity, unit matching and activation capture."""

import itertools
import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.stats import rankdata
from sklearn.cross_decomposition import CCA
from torch import nn

from subspacelab.analysis import (
    bipartite_match,
    canonical_correlations,
    capture_activations,
    cca_similarity,
    cka,
    cocluster_units,
    flatten_units,
    grassmann_distance,
    group_principal_angles,
    hsic,
    linear_cka,
    linear_gram,
    load_activations,
    principal_angles,
    rbf_cka,
    rbf_gram,
    rdm,
    rsa_similarity,
    semi_match,
    sparse_prediction,
    spectral_cluster_units,
    subspace_overlap,
    svcca,
    svd_reduce,
    unit_correlation,
)
from subspacelab.analysis.similarity import _ranks


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_orthogonal(g: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(g.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# --------------------------------------------------------------------------------------------
# Principal angles and overlap
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(30, 3, 5), (40, 6, 2), (25, 4, 4)])
def test_principal_angles_match_scipy(shape):
    n, ka, kb = shape
    g = rng(sum(shape))
    a, b = g.standard_normal((n, ka)), g.standard_normal((n, kb))
    ours = principal_angles(a, b).numpy()
    ref = np.sort(scipy.linalg.subspace_angles(a, b))
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert np.all(np.diff(ours) >= 0)


def test_principal_angles_match_scipy_for_nearly_equal_subspaces():
    g = rng(1)
    a = g.standard_normal((50, 4))
    b = a + 1e-9 * g.standard_normal((50, 4))
    np.testing.assert_allclose(
        principal_angles(a, b).numpy(), np.sort(scipy.linalg.subspace_angles(a, b)), rtol=1e-6, atol=1e-15
    )
    assert principal_angles(a, b).max() < 1e-7  # arccos alone would give ~1e-8 noise floor, not 0


def test_identical_subspaces_have_zero_angles_and_unit_overlap():
    g = rng(2)
    a = g.standard_normal((20, 4))
    b = a @ g.standard_normal((4, 4))  # same span, different basis
    assert principal_angles(a, b).abs().max() < 1e-10
    assert subspace_overlap(a, b) == pytest.approx(1.0, abs=1e-12)
    assert grassmann_distance(a, b) < 1e-10


def test_orthogonal_subspaces_have_right_angles_and_zero_overlap():
    q = random_orthogonal(rng(3), 10)
    a, b = q[:, :3] @ rng(4).standard_normal((3, 3)), q[:, 3:7]
    np.testing.assert_allclose(principal_angles(a, b).numpy(), np.full(3, math.pi / 2), atol=1e-12)
    assert subspace_overlap(a, b) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("theta", [1e-6, 0.1, math.pi / 4, 1.2, math.pi / 2 - 1e-6])
def test_known_angles_in_two_and_three_dimensions(theta):
    c, s = math.cos(theta), math.sin(theta)
    line_a, line_b = np.array([[1.0], [0.0]]), np.array([[c], [s]])
    assert float(principal_angles(line_a, line_b)[0]) == pytest.approx(theta, rel=1e-9)
    plane_a = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    plane_b = np.array([[2.0, 0.0], [0.0, c], [0.0, s]])  # contains e1, tilted by theta about it
    np.testing.assert_allclose(
        principal_angles(plane_a, plane_b).numpy(), [0.0, theta], rtol=1e-9, atol=1e-12
    )
    assert subspace_overlap(plane_a, plane_b) == pytest.approx((1 + c**2) / 2, abs=1e-12)


def test_nested_subspace_has_full_overlap_and_rank_deficient_input_is_handled():
    g = rng(5)
    big = g.standard_normal((15, 5))
    small = big[:, :2] @ g.standard_normal((2, 3))  # 3 columns, rank 2, inside span(big)
    angles = principal_angles(big, small)
    assert angles.shape == (2,) and angles.max() < 1e-10
    assert subspace_overlap(big, small) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------------------------
# CKA
# --------------------------------------------------------------------------------------------


def test_linear_cka_feature_form_equals_hsic_form():
    g = rng(6)
    x, y = g.standard_normal((60, 8)), g.standard_normal((60, 5))
    xc, yc = x - x.mean(0), y - y.mean(0)
    kx, ky = linear_gram(xc), linear_gram(yc)
    via_hsic = hsic(kx, ky) / math.sqrt(hsic(kx, kx) * hsic(ky, ky))
    assert linear_cka(x, y) == pytest.approx(via_hsic, rel=1e-10)
    # HSIC = tr(KHLH)/(n-1)^2 written out with an explicit centering matrix
    n = 60
    h = np.eye(n) - np.ones((n, n)) / n
    assert hsic(kx, ky) == pytest.approx(np.trace(kx.numpy() @ h @ ky.numpy() @ h) / (n - 1) ** 2, rel=1e-10)


@pytest.mark.parametrize(
    "measure",
    [
        linear_cka,
        lambda x, y: rbf_cka(x, y, threshold=0.8),
        lambda x, y: cka(x, y, "linear", debiased=True),
        lambda x, y: cka(x, y, "rbf", debiased=True),
    ],
    ids=["linear", "rbf", "linear-debiased", "rbf-debiased"],
)
def test_cka_is_one_on_itself_and_invariant_to_rotation_and_isotropic_scaling(measure):
    g = rng(7)
    x = g.standard_normal((80, 10)) @ np.diag(np.linspace(0.2, 3.0, 10))
    y = np.tanh(x @ g.standard_normal((10, 6)))
    assert measure(x, x) == pytest.approx(1.0, abs=1e-10)
    base = measure(x, y)
    q = random_orthogonal(g, 10)
    assert measure(3.7 * x @ q, y) == pytest.approx(base, abs=1e-10)
    assert measure(x, 0.01 * y @ random_orthogonal(g, 6)) == pytest.approx(base, abs=1e-10)
    # but not invariant to an anisotropic rescaling (so the checks above can fail)
    assert abs(measure(x @ np.diag(np.logspace(-2, 2, 10)), y) - base) > 1e-3


def test_rbf_gram_uses_the_median_squared_distance_as_bandwidth():
    g = rng(23)
    x = g.standard_normal((8, 3))  # 64 squared distances: the median averages the two middle ones
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    expected = np.exp(-d2 / (2 * 0.5**2 * np.median(d2)))
    np.testing.assert_allclose(rbf_gram(x, threshold=0.5).numpy(), expected, rtol=1e-10)


def test_debiased_hsic_equals_the_u_statistic_by_brute_force():
    g = rng(8)
    n = 7
    k = linear_gram(g.standard_normal((n, 3))).numpy()
    u = g.standard_normal(n)
    m = np.exp(-(np.subtract.outer(u, u) ** 2))
    pairs = list(itertools.permutations(range(n), 2))
    triples = list(itertools.permutations(range(n), 3))
    quads = list(itertools.permutations(range(n), 4))
    term1 = np.mean([k[i, j] * m[i, j] for i, j in pairs])
    term2 = np.mean([k[i, j] * m[q, r] for i, j, q, r in quads])
    term3 = np.mean([k[i, j] * m[i, q] for i, j, q in triples])
    assert hsic(k, m, debiased=True) == pytest.approx(term1 + term2 - 2 * term3, rel=1e-10)


def test_debiased_cka_is_near_zero_for_independent_features_where_biased_is_not():
    g = rng(9)
    x, y = g.standard_normal((100, 50)), g.standard_normal((100, 50))
    biased, debiased = linear_cka(x, y), cka(x, y, debiased=True)
    assert biased > 0.3  # the known upward bias of linear CKA when features >> samples
    assert abs(debiased) < 0.05


# --------------------------------------------------------------------------------------------
# CCA, SVCCA
# --------------------------------------------------------------------------------------------


def test_canonical_correlations_match_sklearn_cca():
    g = rng(10)
    n = 400
    z = g.standard_normal((n, 3))
    x = z @ g.standard_normal((3, 3)) + 0.3 * g.standard_normal((n, 3))
    y = np.c_[z[:, 0], z[:, 1] + g.standard_normal(n), g.standard_normal(n)] @ g.standard_normal((3, 3))
    ref = CCA(n_components=3, max_iter=5000, tol=1e-12).fit(x, y)
    xs, ys = ref.transform(x, y)
    sk = [abs(np.corrcoef(xs[:, i], ys[:, i])[0, 1]) for i in range(3)]
    np.testing.assert_allclose(canonical_correlations(x, y).numpy(), sk, atol=1e-6)
    np.testing.assert_allclose(canonical_correlations(x, y, epsilon=1e-12).numpy(), sk, atol=1e-6)


def test_canonical_correlations_recover_the_population_values():
    """x = A z, y = B w with corr(z_i, w_i) = rho_i, independent otherwise: CCA(x, y) = rho."""
    g = rng(11)
    n, rho = 20_000, np.array([0.9, 0.5, 0.0])
    z = g.standard_normal((n, 3))
    w = rho * z + np.sqrt(1 - rho**2) * g.standard_normal((n, 3))
    x, y = z @ g.standard_normal((3, 3)), w @ g.standard_normal((3, 3)) + 5.0
    np.testing.assert_allclose(canonical_correlations(x, y).numpy(), rho, atol=0.02)
    assert cca_similarity(x, y) == pytest.approx(rho.mean(), abs=0.02)


def test_cca_of_an_invertible_linear_map_is_one():
    g = rng(12)
    x = g.standard_normal((300, 6))
    y = x @ g.standard_normal((6, 6)) + 2.0
    np.testing.assert_allclose(canonical_correlations(x, y).numpy(), np.ones(6), atol=1e-10)
    assert cca_similarity(x, y, epsilon=1e-10) == pytest.approx(1.0, abs=1e-6)
    assert svcca(x, y, keep_variance=1.0) == pytest.approx(1.0, abs=1e-10)
    assert cca_similarity(x, g.standard_normal((300, 6))) < 0.2


def test_svd_reduce_keeps_the_requested_variance():
    g = rng(13)
    scales = np.array([10.0, 5.0, 2.0, 1.0, 0.5, 0.1])
    x = (g.standard_normal((500, 6)) * scales) @ random_orthogonal(g, 6)
    r = svd_reduce(x, keep_variance=0.99)
    s2 = np.sort(np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2)[::-1]
    k = r.shape[1]
    assert s2[:k].sum() / s2.sum() >= 0.99 > s2[: k - 1].sum() / s2.sum()
    np.testing.assert_allclose(
        np.sort(np.linalg.svd(r.numpy(), compute_uv=False) ** 2)[::-1], s2[:k], rtol=1e-10
    )
    assert svd_reduce(x, n_components=2).shape == (500, 2)


def test_svcca_ignores_low_variance_noise_directions_that_cca_counts():
    g = rng(14)
    n = 1000
    signal = g.standard_normal((n, 4))
    x = np.c_[signal, 1e-3 * g.standard_normal((n, 6))] @ random_orthogonal(g, 10)
    y = np.c_[signal @ random_orthogonal(g, 4), 1e-3 * g.standard_normal((n, 6))] @ random_orthogonal(g, 10)
    assert svcca(x, y) == pytest.approx(1.0, abs=1e-4)
    assert cca_similarity(x, y) < 0.6


# --------------------------------------------------------------------------------------------
# RSA
# --------------------------------------------------------------------------------------------


def test_rdm_and_ranks_match_numpy_and_scipy():
    g = rng(15)
    x = g.standard_normal((12, 7))
    np.testing.assert_allclose(rdm(x).numpy(), 1 - np.corrcoef(x), atol=1e-12)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.testing.assert_allclose(rdm(x, "euclidean").numpy(), d, atol=1e-6)
    v = torch.tensor([3.0, 1.0, 2.0, 3.0, 1.0, 5.0], dtype=torch.float64)
    np.testing.assert_allclose(_ranks(v).numpy(), rankdata(v.numpy()))


def test_rsa_is_one_for_a_rotated_scaled_copy_and_low_for_independent_data():
    g = rng(16)
    x = g.standard_normal((30, 8))
    assert rsa_similarity(x, 2.5 * x @ random_orthogonal(g, 8), metric="euclidean") == pytest.approx(1.0)
    assert abs(rsa_similarity(x, g.standard_normal((30, 8)))) < 0.2


# --------------------------------------------------------------------------------------------
# Unit matching (Li et al. 2016)
# --------------------------------------------------------------------------------------------


def test_unit_correlation_matches_numpy_and_dead_units_get_zero():
    g = rng(17)
    x, y = g.standard_normal((200, 4)), g.standard_normal((200, 3))
    y[:, 2] = 1.0  # dead unit
    c = unit_correlation(x, y).numpy()
    np.testing.assert_allclose(c[:, :2], np.corrcoef(x.T, y[:, :2].T)[:4, 4:], atol=1e-12)
    assert np.all(c[:, 2] == 0)


def test_a_permuted_rescaled_copy_is_matched_back_exactly():
    g = rng(18)
    x = g.standard_normal((500, 12)) @ (np.eye(12) + 0.3 * g.standard_normal((12, 12)))
    perm = g.permutation(12)
    y = x[:, perm] * g.uniform(0.5, 2.0, 12) + g.standard_normal(12)  # y_j = s_j x_{perm[j]} + c_j
    m = bipartite_match(unit_correlation(x, y))
    inverse = np.argsort(perm)  # unit a of net A is unit inverse[a] of net B
    np.testing.assert_array_equal(m.a.numpy(), np.arange(12))
    np.testing.assert_array_equal(m.b.numpy(), inverse)
    np.testing.assert_allclose(m.corr.numpy(), 1.0, atol=1e-12)
    np.testing.assert_array_equal(semi_match(unit_correlation(x, y)).b.numpy(), inverse)


def test_bipartite_is_optimal_one_to_one_and_semi_matching_totals_at_least_as_much():
    g = rng(19)
    for _ in range(5):
        c = np.tanh(g.standard_normal((6, 6)))
        bip, semi = bipartite_match(c), semi_match(c)
        brute = max(sum(c[i, p[i]] for i in range(6)) for p in itertools.permutations(range(6)))
        assert bip.total == pytest.approx(brute, abs=1e-12)
        assert len(set(bip.b.tolist())) == 6
        assert semi.total >= bip.total - 1e-12
        np.testing.assert_allclose(semi.corr.numpy(), c.max(axis=1))
    rect = g.standard_normal((4, 9))
    assert len(bipartite_match(rect).a) == 4 and len(set(bipartite_match(rect).b.tolist())) == 4


def test_a_rotated_copy_has_poor_unit_matches_but_the_same_span():
    """The paper's point: same subspace, different basis -> one-to-one matching misses it."""
    g = rng(20)
    x = g.standard_normal((1000, 16))
    y = x @ random_orthogonal(g, 16)
    m = bipartite_match(unit_correlation(x, y))
    assert m.mean < 0.6
    assert principal_angles(x - x.mean(0), y - y.mean(0)).max() < 1e-8
    assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-10)


def test_sparse_prediction_trades_sparsity_for_loss():
    g = rng(21)
    n, d = 600, 10
    x = g.standard_normal((n, d))
    perm = g.permutation(d)
    y = x[:, perm] + 0.1 * g.standard_normal((n, d))  # every B-unit copies one A-unit
    x_eval = g.standard_normal((200, d))
    y_eval = x_eval[:, perm] + 0.1 * g.standard_normal((200, d))
    res = sparse_prediction(x, y, alphas=[1e-4, 0.05, 0.3, 2.0], x_eval=x_eval, y_eval=y_eval)
    fan_in = [r.mean_fan_in for r in res]
    loss = [r.loss for r in res]
    assert all(a >= b for a, b in zip(fan_in, fan_in[1:], strict=False))
    assert all(a <= b + 1e-9 for a, b in zip(loss, loss[1:], strict=False))
    assert res[0].nonzero_fraction > 0.5 and res[0].loss < 0.02  # dense and near-perfect
    assert res[1].mean_fan_in == pytest.approx(1.0) and res[1].loss < 0.03  # one input per unit suffices
    np.testing.assert_array_equal(res[1].coef.abs().argmax(dim=1).numpy(), perm)
    assert res[-1].nonzero_fraction == 0.0 and res[-1].loss == pytest.approx(1.0, abs=0.15)


def _block_units(g, n, blocks, units_per_block, latent_dim):
    latents = [g.standard_normal((n, latent_dim)) for _ in range(blocks)]
    x = np.hstack([z @ g.standard_normal((latent_dim, units_per_block)) for z in latents])
    y = np.hstack([z @ g.standard_normal((latent_dim, units_per_block)) for z in latents])
    block = np.repeat(np.arange(blocks), units_per_block)
    perm = g.permutation(blocks * units_per_block)
    return x, y[:, perm], block, block[perm]


@pytest.mark.parametrize("method", ["cocluster", "spectral"])
def test_unit_clusters_recover_shared_subspaces_with_zero_angles(method):
    g = rng(22)
    x, y, block_a, block_b = _block_units(g, n=800, blocks=3, units_per_block=3, latent_dim=3)
    if method == "cocluster":
        la, lb = cocluster_units(unit_correlation(x, y), n_clusters=3, seed=0)
    else:
        la, lb = spectral_cluster_units(x, y, n_clusters=3, seed=0)
    for k in range(3):
        assert len(set(block_a[la.numpy() == k])) == 1  # each cluster is one block ...
        assert set(block_b[lb.numpy() == k]) == set(block_a[la.numpy() == k])  # ... in both nets
    angles = group_principal_angles(x, y, la, lb)
    assert sorted(angles) == [0, 1, 2]
    assert max(float(a.max()) for a in angles.values()) < 1e-8


# --------------------------------------------------------------------------------------------
# Activation capture
# --------------------------------------------------------------------------------------------


def tiny_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))


def batches(k: int = 3, size: int = 5):
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 4, generator=gen), torch.zeros(size)) for _ in range(k)]


def test_capture_equals_manual_forward_and_removes_hooks():
    model = tiny_model()
    model.train()
    data = batches()
    acts = capture_activations(model, ["0", "3"], data)
    x = torch.cat([b[0] for b in data])
    with torch.no_grad():
        h = model[0](x)
        out = model[3](torch.relu(h))  # eval mode: dropout is the identity
    assert acts["0"].shape == (15, 8) and acts["3"].shape == (15, 3)
    assert torch.allclose(acts["0"], h, atol=1e-6)
    assert torch.allclose(acts["3"], out, atol=1e-6)
    assert not acts["0"].requires_grad and acts["0"].device.type == "cpu"
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert model.training  # mode restored

    by_module = capture_activations(model, {"hidden": model[1]}, data, max_batches=2)
    assert by_module["hidden"].shape == (10, 8)
    assert torch.allclose(by_module["hidden"], torch.relu(h[:10]), atol=1e-6)


def test_hooks_are_removed_when_the_forward_pass_fails():
    model = tiny_model()
    bad = batches(1) + [(torch.randn(5, 7), None)]  # wrong width: the second batch raises
    with pytest.raises(RuntimeError):
        capture_activations(model, ["0", "3"], bad)
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert model.training


def test_capture_to_disk_round_trips(tmp_path):
    model = tiny_model()
    data = batches(4)
    in_memory = capture_activations(model, ["0", "3"], data)
    dirs = capture_activations(model, ["0", "3"], data, to_dir=tmp_path / "acts")
    assert sorted(p.name for p in (tmp_path / "acts" / "0").iterdir()) == [
        f"chunk_00000{i}.pt" for i in range(4)
    ]
    manifest = json.loads((tmp_path / "acts" / "manifest.json").read_text())["layers"]
    assert manifest["3"]["shape"] == [20, 3] and manifest["3"]["chunks"] == 4
    assert dirs["0"] == tmp_path / "acts" / "0"
    for mmap in (False, True):
        back = load_activations(tmp_path / "acts", mmap=mmap)
        for name in ("0", "3"):
            assert torch.equal(back[name], in_memory[name])


def test_flatten_units_makes_positions_samples_and_channels_units():
    acts = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)  # N, C, H, W
    flat = flatten_units(acts)
    assert flat.shape == (8, 3)
    assert torch.equal(flat[5], acts[1, :, 0, 1])
    assert flatten_units(torch.ones(4, 3)).shape == (4, 3)
