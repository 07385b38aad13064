"""subspace_ad: the scorers equal scikit-learn's PCA, nearest neighbours and Ledoit-Wolf Mahalanobis on the same
features; an in-subspace feature scores 0; maps, image scores and defects behave as stated; the rules on hand-made
rows; a tiny run end to end. The backbone trains through ``lit.classifier.fit_classifier``, whose two-process run
equals one process (tests/integration/test_classifier_fit.py; treesynth's smoke run checks it end to end under
``trainer=ddp``)."""

import numpy as np
import pytest
import torch

from subspacelab.configurable import ConfigError
from subspacelab.detection import defects, maps, scorers
from subspacelab.models.patch_cnn import PatchConvNet
from subspacelab.papers.subspace_ad.claims import RULES, per_seed
from subspacelab.papers.subspace_ad.experiment import ARMS, Experiment
from subspacelab.papers.subspace_ad.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED


def _features(seed=0, n=400, d=12, rank=3):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    X = 5 + rng.standard_normal((n, rank)) * [4.0, 2.0, 1.0] @ basis.T + 0.05 * rng.standard_normal((n, d))
    return X, basis, rng


@pytest.mark.parametrize("ev", [0.9, 0.99, 0.999])
def test_pca_residual_equals_scikit_learn_pca(ev):
    from sklearn.decomposition import PCA

    X, _, rng = _features()
    Q = rng.standard_normal((50, X.shape[1])) + 5
    ours = scorers.PCAResidual(ev=ev).fit(X)
    ref = PCA(n_components=ev, svd_solver="full").fit(X)
    assert ours.rank == ref.n_components_
    expected = ((Q - ref.inverse_transform(ref.transform(Q))) ** 2).sum(1)
    np.testing.assert_allclose(ours.score(Q), expected, rtol=1e-9, atol=1e-9)


def test_a_feature_in_the_principal_subspace_scores_zero_and_one_off_it_scores_its_offset():
    X, basis, rng = _features()
    pca = scorers.PCAResidual(ev=0.99).fit(X)
    inside = pca.mean + rng.standard_normal((5, 3)) @ pca.components[:3]
    assert pca.score(inside) == pytest.approx(np.zeros(5), abs=1e-18)
    normal = np.linalg.svd(pca.components)[2][-1]  # a unit direction orthogonal to every component
    assert pca.score(pca.mean[None] + 3.0 * normal) == pytest.approx([9.0])
    assert pca.stored_floats == X.shape[1] * (pca.rank + 1)


def test_components_for_variance_is_the_fewest_that_reach_the_fraction():
    assert scorers.components_for_variance(np.array([6.0, 3.0, 1.0]), 0.9) == 2
    assert scorers.components_for_variance(np.array([6.0, 3.0, 1.0]), 0.91) == 3
    assert scorers.components_for_variance(np.array([6.0, 3.0, 1.0]), 0.6) == 1
    with pytest.raises(ValueError):
        scorers.components_for_variance(np.ones(3), 0.0)


def test_memory_bank_equals_scikit_learn_cosine_nearest_neighbour():
    from sklearn.neighbors import NearestNeighbors

    X, _, rng = _features(n=300)
    Q = rng.standard_normal((40, X.shape[1])) + 5
    ours = scorers.NearestNeighbour(chunk=7).fit(X).score(Q)
    dist, _ = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(X).kneighbors(Q)
    np.testing.assert_allclose(ours, dist[:, 0], atol=1e-12)
    assert scorers.NearestNeighbour().fit(X).score(X[:5]) == pytest.approx(np.zeros(5), abs=1e-12)


def test_gaussian_equals_scikit_learn_ledoit_wolf_mahalanobis():
    from sklearn.covariance import LedoitWolf

    X, _, rng = _features()
    Q = rng.standard_normal((30, X.shape[1])) + 5
    np.testing.assert_allclose(
        scorers.GaussianMahalanobis().fit(X).score(Q), LedoitWolf().fit(X).mahalanobis(Q), rtol=1e-9
    )


