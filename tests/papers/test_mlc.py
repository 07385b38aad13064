"""MLC maths (subspacelab.clustering.mlc), the run's geometry helpers and the paper's derive rules
(subspacelab.papers.mlc.claims) on hand-made rows."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from subspacelab.clustering import mlc as M
from subspacelab.clustering.baselines import spectral_from_affinity
from subspacelab.clustering.metrics import accuracy
from subspacelab.papers.mlc import Experiment
from subspacelab.papers.mlc.claims import RULES
from subspacelab.papers.mlc.experiment import geometry
from subspacelab.papers.mlc.figures import tables

pytestmark = pytest.mark.usefixtures("one_thread")


def _sphere(n, d, seed=0, dtype=torch.float64):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=1)


def _planted(n_per=40, k=4, sub_dim=2, d=12, noise=0.0, seed=0):
    """k mutually orthogonal sub_dim-dimensional subspaces of R^d, n_per unit points on each."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    Z, y = [], []
    for c in range(k):
        B = Q[:, c * sub_dim : (c + 1) * sub_dim]
        Z.append(torch.randn(n_per, sub_dim, generator=g, dtype=torch.float64) @ B.T)
        y += [c] * n_per
    Z = torch.cat(Z) + noise * torch.randn(n_per * k, d, generator=g, dtype=torch.float64)
    return F.normalize(Z, dim=1), np.array(y)


# ----------------------------------------------------------------------------------------------
# Sinkhorn
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("eta", [0.1, 0.3, 1.0])
def test_sinkhorn_is_doubly_stochastic_and_matches_the_plain_iteration(eta):
    C = _sphere(30, 5, seed=1)
    S = C @ C.T
    G = M.sinkhorn(S, eta, n_iter=300)
    assert (G >= 0).all()
    assert torch.allclose(G.sum(0), torch.ones(30, dtype=G.dtype), atol=1e-10)
    assert torch.allclose(G.sum(1), torch.ones(30, dtype=G.dtype), atol=1e-6)
    ref = M.sinkhorn_plain(S, eta, n_iter=300)
    assert torch.allclose(G, ref, rtol=1e-8, atol=1e-12)
    # the same number of (few) iterations gives the same matrix too: one algorithm, two parametrisations
    assert torch.allclose(M.sinkhorn(S, eta, 3), M.sinkhorn_plain(S, eta, 3), rtol=1e-9, atol=1e-14)


