"""music_word2vec: skip-gram on a planted structure, pitch-class coding against the official code's values,
circle-of-fifths distances, the key estimate against music21's, the Mantel test, the substitution measure on
hand-made embeddings, and the derive rules on hand-made rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from subspacelab.analysis import skipgram as S
from subspacelab.analysis import tonal_geometry as T
from subspacelab.config import ConfigError
from subspacelab.data import music as M
from subspacelab.papers.music_word2vec.claims import RULES
from subspacelab.papers.music_word2vec.experiment import Experiment

# -- skip-gram on a planted structure ---------------------------------------------------------------


def ring_walk_corpus(
    n_tokens: int = 12, sentences: int = 300, length: int = 60, seed: int = 0
) -> list[list[str]]:
    """Random walks on a ring of ``n_tokens`` tokens (each step -1 or +1): tokens co-occur in a window in
    proportion to how close they are on the ring, so ring distance is the planted geometry."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(sentences):
        pos, walk = int(rng.integers(n_tokens)), []
        for _ in range(length):
            walk.append(f"t{pos}")
            pos = (pos + int(rng.choice((-1, 1)))) % n_tokens
        out.append(walk)
    return out


@pytest.fixture(scope="module")
def ring_embedding():
    return S.train_skipgram(ring_walk_corpus(), dim=16, window=2, negative=5, epochs=5, seed=3)


def test_skipgram_recovers_the_planted_ring(ring_embedding):
    emb = ring_embedding
    idx = emb.index()
    order = [idx[f"t{i}"] for i in range(12)]
    dist = T.cosine_distance_matrix(emb.vectors[order])
    ring = np.array([[min(abs(i - j), 12 - abs(i - j)) for j in range(12)] for i in range(12)], float)
    rho = stats.spearmanr(T.upper(dist), T.upper(ring)).statistic
    assert rho > 0.8
    unit = emb.unit()[order]
    adjacent = sum(min(abs(i - j), 12 - abs(i - j)) == 1 for i in range(12) for j in T.neighbours(unit, i, 1))
    assert adjacent >= 11  # each token's nearest neighbour is one of its two ring neighbours


def test_skipgram_is_deterministic_for_a_seed(ring_embedding):
    again = S.train_skipgram(ring_walk_corpus(), dim=16, window=2, negative=5, epochs=5, seed=3)
    other = S.train_skipgram(ring_walk_corpus(), dim=16, window=2, negative=5, epochs=5, seed=4)
    assert again.words == ring_embedding.words
    np.testing.assert_array_equal(again.vectors, ring_embedding.vectors)
    assert not np.allclose(other.vectors, ring_embedding.vectors)


def test_vocabulary_cap_maps_rare_tokens_to_unk():
    capped = S.cap_vocabulary([["a", "a", "a", "b", "b", "c"], ["d", "a"]], size=3)
    assert capped == [["a", "a", "a", "b", "b", S.UNK], [S.UNK, "a"]]
    assert len({t for s in capped for t in s}) == 3


# -- pitch-class sets ---------------------------------------------------------------------------------


def test_masks_match_the_official_codes_coding():
    # word2vec_music_pc.py: 145 = C-E-G, 545 = F-A-C, 2180 = G-B-D
    assert M.encode([0, 4, 7]) == 145 == T.major_triad(0)
    assert M.encode([5, 9, 0]) == 545 == T.major_triad(5)
    assert M.encode([7, 11, 2]) == 2180 == T.major_triad(7)
    assert M.decode(145) == (0, 4, 7)
    assert T.minor_triad(9) == M.encode([9, 0, 4])


@pytest.mark.parametrize("mask", [0, 1, 145, 2180, 0b101101010101, M.FULL])
def test_transposition_invariants(mask):
    assert M.transpose(mask, 12) == mask
    assert M.transpose(M.transpose(mask, 5), 7) == mask
    assert M.transpose(mask, -3) == M.transpose(mask, 9)
    assert bin(M.transpose(mask, 4)).count("1") == bin(mask).count("1")
    assert M.decode(M.transpose(mask, 2)) == tuple(sorted((p + 2) % 12 for p in M.decode(mask)))


