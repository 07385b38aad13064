"""From Context to Concept: Exploring Semantic Relationships in Music with Word2Vec (Chuan, Agres, Herremans;
arXiv 1811.12408). Skip-gram word2vec on one-beat slices of music (each slice the set of pitch classes sounding
in it); this package trains it with gensim on the Bach chorales bundled with music21 and tests the paper's
three findings in the learned space: a circle of fifths among chord vectors, key relations between pieces, and
substitution by proximity that keeps the key, each beside untrained, pitch-content and shuffled-order controls."""

from subspacelab.papers.music_word2vec.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="music_word2vec",
    title="From Context to Concept: Exploring Semantic Relationships in Music with Word2Vec",
)

__all__ = ["PAPER", "Experiment"]
