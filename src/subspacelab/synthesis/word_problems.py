"""A task space of templated arithmetic word problems, described by six attributes.

A problem is one value per attribute (a *combination*); its text is realised from per-domain templates (each
domain words its four operations differently) with random names and numbers, and its label is the operation chain
(first operation x second operation, 20 classes). Every combination can be written, so the space is known exactly:
coverage and a uniform test set are well defined.
"""

from __future__ import annotations

import itertools

import numpy as np

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "domain": ("shop", "farm", "school", "kitchen", "garden", "library"),
    "first_op": ("add", "subtract", "multiply", "divide"),
    "second_op": ("none", "add", "subtract", "multiply", "divide"),
    "magnitude": ("1-digit", "2-digit", "3-digit"),
    "question": ("how_many", "at_the_end", "find"),
    "distractor": ("no", "yes"),
}
NAMES = tuple(ATTRIBUTES)
SIZES = tuple(len(v) for v in ATTRIBUTES.values())
N_CLASSES = len(ATTRIBUTES["first_op"]) * len(ATTRIBUTES["second_op"])

ITEM = {
    "shop": "apples",
    "farm": "eggs",
    "school": "pencils",
    "kitchen": "cookies",
    "garden": "seeds",
    "library": "books",
}
OPS = {  # how each domain words add / subtract / multiply / divide
    "shop": (
        "buys {n} more",
        "sells {n} of them",
        "orders {n} times as many",
        "splits them into {n} bags and keeps one bag",
    ),
    "farm": (
        "collects {n} more",
        "cracks {n} of them",
        "gathers {n} times that amount",
        "packs them into {n} crates and keeps one crate",
    ),
    "school": (
        "receives {n} more",
        "loses {n} of them",
        "ends up with {n} times as many",
        "shares them among {n} classmates and keeps one share",
    ),
    "kitchen": (
        "bakes {n} more",
        "eats {n} of them",
        "makes {n} times the batch",
        "divides them onto {n} plates and keeps one plate",
    ),
    "garden": (
        "plants {n} more",
        "drops {n} of them",
        "multiplies them {n} fold",
        "spreads them over {n} beds and counts one bed",
    ),
    "library": (
        "borrows {n} more",
        "returns {n} of them",
        "copies the set {n} times",
        "sorts them onto {n} shelves and takes one shelf",
    ),
}
QUESTION = {
    "how_many": "How many {item} does {name} have now?",
    "at_the_end": "What is the number of {item} {name} has at the end?",
    "find": "Find the final count of {item} for {name}.",
}
PEOPLE = ("Ava", "Ben", "Chloe", "Dev", "Emma", "Finn", "Grace", "Hugo", "Iris", "Jon", "Kira", "Liam")
OTHER_ITEMS = ("marbles", "stamps", "coins", "shells", "cards")


def all_combinations() -> np.ndarray:
    """Every combination as value indices, (prod(SIZES), 6), in lexicographic order."""
    return np.array(list(itertools.product(*(range(s) for s in SIZES))), dtype=np.int64)


def combination_index(combos: np.ndarray) -> np.ndarray:
    """The row of each combination in :func:`all_combinations` (mixed-radix number)."""
    return np.ravel_multi_index(np.asarray(combos).T, SIZES)


def label(combos: np.ndarray) -> np.ndarray:
    """The operation chain's class: first_op x 5 + second_op."""
    combos = np.asarray(combos)
    return combos[..., 1] * len(ATTRIBUTES["second_op"]) + combos[..., 2]


def realise(combo, rng: np.random.Generator) -> str:
    """One problem's text for a combination (value indices), with random names and numbers."""
    value = {a: ATTRIBUTES[a][int(i)] for a, i in zip(NAMES, combo, strict=True)}
    digits = int(value["magnitude"][0])

    def number() -> int:
        return int(rng.integers(10 ** (digits - 1) if digits > 1 else 2, 10**digits))

    name, other = rng.choice(PEOPLE, size=2, replace=False)
    item, phrases = ITEM[value["domain"]], OPS[value["domain"]]
    ops = ATTRIBUTES["first_op"]
    sentences = [f"{name} has {number()} {item}."]
    if value["distractor"] == "yes":
        sentences.append(f"{other} has {number()} {rng.choice(OTHER_ITEMS)}.")
    sentences.append(f"{name} {phrases[ops.index(value['first_op'])].format(n=number())}.")
    if value["second_op"] != "none":
        sentences.append(
            f"Afterwards that person {phrases[ops.index(value['second_op'])].format(n=number())}."
        )
    sentences.append(QUESTION[value["question"]].format(item=item, name=name))
    return " ".join(sentences)
