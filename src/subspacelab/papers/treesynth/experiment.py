"""What one run of treesynth computes: one synthetic training set of ``n_samples`` templated word problems made by
one ``method``, its coverage and diversity, and the accuracy of a small classifier trained on it (through Lightning)
on a test set drawn uniformly from the whole attribute space.

Methods (``subspacelab.synthesis``): ``biased`` (the generator standing in for an LLM: a Zipf prior over the
space's combinations and sticky repetition), ``temperature`` (the same generator with a flatter prior),
``treesynth`` (the partitioning tree, data allocated uniformly over its leaves and generated inside each), and
``balanced`` (the ``biased`` dataset of the same seed rebalanced over the tree's leaves). The generator, the tree
and the uniform test set of a seed are shared by the four methods, so they are compared paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.configurable import one_of, require
from subspacelab.experiments.harness import trial_seed
from subspacelab.synthesis import diversity, tree
from subspacelab.synthesis import word_problems as wp
from subspacelab.synthesis.generator import BiasedGenerator

METHODS = ("biased", "temperature", "treesynth", "balanced")
LABEL = {
    "biased": "biased generator",
    "temperature": "temperature sampling",
    "treesynth": "TreeSynth",
    "balanced": "biased, TreeSynth-balanced",
}


@dataclass
class Experiment:
    """treesynth: one run = one data-synthesis method at one dataset size and seed (module doc).
    Tags: [paper] arXiv 2503.17195 as far as read; [code] cpa2001/TreeSynth (config.py, generator_*_async.py,
    balance_mental.py); [notes] the project notes' LLM-free plan; [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "${.method}-n${.n_samples}"  # the run's name in its run_dir

    method: str = "treesynth"  # biased | temperature | treesynth | balanced
    n_samples: int = 4000  # [ours; paper 1k-100k] training problems generated
    # --- the generator standing in for an LLM
    zipf_a: float = 1.2  # [notes] Zipf exponent of the generator's preference over each attribute's values
    stickiness: float = (
        0.3  # [ours; notes: "sticky repetition"] probability of repeating the last combination
    )
    temperature: float = 2.0  # [ours] the temperature arm divides the exponent by this
    # --- the tree [code: config.py]
    max_depth: int = 4  # splits along a path
    pivots: int = 10  # pivot samples drawn at each node
    # --- evaluation [ours]
    test_size: int = 3000  # problems drawn uniformly over every combination
    diversity_sample: int = 1000  # texts whose mean pairwise TF-IDF cosine is measured
    # --- the classifier trained on the data (through Lightning) [ours]
    hidden: int = 64  # width of the bag-of-n-grams classifier (models.text)
    epochs: int = 10
    batch_size: int = 50
    lr: float = 3.0e-3  # Adam

    def __post_init__(self):
        one_of(self.method, METHODS, "experiment.method")
        for name in ("n_samples", "max_depth", "pivots", "test_size", "hidden", "epochs"):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(
            self.max_depth <= len(wp.NAMES), "experiment.max_depth", f"at most {len(wp.NAMES)} attributes"
        )
        require(self.diversity_sample >= 2, "experiment.diversity_sample", "must be >= 2")
        require(
            1 <= self.batch_size <= self.n_samples,
            "experiment.batch_size",
            "must be in 1..experiment.n_samples",
        )
        for name in ("zipf_a", "temperature", "lr"):
            require(float(getattr(self, name)) > 0, f"experiment.{name}", "must be > 0")
        require(0 <= self.stickiness < 1, "experiment.stickiness", "must be in [0, 1)")

    # --- data -------------------------------------------------------------------------------------------------

    def generator(self, seed: int, temperature: float = 1.0) -> BiasedGenerator:
        """The seed's "LLM": its favourite combinations are a seeded permutation of the space."""
        return BiasedGenerator(
            self.zipf_a, self.stickiness, temperature, seed=trial_seed(seed, "treesynth", "llm")
        )

    def partition(self, seed: int) -> tree.Node:
        rng = np.random.default_rng(trial_seed(seed, "treesynth", "tree"))
        return tree.build_tree(self.generator(seed), rng, self.max_depth, self.pivots)

    def training_combinations(self, seed: int) -> tuple[np.ndarray, dict]:
        """The method's training combinations and what it took to make them."""
        gen = self.generator(seed)
        base_rng = np.random.default_rng(trial_seed(seed, "treesynth", "biased", self.n_samples))
        rng = np.random.default_rng(trial_seed(seed, "treesynth", self.method, self.n_samples))
        if self.method == "biased":
            return gen.sample(self.n_samples, base_rng), {}
        if self.method == "temperature":
            return self.generator(seed, self.temperature).sample(self.n_samples, rng), {}
        partition = self.partition(seed)
        info = {"leaves": len(tree.leaves(partition)), "split_attributes": _splits(partition)}
        if self.method == "treesynth":
            return tree.synthesize(partition, gen, self.n_samples, rng), info
        balanced, generated = tree.rebalance(
            gen.sample(self.n_samples, base_rng), partition, gen, self.n_samples, rng
        )
        return balanced, {**info, "generated_share": generated / self.n_samples}

    def test_combinations(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(trial_seed(seed, "treesynth", "test"))
        space = wp.all_combinations()
        return space[rng.integers(len(space), size=self.test_size)]

    @staticmethod
    def texts(combos: np.ndarray, seed: int, key: str) -> list[str]:
        rng = np.random.default_rng(trial_seed(seed, "treesynth", "text", key))
        return [wp.realise(c, rng) for c in combos]

    # --- the run ----------------------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        from subspacelab.lit.fit import world_size

        combos, info = self.training_combinations(seed)
        texts = self.texts(combos, seed, f"{self.method}-{self.n_samples}")
        test = self.test_combinations(seed)
        test_texts = self.texts(test, seed, "test")
        n_space = len(wp.all_combinations())
        pick = np.random.default_rng(trial_seed(seed, "treesynth", "diversity")).permutation(len(texts))
        sample = [texts[i] for i in pick[: self.diversity_sample]]
        label_cells = int(np.prod([wp.SIZES[i] for i in (0, 1, 2)]))
        accuracy, train_accuracy = self._train_and_test(
            combos, texts, test, test_texts, seed, out_dir, trainer
        )
        ranks = self.generator(seed).rank
        tail = ranks[wp.combination_index(test)] >= np.median(ranks)  # the generator's unpopular half
        return {
            "method": self.method,
            "n_samples": self.n_samples,
            "coverage": diversity.coverage(combos, n_space),
            "label_domain_coverage": diversity.coverage(combos, label_cells, columns=[0, 1, 2]),
            "distinct_share": len(np.unique(wp.combination_index(combos))) / len(combos),
            "mean_pairwise_cosine": diversity.mean_pairwise_cosine(sample),
            "world_size": world_size(),
            "train_accuracy": train_accuracy,
            "test_accuracy": float(accuracy.mean()),
            "tail_accuracy": float(accuracy[tail].mean()),
            "head_accuracy": float(accuracy[~tail].mean()),
            **info,
        }

    def _train_and_test(
        self, combos, texts, test, test_texts, seed, out_dir, trainer
    ) -> tuple[np.ndarray, float]:
        """Per-test-problem correctness (bool array) of the classifier trained on ``texts``, and its training
        accuracy."""
        from subspacelab.lit.classifier import fit_classifier
        from subspacelab.models.text import BagOfNgramsClassifier, Vocabulary

        vocab = Vocabulary(texts)
        x = vocab.encode(texts)
        y = torch.as_tensor(wp.label(combos), dtype=torch.long)
        torch.manual_seed(trial_seed(seed, "treesynth", "init"))
        net = BagOfNgramsClassifier(len(vocab), wp.N_CLASSES, self.hidden)
        module = fit_classifier(
            net,
            x,
            y,
            wp.N_CLASSES,
            seed=seed,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            trainer=trainer,
            out_dir=out_dir,
        )
        xt = vocab.encode(test_texts)
        with torch.no_grad():
            pred = torch.cat([module(chunk).argmax(1) for chunk in xt.split(1000)])
            fitted = torch.cat([module(chunk).argmax(1) for chunk in x.split(1000)])
        train_accuracy = float((fitted == y).float().mean())
        return (pred.numpy() == wp.label(test)).astype(bool), train_accuracy


def _splits(partition: tree.Node) -> dict[str, int]:
    """How many nodes split on each attribute."""
    out: dict[str, int] = {}
    stack = [partition]
    while stack:
        node = stack.pop()
        if node.attribute is not None:
            out[wp.NAMES[node.attribute]] = out.get(wp.NAMES[node.attribute], 0) + 1
            stack.extend(node.children)
    return out