def test_maps_blur_with_the_3x3_gaussian_and_image_scores_average_the_top_pixels():
    patch = np.arange(16, dtype=float).reshape(1, 16)
    flat = maps.anomaly_maps(np.full((2, 16), 3.0), 4, 8, sigma=4.0)
    assert flat.shape == (2, 8, 8) and np.allclose(flat, 3.0)
    raw = maps.anomaly_maps(patch, 4, 4, sigma=0.0)[0]  # same size: bilinear upsampling is the identity
    np.testing.assert_allclose(raw, patch.reshape(4, 4))
    blurred = maps.anomaly_maps(patch, 4, 4, sigma=4.0)[0]
    g = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 16.0))
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    padded = np.pad(raw, 1, mode="reflect")  # numpy's "reflect" = OpenCV's REFLECT_101
    expected = np.array([[(padded[i : i + 3, j : j + 3] * kernel).sum() for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(blurred, expected, rtol=1e-12)
    scores = maps.image_scores(np.arange(200.0).reshape(1, 200), top_fraction=0.01)
    assert scores == pytest.approx([198.5])  # the top 2 of 200 pixels
    assert maps.image_auroc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([0, 0, 1, 1])) == 1.0
    masks = np.zeros((2, 2, 2), bool)
    masks[1, 0, 0] = True
    assert maps.pixel_auroc(np.where(masks, 5.0, 1.0), masks) == 1.0


@pytest.mark.parametrize("kind", defects.KINDS)
def test_a_defect_changes_only_its_masked_pixels(kind):
    rng = np.random.default_rng(3)
    image = np.zeros((28, 28))
    image[6:22, 8:20] = 0.7
    donor = np.random.default_rng(4).uniform(size=(28, 28))
    bad, mask = defects.add_defect(image, kind, rng, donor=donor)
    changed = np.abs(bad - image) > 0.05
    assert mask.any() and np.array_equal(mask, changed)
    assert np.all(np.abs(bad - image)[~mask] <= 0.05)
    with pytest.raises(ValueError, match="kind"):
        defects.add_defect(image, "smudge", rng)


def test_patch_features_average_the_patch_layers_on_a_14x14_grid():
    torch.manual_seed(0)
    net = PatchConvNet(10, width=8, depth=3)
    x = torch.rand(2, 1, 28, 28)
    feats = net.patch_features(x)
    assert feats.shape == (2, 196, 8) and net(x).shape == (2, 10)
    h, outs = net.stem(x), []
    for layer in net.patch_layers:
        h = layer(h)
        outs.append(h)
    expected = torch.stack(outs).mean(0).flatten(2).transpose(1, 2)
    torch.testing.assert_close(feats, expected)


TINY = {
    "categories": [7],
    "shots": [1, 2],
    "augmentations": 2,
    "test_images": 20,
    "backbone_train": 600,
    "backbone_epochs": 1,
    "batch_size": 100,
}


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"categories": [10]}, "experiment.categories"),
        ({"ev": 0.0}, "experiment.ev"),
        ({"test_images": 5}, "experiment.test_images"),
        ({"shots": [0]}, "experiment.shots"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=3, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 3}


def test_a_tiny_run_scores_every_arm(tiny_run):
    assert [(r["shots"], r["arm"]) for r in tiny_run["results"]] == [(k, a) for k in (1, 2) for a in ARMS]
    for r in tiny_run["results"]:
        assert 0 <= r["image_auroc"] <= 1 and 0 <= r["pixel_auroc"] <= 1
        assert r["fit_patches"] == r["shots"] * (1 + 2) * 196
    bank = {r["shots"]: r["stored_floats"] for r in tiny_run["results"] if r["arm"] == "memory_bank"}
    assert bank == {1: 3 * 196 * 64, 2: 6 * 196 * 64}


