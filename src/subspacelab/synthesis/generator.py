"""A biased generator of combinations, standing in for an LLM asked for "a problem" (optionally with some
attributes fixed): it prefers some values of every attribute (a Zipf law over each attribute's values, in a seeded
order, independently across attributes), so rare values and above all their combinations are rarely written, and
it repeats the last combination with probability ``stickiness`` (mode collapse). ``temperature`` divides the Zipf
exponent (temperature sampling flattens the preferences but keeps their order)."""

from __future__ import annotations

import numpy as np

from subspacelab.synthesis.word_problems import SIZES, all_combinations

Path = tuple[tuple[int, int], ...]  # (attribute index, value index) pairs fixed so far


class BiasedGenerator:
    def __init__(self, zipf_a: float = 1.2, stickiness: float = 0.3, temperature: float = 1.0, seed: int = 0):
        self.combos = all_combinations()
        rng = np.random.default_rng(seed)
        self.log_weight = np.zeros(len(self.combos))
        for attr, size in enumerate(SIZES):
            value_rank = rng.permutation(size)  # value_rank[v] = 0: the favourite value of this attribute
            self.log_weight -= (zipf_a / temperature) * np.log1p(value_rank[self.combos[:, attr]])
        self.rank = np.empty(len(self.combos), dtype=np.int64)  # 0 = the most likely combination
        self.rank[np.argsort(-self.log_weight, kind="stable")] = np.arange(len(self.combos))
        self.stickiness = float(stickiness)

    def probabilities(self, path: Path = ()) -> np.ndarray:
        """P(combination) given the attributes fixed by ``path`` (zero off the path)."""
        ok = np.ones(len(self.combos), bool)
        for attr, value in path:
            ok &= self.combos[:, attr] == value
        w = np.where(ok, np.exp(self.log_weight - self.log_weight[ok].max()), 0.0)
        return w / w.sum()

    def sample(self, n: int, rng: np.random.Generator, path: Path = ()) -> np.ndarray:
        """``n`` combinations (n, attributes): each repeats the previous one with probability ``stickiness``,
        else is a fresh draw from the prior restricted to ``path``."""
        p = self.probabilities(path)
        fresh = rng.choice(len(p), size=n, p=p)
        repeat = rng.random(n) < self.stickiness
        idx = fresh.copy()
        for i in range(1, n):
            if repeat[i]:
                idx[i] = idx[i - 1]
        return self.combos[idx]