def test_sinkhorn_solves_the_entropic_problem_form():
    """Γ = Diag(a) exp(S/η) Diag(b): log Γ − S/η is a sum of a row and a column term (rank-2 structure)."""
    S = torch.randn(8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    G = M.sinkhorn(S, 0.5, 200)
    L = G.log() - S / 0.5
    resid = L - L.mean(1, keepdim=True) - L.mean(0, keepdim=True) + L.mean()
    assert resid.abs().max() < 1e-10


def test_smaller_eta_gives_a_sparser_gamma():
    C = _sphere(40, 6, seed=2)
    ent = [M.row_entropy(M.sinkhorn(C @ C.T, eta, 200)) for eta in (0.02, 0.05, 0.1, 0.3, 1.0, 10.0)]
    assert all(a < b for a, b in zip(ent, ent[1:], strict=False)), ent
    assert ent[-1] > 0.95 * math.log(40) and ent[0] < 0.5 * math.log(40)


def test_gradients_flow_through_sinkhorn():
    C = _sphere(6, 3, seed=4).requires_grad_()
    W = torch.randn(6, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    (M.sinkhorn(C @ C.T, 0.3, 8) * W).sum().backward()
    assert torch.isfinite(C.grad).all() and C.grad.abs().sum() > 1e-6
    assert torch.autograd.gradcheck(
        lambda c: M.sinkhorn(c @ c.T, 0.3, 5), (_sphere(5, 3, seed=6).requires_grad_(),)
    )


# ----------------------------------------------------------------------------------------------
# rates
# ----------------------------------------------------------------------------------------------
def test_coding_rate_closed_form():
    n, d, eps2 = 12, 4, 0.3
    Q, _ = torch.linalg.qr(torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    # orthonormal columns: ZᵀZ = I, so R = ½ d log(1 + d/(n ε²))
    assert float(M.coding_rate(Q, eps2)) == pytest.approx(0.5 * d * math.log(1 + d / (n * eps2)), rel=1e-12)
    # rows evenly spread (ZᵀZ = (n/d) I): the max_rate guide
    Z = torch.cat([torch.eye(d, dtype=torch.float64)] * 3)
    assert float(M.coding_rate(Z, eps2)) == pytest.approx(M.max_rate(d, 3 * d, eps2), rel=1e-12)


def test_clustered_rate_with_hard_clusters_is_mcr2():
    Z, y = _planted(n_per=7, k=3, sub_dim=2, d=6, noise=0.2, seed=1)
    Z, y = Z[:-2], y[:-2]  # unequal cluster sizes
    n, d, eps2 = len(y), Z.shape[1], 0.5
    yt = torch.from_numpy(y)
    sizes = torch.bincount(yt).double()
    Gamma = (yt[:, None] == yt[None, :]).double() / sizes[yt][None, :]  # doubly stochastic block matrix
    assert torch.allclose(Gamma.sum(0), torch.ones(n, dtype=Gamma.dtype))
    assert torch.allclose(Gamma.sum(1), torch.ones(n, dtype=Gamma.dtype))
    mcr2 = sum(
        float(nk)
        / (2 * n)
        * float(
            torch.logdet(torch.eye(d, dtype=Z.dtype) + d / (float(nk) * eps2) * Z[yt == c].T @ Z[yt == c])
        )
        for c, nk in enumerate(sizes)
    )
    assert float(M.clustered_rate(Z, Gamma, eps2)) == pytest.approx(mcr2, rel=1e-12)
    # one cluster = everything: R_c = R
    assert float(M.clustered_rate(Z, torch.full((n, n), 1.0 / n, dtype=Z.dtype), eps2)) == pytest.approx(
        float(M.coding_rate(Z, eps2)), rel=1e-12
    )


def test_true_clusters_give_a_better_mlc_loss_than_a_wrong_partition():
    Z, y = _planted(n_per=10, k=3, sub_dim=2, d=6, seed=2)
    yt = torch.from_numpy(y)

    def block(labels):
        return (labels[:, None] == labels[None, :]).double() / torch.bincount(labels).double()[labels][
            None, :
        ]

    wrong = torch.arange(len(y)) % 3
    assert float(M.mlc_loss(Z, block(yt), 0.5)[0]) < float(M.mlc_loss(Z, block(wrong), 0.5)[0])


def test_mlc_loss_is_invariant_to_permuting_the_samples():
    Z = _sphere(20, 5, seed=7)
    G = M.sinkhorn(Z @ Z.T, 0.2, 50)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(8))
    a = M.mlc_loss(Z, G, 0.4)
    b = M.mlc_loss(Z[perm], G[perm][:, perm], 0.4)
    for u, v in zip(a, b, strict=True):
        assert float(u) == pytest.approx(float(v), rel=1e-12)
    # and Sinkhorn commutes with the permutation
    assert torch.allclose(M.sinkhorn((Z @ Z.T)[perm][:, perm], 0.2, 50), G[perm][:, perm], atol=1e-12)


def test_tcr_loss_prefers_spread_and_aligned_views():
    Z = _sphere(32, 8, seed=9)
    collapsed = F.normalize(torch.ones(32, 8, dtype=torch.float64), dim=1)
    assert float(M.tcr_loss(Z, Z, 0.5, 1.0)) < float(M.tcr_loss(collapsed, collapsed, 0.5, 1.0))
    assert float(M.tcr_loss(Z, Z, 0.5, 1.0)) < float(M.tcr_loss(Z, _sphere(32, 8, seed=10), 0.5, 1.0))


def test_combine_views_renormalises_and_keeps_double_stochasticity():
    Z1, Z2 = _sphere(10, 4, seed=1), _sphere(10, 4, seed=2)
    G1, G2 = (M.sinkhorn(z @ z.T, 0.3, 200) for z in (Z1, Z2))
    Z, G = M.combine_views([Z1, Z2], [G1, G2])
    assert torch.allclose(Z.norm(dim=1), torch.ones(10, dtype=Z.dtype))
    assert torch.allclose(Z, F.normalize(Z1 + Z2, dim=1))
    assert torch.allclose(G.sum(0), torch.ones(10, dtype=G.dtype), atol=1e-8)
    assert torch.allclose(G.sum(1), torch.ones(10, dtype=G.dtype), atol=1e-6)


# ----------------------------------------------------------------------------------------------
# geometry, heads, networks
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("r", [1, 3, 7])
def test_numerical_rank_of_a_rank_r_matrix(r):
    g = torch.Generator().manual_seed(r)
    A = (
        torch.randn(50, r, generator=g, dtype=torch.float64)
        @ torch.linalg.qr(torch.randn(20, r, generator=g, dtype=torch.float64))[0].T
    )
    U, _, Vh = torch.linalg.svd(A, full_matrices=False)
    A = U[:, :r] @ Vh[:r]  # equal singular values: 95% energy needs all r
    assert M.numerical_rank(A) == r
    assert M.numerical_rank(torch.zeros(5, 3)) == 0


def test_cosine_blocks_of_orthogonal_subspaces():
    Z, y = _planted(n_per=30, k=4, sub_dim=1, d=8, seed=3)
    intra, inter = M.cosine_blocks(Z, y)
    assert intra == pytest.approx(1.0) and inter == pytest.approx(0.0, abs=1e-12)


def test_head_copy_makes_the_cluster_head_equal_the_feature_head():
    torch.manual_seed(0)
    net = M.MLCNet(channels=(4, 8, 8, 8), hidden=16, dim=6).eval()
    x = torch.rand(5, 1, 28, 28)
    z, c = net(x)
    assert not torch.allclose(z, c)
    M.copy_feature_to_cluster_head(net)
    z, c = net(x)
    assert torch.equal(z, c) and torch.allclose(z.norm(dim=1), torch.ones(5))
    M.reset_cluster_head(net, seed=1)
    assert not torch.allclose(*net(x))
    # copied parameters are copies: training the cluster head leaves the feature head alone
    M.copy_feature_to_cluster_head(net)
    with torch.no_grad():
        net.cluster_head.weight.add_(1.0)
    assert not torch.equal(net.cluster_head.weight, net.feature_head.weight)


def test_augment_keeps_shape_and_range_and_is_seeded():
    x = torch.rand(6, 1, 28, 28)
    a = M.augment(x, torch.Generator().manual_seed(0))
    b = M.augment(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert not torch.allclose(a, M.augment(x, torch.Generator().manual_seed(1)))
    assert M.augment(torch.rand(3, 3, 32, 32), torch.Generator().manual_seed(0)).shape == (3, 3, 32, 32)


def test_planted_union_of_subspaces_is_recovered_by_sinkhorn_and_spectral_clustering():
    Z, y = _planted(n_per=50, k=4, sub_dim=3, d=16, noise=0.05, seed=4)
    G = M.sinkhorn(Z @ Z.T, 0.1, 100)
    labels = spectral_from_affinity((0.5 * (G + G.T)).numpy(), 4, seed=0)
    assert accuracy(y, labels) > 0.98
    # and the geometry helpers see a union of low-dimensional subspaces
    geo = geometry(Z, y)
    assert geo["class_rank_mean"] <= 3 and geo["overall_rank"] >= 10 and geo["inter_cos"] < 0.05


def test_a_few_mlc_steps_lower_the_loss_on_planted_features():
    """Head-only regime on fixed random inputs: MLC's loss falls and the outputs stay on the sphere."""
    torch.manual_seed(0)
    X, _ = _planted(n_per=32, k=4, sub_dim=2, d=16, noise=0.1, seed=5)
    X = X.float()
    f, c = torch.nn.Linear(16, 8), torch.nn.Linear(16, 8)
    c.load_state_dict(f.state_dict())
    opt = torch.optim.Adam([*f.parameters(), *c.parameters()], lr=1e-2)
    losses = []
    for _ in range(30):
        Z, C = F.normalize(f(X), dim=1), F.normalize(c(X), dim=1)
        loss = M.mlc_loss(Z, M.membership(C, 0.175, 10), 0.5)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.1


# ----------------------------------------------------------------------------------------------
# experiment config and derive rules
# ----------------------------------------------------------------------------------------------
def test_experiment_validation():
    Experiment()
    with pytest.raises(ValueError, match="dataset"):
        Experiment(dataset="svhn")
    with pytest.raises(ValueError, match="n_baseline"):
        Experiment(n_baseline=5000, n_readout=3000)
    with pytest.raises(ValueError, match="eta"):
        Experiment(eta=0.0)
    with pytest.raises(ValueError, match="ensc_tau"):
        Experiment(ensc_tau=[1.5])


def _row(ds, seed, acc, geo_mlc=None, log=None, eta=None):
    geo = {
        "tcr": {"class_rank_mean": 12.0, "overall_rank": 28, "dim": 32, "intra_cos": 0.4, "inter_cos": 0.2},
        "mlc": geo_mlc
        or {"class_rank_mean": 6.0, "overall_rank": 27, "dim": 32, "intra_cos": 0.7, "inter_cos": 0.1},
    }
    return {
        "dataset": ds,
        "n_train": 100,
        "experiment": {"seed": seed, "n_baseline": 50, "n_readout": 80},
        "results": {m: {"acc": a, "nmi": a, "ari": a} for m, a in acc.items()},
        "geometry": geo,
        "mlc_log": log
        or [
            {
                "epoch": 0,
                "R": 10.0,
                "Rc": 8.0,
                "class_rank_mean": 10.0,
                "overall_rank": 28,
                "gamma_entropy": 5.0,
            },
            {
                "epoch": 1,
                "R": 9.8,
                "Rc": 4.0,
                "class_rank_mean": 6.0,
                "overall_rank": 27,
                "gamma_entropy": 3.0,
            },
        ],
        "eta_sweep": eta
        or [{"eta": 0.05, "gamma_entropy": 1.0, "acc": 0.5}, {"eta": 0.1, "gamma_entropy": 2.0, "acc": 0.8}],
        "seconds": 60.0,
        "tcr_seconds": 30.0,
        "mlc_seconds": 20.0,
    }


GOOD = {
    "mlc": 0.9,
    "mlc_sub": 0.9,
    "mlc_random_init": 0.8,
    "ensc_tcr": 0.7,
    "ssc_omp_tcr": 0.6,
    "ensc_mlc": 0.85,
    "ssc_omp_mlc": 0.8,
    "kmeans_tcr": 0.6,
    "kmeans_mlc": 0.85,
}


def _claim(rule, **kw):
    return {"id": "c", "derive": {"rule": rule, **kw}}


def test_rules_on_hand_made_rows():
    good = [_row("mnist", 0, GOOD), _row("mnist", 1, GOOD), _row("fashion_mnist", 0, GOOD)]
    seeded = good + [_row("fashion_mnist", 1, GOOD)]  # two seeds everywhere: zero-spread paired differences
    beats = _claim("mlc_beats_baselines", method="mlc_sub", baselines=["ensc_tcr", "ssc_omp_tcr"])
    assert RULES["mlc_beats_baselines"](beats, seeded)[1] == "reproduced"
    _, verdict, note = RULES["mlc_beats_baselines"](beats, good)  # Fashion-MNIST with one seed: no interval
    assert verdict == "partly" and "fashion_mnist (1 seed(s))" in note
    half = _row("fashion_mnist", 0, {**GOOD, "mlc_sub": 0.65})
    assert RULES["mlc_beats_baselines"](beats, good[:2] + [half])[1] == "partly"
    bad = _row("mnist", 0, {**GOOD, "mlc_sub": 0.5})
    assert RULES["mlc_beats_baselines"](beats, [bad])[1] == "not_reproduced"

    helps = _claim(
        "mlc_features_help_baselines",
        pairs=[["ensc_tcr", "ensc_mlc"], ["ssc_omp_tcr", "ssc_omp_mlc"]],
        min_gain=0.02,
    )
    assert RULES["mlc_features_help_baselines"](helps, seeded)[1] == "reproduced"
    assert RULES["mlc_features_help_baselines"](helps, good)[1] == "partly"  # one Fashion-MNIST seed
    assert (
        RULES["mlc_features_help_baselines"](helps, [_row("mnist", 0, {**GOOD, "ensc_mlc": 0.7})])[1]
        == "partly"
    )
    assert (
        RULES["mlc_features_help_baselines"](
            helps, [_row("mnist", 0, {**GOOD, "ensc_mlc": 0.7, "ssc_omp_mlc": 0.5})]
        )[1]
        == "not_reproduced"
    )

    ranks = _claim("mlc_subspace_ranks", max_class_frac=0.35, min_overall_frac=0.75)
    assert RULES["mlc_subspace_ranks"](ranks, good)[1] == "reproduced"
    collapsed = _row(
        "mnist",
        0,
        GOOD,
        geo_mlc={"class_rank_mean": 6.0, "overall_rank": 10, "dim": 32, "intra_cos": 0.7, "inter_cos": 0.1},
    )
    assert RULES["mlc_subspace_ranks"](ranks, [collapsed])[1] == "partly"

    blocks = _claim("mlc_orthogonal_blocks", max_inter=0.2, min_intra=0.5)
    assert RULES["mlc_orthogonal_blocks"](blocks, good)[1] == "reproduced"
    sharper = _row(
        "mnist",
        0,
        GOOD,
        geo_mlc={"class_rank_mean": 6.0, "overall_rank": 27, "dim": 32, "intra_cos": 0.6, "inter_cos": 0.25},
    )
    assert RULES["mlc_orthogonal_blocks"](blocks, [sharper])[1] == "partly"

    rates = _claim("mlc_rate_dynamics", max_rc_ratio=0.75, max_r_change=0.1)
    assert RULES["mlc_rate_dynamics"](rates, good)[1] == "reproduced"
    flat = [
        {"epoch": 0, "R": 10.0, "Rc": 8.0, "class_rank_mean": 10.0, "overall_rank": 28},
        {"epoch": 1, "R": 10.0, "Rc": 8.0, "class_rank_mean": 10.0, "overall_rank": 28},
    ]
    assert RULES["mlc_rate_dynamics"](rates, [_row("mnist", 0, GOOD, log=flat)])[1] == "not_reproduced"

    init = _claim("mlc_one_shot_init", min_gain=0.02, tol=0.01)
    assert RULES["mlc_one_shot_init"](init, seeded)[1] == "reproduced"
    assert RULES["mlc_one_shot_init"](init, good)[1] == "partly"  # one Fashion-MNIST seed
    assert (
        RULES["mlc_one_shot_init"](init, [_row("mnist", 0, {**GOOD, "mlc_random_init": 0.895})])[1]
        == "partly"
    )
    assert (
        RULES["mlc_one_shot_init"](init, [_row("mnist", 0, {**GOOD, "mlc_random_init": 0.95})])[1]
        == "not_reproduced"
    )

    eta = _claim("mlc_eta_sparsity", min_drop=0.02)
    assert RULES["mlc_eta_sparsity"](eta, good)[1] == "reproduced"
    flat_acc = [
        {"eta": 0.05, "gamma_entropy": 1.0, "acc": 0.8},
        {"eta": 0.1, "gamma_entropy": 2.0, "acc": 0.8},
    ]
    assert RULES["mlc_eta_sparsity"](eta, [_row("mnist", 0, GOOD, eta=flat_acc)])[1] == "partly"

    paper = _claim("mlc_paper_values", dataset="cifar10", tol=5.0)
    assert RULES["mlc_paper_values"](paper, good)[1] == "not_run"
    cifar = {"mlc": 0.85, "ensc_tcr": 0.70, "ensc_mlc": 0.80, "ssc_omp_tcr": 0.66, "ssc_omp_mlc": 0.77}
    assert RULES["mlc_paper_values"](paper, [_row("cifar10", 0, cifar)])[1] == "reproduced"
    assert (
        RULES["mlc_paper_values"](paper, [_row("cifar10", 0, {**cifar, "mlc": 0.70})])[1] == "not_reproduced"
    )
    assert "mnist" in tables(good)


def test_differences_between_arms_need_the_seed_interval():
    """A gain on the seed mean whose seeds disagree is not shown: the paired interval straddles 0."""
    noisy = [
        _row("mnist", 0, {**GOOD, "mlc_random_init": 0.6}),
        _row("mnist", 1, {**GOOD, "mlc_random_init": 0.95}),
    ]
    measured, verdict, _ = RULES["mlc_one_shot_init"](
        _claim("mlc_one_shot_init", min_gain=0.02, tol=0.01), noisy
    )
    assert measured["gaps"]["mnist"] == pytest.approx(0.125) and measured["intervals"]["mnist"]["lo"] < 0
    assert verdict == "partly"
    beats = _claim("mlc_beats_baselines", method="mlc_sub", baselines=["ensc_tcr"])
    spread = [_row("mnist", 0, {**GOOD, "mlc_sub": 0.95}), _row("mnist", 1, {**GOOD, "mlc_sub": 0.65})]
    measured, verdict, _ = RULES["mlc_beats_baselines"](beats, spread)  # mean 0.80 > 0.70, seeds disagree
    assert measured["wins"]["mnist"]["ensc_tcr"] and measured["intervals"]["mnist"]["ensc_tcr"]["lo"] < 0
    assert verdict == "partly"