def test_transposing_a_triad_moves_its_root():
    for r in range(12):
        for k in range(12):
            assert M.transpose(T.major_triad(r), k) == T.major_triad(r + k)


def test_beat_slices_of_hand_made_notes():
    # C held two beats, E from 0.5 to 1.0, G on beat 3, nothing on beat 4, D at 4.0-4.5
    notes = [(0.0, 2.0, 60), (0.5, 0.5, 64), (2.0, 1.0, 67), (4.0, 0.5, 62)]
    assert M.beat_slices(notes) == [M.encode([0, 4]), M.encode([0]), M.encode([7]), 0, M.encode([2])]
    assert M.beat_slices(notes, beat=2.0) == [M.encode([0, 4]), M.encode([7]), M.encode([2])]
    assert M.beat_slices([]) == []


def test_bundled_chorales_parse_offline(tmp_path):
    pieces = M.load_chorales(limit=2, cache_dir=tmp_path)
    assert len(pieces) == 2
    for p in pieces:
        assert len(p.slices) > 10 and all(0 <= s <= M.FULL for s in p.slices)
        assert sum(p.pc_durations) > 0
    assert not list(tmp_path.iterdir())  # a limited load is not cached


# -- tonal geometry -----------------------------------------------------------------------------------


def test_fifths_distance_closed_form():
    # C to C, G, D, A, E, B, F#: 0..6 steps; F and Bb are 1 and 2 steps the other way
    assert [T.fifths_distance(0, p) for p in (0, 7, 2, 9, 4, 11, 6)] == [0, 1, 2, 3, 4, 5, 6]
    assert T.fifths_distance(0, 5) == 1 and T.fifths_distance(0, 10) == 2
    m = T.fifths_distance_matrix(range(12))
    np.testing.assert_array_equal(m, m.T)
    for a in range(12):
        for b in range(12):
            assert T.fifths_distance(a + 3, b + 3) == m[a, b]  # transposition invariant
            assert T.fifths_distance(a, b) == T.fifths_distance(0, (b - a) % 12)


def test_key_estimate_closed_form_and_against_music21():
    assert T.estimate_key(np.roll(T.KK_MINOR, 2)) == T.Key(2, "minor", pytest.approx(1.0))
    c_major_scale = T.pc_vector(T.scale_mask(0, "major"))
    assert (T.estimate_key(c_major_scale).tonic, T.estimate_key(c_major_scale).mode) == (0, "major")
    with pytest.raises(ValueError, match="12 finite"):
        T.estimate_key(np.ones(12))
    from music21 import analysis, corpus

    for path in M.chorale_paths()[:3]:
        ref = analysis.discrete.KrumhanslKessler(corpus.parse(path)).getSolution(corpus.parse(path))
        ours = T.estimate_key(M.parse_piece(path).pc_durations)
        assert (ours.tonic, ours.mode) == (ref.tonic.pitchClass, ref.mode)


def test_mantel_on_identical_and_unrelated_matrices():
    x = np.random.default_rng(0).standard_normal((10, 3))
    d = T.cosine_distance_matrix(x)
    same = T.mantel(d, d, permutations=199, seed=1)
    assert same.rho == pytest.approx(1.0) and same.p <= 0.02 and same.pairs == 45
    y = T.cosine_distance_matrix(np.random.default_rng(5).standard_normal((10, 3)))
    ps = [
        T.mantel(d, T.cosine_distance_matrix(np.random.default_rng(s).standard_normal((10, 3))), 99, s).p
        for s in range(20)
    ]
    assert np.mean(ps) > 0.2  # unrelated matrices: p is not small on average
    assert 1 / 100 <= T.mantel(d, y, 99, 0).p <= 1.0
    with pytest.raises(ValueError):
        T.mantel(d, d[:5, :5])