def test_fit_and_test_sets_are_seeded_and_half_defective():
    exp = Experiment(**TINY)
    images = torch.rand(30, 1, 28, 28)
    a = exp.fit_images(images, 2, np.random.default_rng(0))
    assert a.shape == (2 * 3, 1, 28, 28)
    assert torch.equal(a, exp.fit_images(images, 2, np.random.default_rng(0)))
    x, labels, masks = exp.test_set(images, torch.rand(5, 1, 28, 28), np.random.default_rng(1))
    assert x.shape == (20, 1, 28, 28) and labels.sum() == 10
    assert not masks[~labels].any() and all(m.any() for m in masks[labels])
    again = exp.test_set(images, torch.rand(5, 1, 28, 28), np.random.default_rng(1))[0]
    assert torch.equal(x[:10], again[:10])  # the intact half does not depend on the donors


def _rows(values: dict[tuple[str, int], list[float]], metric="image_auroc") -> list[dict]:
    seeds = {}
    for (arm, k), per in values.items():
        for s, v in enumerate(per):
            seeds.setdefault(s, []).append(
                {
                    "arm": arm,
                    "shots": k,
                    "category": 0,
                    metric: v,
                    "stored_floats": 100 if "sub" in arm else 10**5,
                }
            )
            seeds[s].append(
                {
                    "arm": arm,
                    "shots": k,
                    "category": 1,
                    metric: v + 0.1,
                    "stored_floats": 100 if "sub" in arm else 10**5,
                }
            )
    return [{"seed": s, "results": r} for s, r in seeds.items()]


def test_rules_on_hand_made_rows(tmp_path, tiny_run):
    rule = RULES["subspace_ad_paired_difference"]
    claim = {
        "derive": {"metric": "image_auroc", "better": "subspacead", "other": "memory_bank", "shots": [1]}
    }
    better = _rows({("subspacead", 1): [0.9, 0.92, 0.91], ("memory_bank", 1): [0.8, 0.81, 0.8]})
    assert per_seed(better, "subspacead", 1, "image_auroc") == pytest.approx({0: 0.95, 1: 0.97, 2: 0.96})
    assert rule(claim, better).verdict == REPRODUCED
    noisy = _rows({("subspacead", 1): [0.9, 0.7, 0.85], ("memory_bank", 1): [0.8, 0.81, 0.8]})
    assert rule(claim, noisy).verdict == PARTLY
    worse = _rows({("subspacead", 1): [0.7, 0.71, 0.7], ("memory_bank", 1): [0.8, 0.81, 0.8]})
    assert rule(claim, worse).verdict == NOT
    assert rule({"derive": {**claim["derive"], "shots": [4]}}, better).verdict == NOT_RUN
    gain = {"derive": {"metric": "image_auroc", "arm": "subspacead", "low": 1, "high": 4}}
    rising = _rows({("subspacead", 1): [0.7, 0.71, 0.7], ("subspacead", 4): [0.8, 0.8, 0.82]})
    assert RULES["subspace_ad_shot_gain"](gain, rising).verdict == REPRODUCED
    same = {
        "derive": {
            "metric": "image_auroc",
            "arm": "subspacead",
            "other": "subspacead_ev95",
            "shots": 1,
            "margin": 0.02,
        }
    }
    close = _rows({("subspacead", 1): [0.7, 0.71, 0.7], ("subspacead_ev95", 1): [0.705, 0.71, 0.7]})
    assert RULES["subspace_ad_equivalence"](same, close).verdict == REPRODUCED
    assert (
        RULES["subspace_ad_equivalence"](
            same, _rows({("subspacead", 1): [0.7, 0.7], ("subspacead_ev95", 1): [0.8, 0.8]})
        ).verdict
        == NOT
    )
    memory = {"derive": {"arm": "subspacead", "other": "memory_bank", "shots": 1, "at_least": 100}}
    assert RULES["subspace_ad_memory_ratio"](memory, better).verdict == REPRODUCED
    assert (
        RULES["subspace_ad_memory_ratio"]({"derive": {**memory["derive"], "at_least": 10**4}}, better).verdict
        == NOT
    )
    assert [p.name for p in figures([tiny_run], tmp_path)] == [
        "image_auroc_by_shots.png",
        "pixel_auroc_by_shots.png",
    ]
    assert "| sneaker |" in tables([tiny_run])
