"""treesynth: the attribute space, the biased generator, the partitioning tree (its leaves partition the space
exactly), rebalancing, the diversity measures against scikit-learn, the classifier's vocabulary, a tiny run, the
rules on hand-made rows, and the smoke run on two DDP processes."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from subspacelab.configurable import ConfigError
from subspacelab.models.text import BagOfNgramsClassifier, Vocabulary, ngrams
from subspacelab.papers.treesynth.claims import RULES, paired
from subspacelab.papers.treesynth.experiment import METHODS, Experiment
from subspacelab.papers.treesynth.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED
from subspacelab.synthesis import diversity, tree
from subspacelab.synthesis import word_problems as wp
from subspacelab.synthesis.generator import BiasedGenerator

SPACE = wp.all_combinations()


def test_the_space_is_every_combination_once_and_labels_are_the_operation_chain():
    assert SPACE.shape == (int(np.prod(wp.SIZES)), 6) == (2160, 6)
    np.testing.assert_array_equal(wp.combination_index(SPACE), np.arange(len(SPACE)))
    assert set(wp.label(SPACE).tolist()) == set(range(wp.N_CLASSES))
    rng = np.random.default_rng(0)
    combo = np.array([1, 3, 0, 2, 0, 1])  # farm, divide, no second op, 3 digits, how many, distractor
    text = wp.realise(combo, rng)
    assert "crates and keeps one crate" in text and "Afterwards" not in text and text.endswith("have now?")
    assert len(text.split(".")) == 4  # start, distractor, operation, question


def test_generator_respects_the_path_and_temperature_flattens_it():
    gen = BiasedGenerator(seed=3)
    path = ((0, 2), (1, 1))
    p = gen.probabilities(path)
    assert p.sum() == pytest.approx(1.0) and np.all(p[(SPACE[:, 0] != 2) | (SPACE[:, 1] != 1)] == 0)
    draws = gen.sample(500, np.random.default_rng(0), path)
    assert np.all(draws[:, 0] == 2) and np.all(draws[:, 1] == 1)

    def entropy(q):
        q = q[q > 0]
        return -(q * np.log(q)).sum()

    assert entropy(BiasedGenerator(seed=3, temperature=2.0).probabilities()) > entropy(gen.probabilities())
    # no stickiness: independent draws whose frequencies follow the prior
    iid = BiasedGenerator(seed=3, stickiness=0.0).sample(20000, np.random.default_rng(1))
    freq = np.bincount(wp.combination_index(iid), minlength=len(SPACE)) / 20000
    top = np.argsort(-gen.probabilities())[:5]
    np.testing.assert_allclose(freq[top], gen.probabilities()[top], atol=0.01)


def test_tree_leaves_partition_the_space_exactly():
    gen = BiasedGenerator(seed=5)
    root = tree.build_tree(gen, np.random.default_rng(0), max_depth=4, pivots=10)
    leaves = tree.leaves(root)
    where = tree.leaf_index(root, SPACE)
    assert set(where.tolist()) == set(range(len(leaves)))  # every leaf holds some combination
    for i, leaf in enumerate(leaves):
        assert len(leaf.path) == 4 and len({a for a, _ in leaf.path}) == 4  # four distinct attributes split
        inside = np.all([SPACE[:, a] == v for a, v in leaf.path], axis=0)
        np.testing.assert_array_equal(inside, where == i)  # a leaf is exactly the combinations on its path
    assert np.bincount(where).sum() == len(SPACE)


def test_allocation_and_rebalancing_hit_their_targets():
    rng = np.random.default_rng(0)
    counts = tree.allocate(1003, 10, rng)
    assert counts.sum() == 1003 and counts.max() - counts.min() == 1
    gen = BiasedGenerator(seed=5)
    root = tree.build_tree(gen, rng, max_depth=2)
    n_leaves = len(tree.leaves(root))
    data = gen.sample(600, rng)
    out, generated = tree.rebalance(data, root, gen, 300, np.random.default_rng(1))
    per_leaf = np.bincount(tree.leaf_index(root, out), minlength=n_leaves)
    assert len(out) == 300 and per_leaf.max() - per_leaf.min() <= 1
    assert 0 < generated < 300
    full = tree.synthesize(root, gen, 300, np.random.default_rng(2))
    assert np.bincount(tree.leaf_index(root, full), minlength=n_leaves).min() >= 300 // n_leaves


def test_diversity_measures_agree_with_scikit_learn():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    rng = np.random.default_rng(0)
    texts = [wp.realise(c, rng) for c in SPACE[rng.integers(len(SPACE), size=60)]]
    x = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"[A-Za-z]+").fit_transform(texts)
    sims = cosine_similarity(x)
    brute = (sims.sum() - np.trace(sims)) / (60 * 59)
    assert diversity.mean_pairwise_cosine(texts) == pytest.approx(brute, rel=1e-9)
    assert diversity.mean_pairwise_cosine(texts[:1] * 5) == pytest.approx(1.0)
    assert diversity.coverage(SPACE, len(SPACE)) == 1.0
    assert diversity.coverage(SPACE[:10], len(SPACE)) == pytest.approx(10 / 2160)
    assert diversity.coverage(SPACE, 120, columns=[0, 1, 2]) == 1.0


def test_vocabulary_drops_unseen_ngrams_and_the_classifier_counts_them():
    vocab = Vocabulary(["Ava has 12 apples."])
    assert "has <n2>" in ngrams("Ava has 12 apples.") and "has <n3>" not in vocab.index
    ids = vocab.encode(["Ava has 12 apples.", "Ben sells 123 books"])
    assert (ids[1] > 0).sum() == 0 < (ids[0] > 0).sum()  # nothing of the second text was seen
    net = BagOfNgramsClassifier(len(vocab), 20, hidden=8)
    assert net(ids).shape == (2, 20)


TINY = {"n_samples": 200, "test_size": 200, "diversity_sample": 50, "epochs": 2}


def test_a_tiny_run_of_each_method_shares_the_test_set_and_is_deterministic(tmp_path):
    exp = Experiment(method="balanced", **TINY)
    np.testing.assert_array_equal(
        exp.test_combinations(1), Experiment(method="biased", **TINY).test_combinations(1)
    )
    runs = {m: Experiment(method=m, **TINY).run(seed=1, out_dir=tmp_path) for m in METHODS}
    assert runs["treesynth"]["coverage"] > runs["biased"]["coverage"]
    assert 0 < runs["balanced"]["generated_share"] < 1 and runs["treesynth"]["leaves"] >= 100
    for r in runs.values():
        assert 0 <= r["test_accuracy"] <= 1 and 0 < r["mean_pairwise_cosine"] < 1
    assert Experiment(method="treesynth", **TINY).run(seed=1, out_dir=tmp_path) == runs["treesynth"]


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"method": "persona"}, "experiment.method"),
        ({"max_depth": 7}, "experiment.max_depth"),
        ({"stickiness": 1.0}, "experiment.stickiness"),
        ({"batch_size": 5000}, "experiment.batch_size"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


def _rows(acc: dict[tuple[str, int], list[float]]) -> list[dict]:
    return [
        {
            "method": m,
            "n_samples": n,
            "seed": s,
            "test_accuracy": a,
            "head_accuracy": a + 0.1,
            "tail_accuracy": a,
            "coverage": a,
            "mean_pairwise_cosine": 1 - a,
        }
        for (m, n), accs in acc.items()
        for s, a in enumerate(accs)
    ]


def test_rules_on_hand_made_rows(tmp_path):
    claim = {
        "derive": {
            "metric": "test_accuracy",
            "better": "treesynth",
            "others": ["biased"],
            "sizes": [1000, 4000],
        }
    }
    rule = RULES["treesynth_paired_difference"]
    clear = _rows(
        {
            ("treesynth", 1000): [0.7, 0.72, 0.71],
            ("biased", 1000): [0.5, 0.55, 0.5],
            ("treesynth", 4000): [0.8, 0.82, 0.81],
            ("biased", 4000): [0.7, 0.71, 0.7],
        }
    )
    assert paired(clear, ("treesynth", 1000), ("biased", 1000), "test_accuracy") == pytest.approx(
        [0.2, 0.17, 0.21]
    )
    assert rule(claim, clear).verdict == REPRODUCED
    half = [r for r in clear if not (r["n_samples"] == 4000 and r["method"] == "biased")]
    half += _rows({("biased", 4000): [0.85, 0.7, 0.9]})
    assert rule(claim, half).verdict == PARTLY
    lower = {"derive": {**claim["derive"], "metric": "mean_pairwise_cosine", "lower_is_better": True}}
    assert rule(lower, clear).verdict == REPRODUCED  # 1 - acc: the better arm is lower
    assert rule(claim, _rows({("treesynth", 1000): [0.5, 0.5]})).verdict == NOT_RUN
    scaling = {"derive": {"metric": "test_accuracy", "method": "treesynth", "small": 1000, "large": 4000}}
    assert RULES["treesynth_scaling"](scaling, clear).verdict == REPRODUCED
    flat = _rows({("treesynth", 1000): [0.7, 0.72], ("treesynth", 4000): [0.69, 0.70]})
    assert RULES["treesynth_scaling"](scaling, flat).verdict == NOT
    head_tail = {"derive": {"method": "biased", "size": 1000}}
    assert RULES["treesynth_head_tail"](head_tail, clear).verdict == REPRODUCED
    runs = [
        {**Experiment(method=m, **TINY).run(seed=s, out_dir=tmp_path), "seed": s}
        for m in ("biased", "treesynth")
        for s in (0, 1)
    ]
    assert [p.name for p in figures(runs, tmp_path)] == ["treesynth_accuracy_diversity.png"]
    assert "| TreeSynth | 200 | 2 |" in tables(runs)


@pytest.mark.slow
@pytest.mark.ddp
def test_the_smoke_run_trains_on_two_processes_like_one(tmp_path):
    """``trainer=ddp trainer.devices=2``: each rank takes half of every global batch and DDP averages the gradients,
    so the classifier (and its accuracy) is the single-process one up to summation order."""
    results = {}
    for name, extra in (
        ("one", []),
        ("two", ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]),
    ):
        root = tmp_path / name
        cmd = [
            sys.executable,
            "-m",
            "subspacelab.train",
            "paper=treesynth",
            "scale=smoke",
            "experiment.method=treesynth",
            "seed=0",
            f"runs_root={root}",
            "logger=none",
            *extra,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        (metrics,) = list(root.glob("treesynth/smoke/*/metrics.json"))
        results[name] = json.loads(metrics.read_text())
    assert results["two"]["world_size"] == 2
    assert results["two"]["coverage"] == results["one"]["coverage"]  # the same data on every rank
    assert abs(results["two"]["test_accuracy"] - results["one"]["test_accuracy"]) <= 0.02
    torch.testing.assert_close(
        results["two"]["train_accuracy"], results["one"]["train_accuracy"], atol=0.02, rtol=0
    )