def test_cosine_distance_matrix_properties():
    x = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    d = T.cosine_distance_matrix(x)
    np.testing.assert_allclose(d, [[0, 1, 2], [1, 0, 1], [2, 1, 0]], atol=1e-12)


# -- substitution on hand-made embeddings ----------------------------------------------------------


def test_substitution_rates_on_a_hand_made_space():
    c_scale = T.scale_mask(0, "major")
    # vocabulary: C, F, G, Am (all in C major), then F#, Db, Ab major (out of C major)
    masks = [
        T.major_triad(0),
        T.major_triad(5),
        T.major_triad(7),
        T.minor_triad(9),
        T.major_triad(6),
        T.major_triad(1),
        T.major_triad(8),
    ]
    # C's neighbours by construction: F (0.99), G (0.9), F# (0.8), Am (0.5), Db (0.1), Ab (0.0)
    sims = [1.0, 0.99, 0.9, 0.5, 0.8, 0.1, 0.0]
    unit = np.array([[s, np.sqrt(1 - s * s)] for s in sims])
    res = T.substitution_rates(unit, masks, [(0, c_scale)], ns=[1, 2, 3, 6], counts=[1, 1, 1, 1, 1, 1, 4])
    assert res["uniform"] == pytest.approx([1.0, 1.0, 2 / 3, 3 / 6])
    assert res["random"] == pytest.approx(3 / 6)  # F, G, Am of the 6 others
    assert res["random_freq"] == pytest.approx(3 / 9)  # Ab weighs 4
    assert res["matched"][0] == 1.0
    # the allowed mask removes rows from both the neighbourhood and the random control
    res2 = T.substitution_rates(
        unit, masks, [(0, c_scale)], ns=[1], allowed=np.array([True, False] + [True] * 5)
    )
    assert res2["uniform"] == [1.0] and res2["random"] == pytest.approx(2 / 5)


def test_matched_pick_prefers_the_neighbourhoods_pitch_content():
    masks = [T.major_triad(0), T.major_triad(7), M.encode([0, 7]), T.major_triad(6)]
    # neighbourhood {C, C5, F#}: C and the fifth C-G share its common pitch classes
    pick = T.best_match_in_neighbourhood(masks, np.array([3, 2, 0]))
    assert pick in (0, 2)


def test_in_scale():
    assert T.in_scale(T.major_triad(7), T.scale_mask(0, "major"))
    assert not T.in_scale(T.major_triad(2), T.scale_mask(0, "major"))  # F# is not in C major
    assert T.in_scale(T.major_triad(7), T.scale_mask(0, "minor"))  # raised 7th: G-B-D in C minor
    assert not T.in_scale(0, T.scale_mask(0, "major"))


# -- the experiment's config ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"order": "backwards"}, "experiment.order"),
        ({"dim": 0}, "experiment.dim"),
        ({"neighbourhoods": []}, "experiment.neighbourhoods"),
    ],
)
def test_bad_settings_are_one_line_errors(kw, key):
    with pytest.raises(ConfigError, match=key) as err:
        Experiment(**kw)
    assert "\n" not in str(err.value)


def test_a_tiny_run_reports_every_analysis(tmp_path):
    out = Experiment(
        max_pieces=6,
        dim=8,
        epochs=1,
        permutations=19,
        key_pieces=2,
        substitution_targets=20,
        neighbourhoods=[1, 5],
    ).run(0, tmp_path)
    for key in (
        "triad_rho",
        "untrained_triad_rho",
        "functional_gap",
        "key_rho",
        "untrained_key_rho",
        "substitution",
    ):
        assert key in out
    assert out["substitution"]["n"] == [1, 5] and out["tokens"] > 0
    assert -1 <= out["triad_rho"] <= 1 and 0 < out["triad_p"] <= 1


