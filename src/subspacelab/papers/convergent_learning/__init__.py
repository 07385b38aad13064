"""Convergent Learning (Li, Yosinski, Clune, Lipson, Hopcroft; ICLR 2016): do nets trained from different
seeds learn the same units? The nets are ordinary training runs of this paper (``method=full``); the
analysis (evaluate stage) compares their layers pair by pair (one-to-one matching, co-clustered groups and
their principal angles, a sparse mapping), each against a trained-vs-untrained control."""

from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="convergent_learning",
    title="Convergent Learning: Do different neural networks learn the same representations?",
    analysis=True,
)
