"""TreeSynth's spatial partitioning tree over an attribute space (Wang et al., arXiv 2503.17195; code
cpa2001/TreeSynth), with the LLM steps replaced by their attribute-space counterparts.

At a node (the attribute values fixed on its path): draw ``pivots`` samples from the generator conditioned on the
path; choose the attribute that best separates them (the highest entropy of the pivots' values among the unused
attributes; the LLM's "most significant dimension"); expand it to all of its values (the LLM's complement step,
here exact: the values are mutually exclusive and exhaustive), one child per value; stop at ``max_depth``. The
leaves are atomic subspaces that partition the space. Data are allocated uniformly over the leaves and
generated inside each leaf; an existing dataset is rebalanced by routing each sample to its leaf, subsampling
leaves above the per-leaf target and topping up the others by generating inside them (``balance_mental.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from subspacelab.synthesis.generator import BiasedGenerator, Path
from subspacelab.synthesis.word_problems import SIZES


@dataclass
class Node:
    path: Path
    attribute: int | None = None  # the attribute split here (None: a leaf)
    children: list[Node] = field(default_factory=list)


def entropy(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def build_tree(
    generator: BiasedGenerator, rng: np.random.Generator, max_depth: int = 4, pivots: int = 10
) -> Node:
    """The partitioning tree, built breadth-first as the authors' code does (pivots drawn level by level)."""
    root = Node(path=())
    level = [root]
    for _ in range(max_depth):
        nxt = []
        for node in level:
            used = {a for a, _ in node.path}
            free = [a for a in range(len(SIZES)) if a not in used]
            if not free:
                continue
            sample = generator.sample(pivots, rng, node.path)
            scores = [entropy(sample[:, a]) for a in free]
            node.attribute = free[int(np.argmax(scores))]  # ties: the first attribute in the space's order
            node.children = [
                Node(path=node.path + ((node.attribute, v),)) for v in range(SIZES[node.attribute])
            ]
            nxt.extend(node.children)
        level = nxt
    return root


def leaves(tree: Node) -> list[Node]:
    if not tree.children:
        return [tree]
    return [leaf for child in tree.children for leaf in leaves(child)]


def leaf_index(tree: Node, combos: np.ndarray) -> np.ndarray:
    """The leaf (in :func:`leaves` order) each combination falls in: route by the split attributes."""
    order = {id(leaf): i for i, leaf in enumerate(leaves(tree))}
    out = np.empty(len(combos), dtype=np.int64)
    for i, combo in enumerate(np.asarray(combos)):
        node = tree
        while node.children:
            node = node.children[int(combo[node.attribute])]
        out[i] = order[id(node)]
    return out


def allocate(n: int, n_leaves: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples spread uniformly over the leaves; the remainder goes to randomly chosen leaves."""
    counts = np.full(n_leaves, n // n_leaves, dtype=np.int64)
    counts[rng.choice(n_leaves, size=n % n_leaves, replace=False)] += 1
    return counts


def synthesize(tree: Node, generator: BiasedGenerator, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` combinations: each leaf's allocation generated inside it."""
    parts = leaves(tree)
    counts = allocate(n, len(parts), rng)
    out = [generator.sample(int(k), rng, leaf.path) for leaf, k in zip(parts, counts, strict=True) if k]
    return np.concatenate(out)


def rebalance(
    combos: np.ndarray, tree: Node, generator: BiasedGenerator, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """An existing dataset redistributed over the leaves with ``n`` samples in all: leaves above their target are
    subsampled, the others keep everything and are topped up by generation inside them. Returns the dataset and
    how many samples were generated."""
    parts = leaves(tree)
    where = leaf_index(tree, combos)
    target = allocate(n, len(parts), rng)
    out, generated = [], 0
    for i, leaf in enumerate(parts):
        have = np.flatnonzero(where == i)
        if len(have) >= target[i]:
            out.append(combos[rng.choice(have, size=target[i], replace=False)])
        else:
            out.append(combos[have])
            extra = int(target[i] - len(have))
            out.append(generator.sample(extra, rng, leaf.path))
            generated += extra
    return np.concatenate([o for o in out if len(o)]), generated