# -- rules on hand-made rows ------------------------------------------------------------------------


def _row(seed, order="original", **kw):
    return {"seed": seed, "order": order, **kw}


RHO = {
    "id": "c",
    "derive": {"rule": "mw2v_rank_correlation", "metric": "r", "p_metric": "p", "reproduced": 0.5},
}


def test_rank_correlation_rule():
    rule = RULES["mw2v_rank_correlation"]
    assert rule(RHO, [_row(s, r=0.8 + 0.01 * s, p=0.001) for s in range(3)]).verdict == "reproduced"
    assert rule(RHO, [_row(s, r=0.3 + 0.01 * s, p=0.01) for s in range(3)]).verdict == "partly"
    assert rule(RHO, [_row(s, r=0.8, p=0.2) for s in range(3)]).verdict == "partly"  # not significant
    assert (
        rule(RHO, [_row(s, r=v, p=0.5) for s, v in enumerate((-0.2, 0.1, 0.0))]).verdict == "not_reproduced"
    )
    assert rule(RHO, [_row(0, r=0.9, p=0.001)]).verdict == "partly"  # one seed: at most partly
    assert rule(RHO, [_row(0, "shuffled_global", r=0.9, p=0.001)]).verdict == "not_run"


def test_gap_above_control_rule():
    claim = {
        "id": "g",
        "derive": {"rule": "mw2v_gap_above_control", "metric": "a", "control": "b", "min_value": 0.5},
    }
    rule = RULES["mw2v_gap_above_control"]
    assert rule(claim, [_row(s, a=0.9 + 0.01 * s, b=0.7) for s in range(3)]).verdict == "reproduced"
    assert rule(claim, [_row(s, a=0.9 + 0.01 * s, b=0.9 + 0.02 * s) for s in range(3)]).verdict == "partly"
    assert rule(claim, [_row(s, a=0.2, b=0.1 - 0.01 * s) for s in range(3)]).verdict == "not_reproduced"


def test_substitution_rules():
    def sub(uniform, rf):
        return {
            "n": [1, 10, 100],
            "uniform": uniform,
            "matched": uniform,
            "random": 0.1,
            "random_freq": rf,
            "targets": 10,
        }

    above = {
        "id": "s",
        "derive": {"rule": "mw2v_substitution_above_random", "pick": "uniform", "control": "random_freq"},
    }
    good = [_row(s, substitution=sub([0.8, 0.6 + 0.01 * s, 0.4], 0.2 + 0.01 * s)) for s in range(3)]
    assert RULES["mw2v_substitution_above_random"](above, good).verdict == "reproduced"
    low = [_row(s, substitution=sub([0.8, 0.3, 0.1 + 0.01 * s], 0.2)) for s in range(3)]
    assert RULES["mw2v_substitution_above_random"](above, low).verdict == "partly"
    declines = {"id": "d", "derive": {"rule": "mw2v_substitution_declines", "pick": "matched"}}
    assert RULES["mw2v_substitution_declines"](declines, good).verdict == "reproduced"
    flat = [_row(s, substitution=sub([0.5, 0.5, 0.5 + 0.01 * (s - 1)], 0.2)) for s in range(3)]
    assert RULES["mw2v_substitution_declines"](declines, flat).verdict == "not_reproduced"


def test_beats_shuffled_rule():
    claim = {
        "id": "x",
        "derive": {"rule": "mw2v_beats_shuffled", "metric": "r", "control_order": "shuffled_global"},
    }
    rows = [_row(s, r=0.8 + 0.01 * s) for s in range(3)] + [
        _row(s, "shuffled_global", r=0.01 * s) for s in range(3)
    ]
    assert RULES["mw2v_beats_shuffled"](claim, rows).verdict == "reproduced"
    assert RULES["mw2v_beats_shuffled"](claim, rows[:3]).verdict == "not_run"
