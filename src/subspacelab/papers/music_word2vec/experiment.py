"""What one music_word2vec run executes: skip-gram word2vec on beat slices of the Bach chorales bundled with
music21 (each chorale in all 12 keys), then three analyses of the learned space.

1. Chords: cosine distance between the vectors of the 12 major triads against their circle-of-fifths
   distance (Spearman rho, permutation p-value), and the tonic's distance to its functional neighbours
   (V, IV, vi) against its less related ones (bIII, bII, v), the official code's hand-picked check.
   Control beside it: the same statistics on the triads' plain pitch-class vectors (no learning).
2. Keys: for each of ``key_pieces`` chorales, the mean slice vector of each of its 12 transpositions; the
   cosine distances between versions (averaged over chorales) against the fifths distance of their keys.
3. Substitution: for sampled slices of the chorales, the share of the n nearest slices (n in
   ``neighbourhoods``) that lie in the chorale's key (Krumhansl-Kessler estimate), against a substitute
   drawn at random from the vocabulary (uniform, and by frequency).

``order`` picks the corpus the model is trained on: the chorales as written, or a control with the slice
order shuffled within each chorale (key membership kept, local context destroyed) or across the corpus.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from subspacelab.analysis import skipgram as S
from subspacelab.analysis import tonal_geometry as T
from subspacelab.configurable import require
from subspacelab.data import music as M
from subspacelab.experiments.harness import trial_seed

ORDERS = ("original", "shuffled_within_piece", "shuffled_global")
NEAR = (7, 5, 9)  # V, IV, vi relative to the tonic (vi: the minor triad on 9)
FAR = (3, 1, 7)  # bIII, bII (major triads), v (the minor triad on 7)


@dataclass
class Experiment:
    """One trained skip-gram model on the chorale slices and the three analyses of its space.

    Provenance of each default: [code f] = the official code (ChinghuaChuan/musicWord2Vec, file f), whose
    paper text we could not read beyond the abstract; [notes] = the project's notes on the paper;
    [ours] = our choice."""

    TAG: ClassVar[str] = "${.order}"  # the run's name (a Hydra interpolation)

    # --- corpus
    beat: float = 1.0  # slice length in quarter notes: one beat [code midi2slice.m, beat = 1]
    max_pieces: int = 0  # chorales used, in corpus order; 0 = all of them [ours]
    transpose_all_keys: bool = True  # train on every chorale in all 12 keys [notes]
    order: str = "original"  # original | shuffled_within_piece | shuffled_global (controls) [ours]
    # --- skip-gram (gensim Word2Vec, sg=1, negative sampling, one worker)
    vocab_size: int = 2000  # most frequent slices kept, the others become UNK [code word2vec_music_pc.py]
    dim: int = 256  # embedding size [code word2vec_music_pc.py, embedding_size]
    window: int = 4  # context slices on each side [code word2vec_music_pc.py, skip_window]
    negative: int = 5  # negative samples per pair [ours; the code: NCE loss with 64 sampled classes]
    epochs: int = 5  # passes over the corpus [ours; the code: 1,000,001 batches of 128 pairs]
    alpha: float = 0.025  # initial learning rate, linearly decayed [ours; gensim's default]
    sample: float = 0.0  # down-sampling of frequent slices; 0 = none [code word2vec_music_pc.py]
    # --- analyses
    permutations: int = 999  # permutations for each Mantel p-value [ours]
    key_pieces: int = 50  # chorales whose 12 transpositions are compared [ours]
    substitution_targets: int = 500  # slices sampled from the chorales as substitution targets [ours]
    neighbourhoods: list[int] = field(default_factory=lambda: [1, 5, 10, 25, 50, 100])  # n [notes]

    def __post_init__(self):
        self.neighbourhoods = sorted({int(n) for n in self.neighbourhoods})
        require(self.beat > 0, "experiment.beat", f"must be > 0 quarter notes, got {self.beat}")
        require(
            self.max_pieces >= 0, "experiment.max_pieces", f"must be >= 0 (0: all), got {self.max_pieces}"
        )
        require(self.order in ORDERS, "experiment.order", f"{self.order!r} is not one of {', '.join(ORDERS)}")
        require(self.vocab_size >= 30, "experiment.vocab_size", f"must be >= 30, got {self.vocab_size}")
        for name in (
            "dim",
            "window",
            "negative",
            "epochs",
            "permutations",
            "key_pieces",
            "substitution_targets",
        ):
            require(
                int(getattr(self, name)) >= 1,
                f"experiment.{name}",
                f"must be >= 1, got {getattr(self, name)}",
            )
        require(self.alpha > 0, "experiment.alpha", f"must be > 0, got {self.alpha}")
        require(0 <= self.sample < 1, "experiment.sample", f"must be in [0, 1), got {self.sample}")
        require(
            bool(self.neighbourhoods) and self.neighbourhoods[0] >= 1,
            "experiment.neighbourhoods",
            f"need at least one size, each >= 1, got {self.neighbourhoods}",
        )

    # -- corpus ----------------------------------------------------------------------------------

    def corpus(self, seed: int) -> tuple[list[M.Piece], list[list[str]]]:
        """The chorales and the token sentences trained on (one per chorale and transposition)."""
        pieces = M.load_chorales(self.beat, limit=self.max_pieces or None)
        shifts = range(12) if self.transpose_all_keys else (0,)
        sentences = [[str(m) for m in M.transpose_sequence(p.slices, k)] for p in pieces for k in shifts]
        rng = np.random.default_rng(trial_seed(seed, "mw2v-order", self.order))
        if self.order == "shuffled_within_piece":
            sentences = [list(rng.permutation(s)) for s in sentences]
        elif self.order == "shuffled_global":
            flat = rng.permutation([t for s in sentences for t in s])
            cuts = np.cumsum([len(s) for s in sentences])[:-1]
            sentences = [list(part) for part in np.split(flat, cuts)]
        return pieces, S.cap_vocabulary(sentences, self.vocab_size)

    # -- analyses --------------------------------------------------------------------------------

    def _chords(self, emb: S.Embedding, seed: int) -> dict:
        idx = emb.index()
        majors = [str(T.major_triad(r)) for r in range(12)]
        out: dict = {}
        if not all(m in idx for m in majors):
            return {"triads_available": False}
        unit = emb.unit()
        x = unit[[idx[m] for m in majors]]
        dist = T.cosine_distance_matrix(x)
        fifths = T.fifths_distance_matrix(range(12))
        mt = T.mantel(dist, fifths, self.permutations, trial_seed(seed, "mw2v-triads"))
        content = T.cosine_distance_matrix(np.array([T.pc_vector(T.major_triad(r)) for r in range(12)]))
        ct = T.mantel(content, fifths, self.permutations, trial_seed(seed, "mw2v-content"))
        by_step = {
            int(s): float(T.upper(dist)[T.upper(fifths) == s].mean())
            for s in range(1, 7)
            if (T.upper(fifths) == s).any()
        }
        out.update(
            triads_available=True,
            triad_rho=mt.rho,
            triad_p=mt.p,
            triad_pairs=mt.pairs,
            triad_distance_by_fifths=by_step,
            content_triad_rho=ct.rho,
            content_triad_p=ct.p,
        )
        # I vs (V, IV, vi) and (bIII, bII, v), in every key, where all six chords are in the vocabulary
        near, far, c_near, c_far = [], [], [], []
        for tonic in range(12):
            chords = {"I": T.major_triad(tonic)}
            wanted = [
                T.major_triad(tonic + NEAR[0]),
                T.major_triad(tonic + NEAR[1]),
                T.minor_triad(tonic + NEAR[2]),
            ]
            others = [
                T.major_triad(tonic + FAR[0]),
                T.major_triad(tonic + FAR[1]),
                T.minor_triad(tonic + FAR[2]),
            ]
            if not all(str(m) in idx for m in [chords["I"], *wanted, *others]):
                continue
            i = unit[idx[str(chords["I"])]]

            def cos_d(m, i=i):
                return 1.0 - float(i @ unit[idx[str(m)]])

            def pc_d(m, tonic=tonic):
                a, b = T.pc_vector(T.major_triad(tonic)), T.pc_vector(m)
                return 1.0 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

            near.append(np.mean([cos_d(m) for m in wanted]))
            far.append(np.mean([cos_d(m) for m in others]))
            c_near.append(np.mean([pc_d(m) for m in wanted]))
            c_far.append(np.mean([pc_d(m) for m in others]))
        if near:
            out.update(
                functional_keys=len(near),
                functional_near=float(np.mean(near)),
                functional_far=float(np.mean(far)),
                functional_gap=float(np.mean(far) - np.mean(near)),
                content_functional_gap=float(np.mean(c_far) - np.mean(c_near)),
            )
        return out

    def _keys(self, emb: S.Embedding, pieces: list[M.Piece], seed: int) -> dict:
        idx, unit = emb.index(), emb.unit()
        mats = []
        for p in pieces[: self.key_pieces]:
            vecs = []
            for k in range(12):
                rows = [idx[str(m)] for m in M.transpose_sequence(p.slices, k) if str(m) in idx]
                vecs.append(unit[rows].mean(axis=0) if rows else np.zeros(unit.shape[1]))
            mats.append(T.cosine_distance_matrix(np.array(vecs)))
        if not mats:
            return {"key_pieces_used": 0}
        mean = np.mean(mats, axis=0)
        fifths = T.fifths_distance_matrix(range(12))
        mt = T.mantel(mean, fifths, self.permutations, trial_seed(seed, "mw2v-keys"))
        per_piece = [T.mantel(m, fifths, 0).rho for m in mats]
        by_step = {int(s): float(T.upper(mean)[T.upper(fifths) == s].mean()) for s in range(1, 7)}
        return {
            "key_pieces_used": len(mats),
            "key_rho": mt.rho,
            "key_p": mt.p,
            "key_rho_per_piece_mean": float(np.nanmean(per_piece)),
            "key_distance_by_fifths": by_step,
            "key_distance_matrix": mean.round(5).tolist(),
        }

    def _substitution(self, emb: S.Embedding, pieces: list[M.Piece], seed: int) -> dict:
        idx, unit = emb.index(), emb.unit()
        masks = [int(w) if w != S.UNK else 0 for w in emb.words]
        allowed = np.array([w != S.UNK and int(w) != 0 for w in emb.words])
        pool = []
        for p in pieces:
            try:
                scale = T.estimate_key(p.pc_durations).scale()
            except ValueError:
                continue
            pool += [(idx[str(m)], scale) for m in p.slices if m != 0 and str(m) in idx]
        rng = np.random.default_rng(trial_seed(seed, "mw2v-subst"))
        take = rng.choice(len(pool), size=min(self.substitution_targets, len(pool)), replace=False)
        targets = [pool[i] for i in sorted(take)]
        res = T.substitution_rates(unit, masks, targets, self.neighbourhoods, emb.counts, allowed)
        return {"substitution": res, "substitution_vocab": int(allowed.sum())}

    # -- the run ---------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        seed = int(seed)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        pieces, sentences = self.corpus(seed)
        t_corpus = time.perf_counter() - t0
        emb = S.train_skipgram(
            sentences, self.dim, self.window, self.negative, self.epochs, self.alpha, self.sample, seed
        )
        t_train = time.perf_counter() - t0 - t_corpus
        tokens = sum(len(s) for s in sentences)
        unk = sum(t == S.UNK for s in sentences for t in s)
        out = {
            "order": self.order,
            "pieces": len(pieces),
            "tokens": tokens,
            "vocabulary": len(emb.words),
            "unk_fraction": unk / max(tokens, 1),
            **self._chords(emb, seed),
            **self._keys(emb, pieces, seed),
            **self._substitution(emb, pieces, seed),
        }
        # control: the same analyses on untrained (Gaussian) vectors of the same vocabulary
        g = np.random.default_rng(trial_seed(seed, "mw2v-untrained"))
        rand = S.Embedding(emb.words, g.standard_normal(emb.vectors.shape), emb.counts)
        chords, keys = self._chords(rand, seed), self._keys(rand, pieces, seed)
        for k in ("triad_rho", "triad_p", "functional_gap"):
            out[f"untrained_{k}"] = chords.get(k)
        for k in ("key_rho", "key_p", "key_distance_by_fifths"):
            out[f"untrained_{k}"] = keys.get(k)
        out.update(
            seconds_corpus=t_corpus,
            seconds_train=t_train,
            seconds=time.perf_counter() - t0,
        )
        return out
