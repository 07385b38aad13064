"""DCI and the FactorVAE score: 1 on a perfectly disentangled code, low on a mixed one; the D and C formulas on
known importance matrices."""

import numpy as np
import pytest

from subspacelab.analysis.disentanglement import dci, dci_from_importance, factor_vae_score


def _factors(n=3000, levels=(3, 6, 8, 8), seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(k, size=n) for k in levels], 1)


def test_dci_formulas_on_known_importance_matrices():
    assert dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    d, c = dci_from_importance(np.ones((4, 4)))
    assert d == pytest.approx(0.0) and c == pytest.approx(0.0)
    # two dims for one factor: each dim is pure (D = 1) but the factor is spread over two dims (C < 1)
    d, c = dci_from_importance(np.array([[1.0, 0], [1.0, 0], [0, 1.0]]))
    assert d == pytest.approx(1.0) and c < 1


def test_a_perfectly_disentangled_code_scores_one_and_a_mixed_code_does_not():
    f = _factors()
    rng = np.random.default_rng(1)
    clean = f + 0.01 * rng.standard_normal(f.shape)
    good = dci(clean[:2000], f[:2000], clean[2000:], f[2000:])
    assert good["disentanglement"] == pytest.approx(1, abs=1e-6) and good["completeness"] == pytest.approx(
        1, abs=1e-6
    )
    assert good["informativeness"] > 0.99 and good["importance"].shape == (4, 4)
    assert factor_vae_score(clean[:2000], f[:2000], clean[2000:], f[2000:], votes=500) == 1.0
    mixed = clean @ rng.standard_normal((4, 4))
    bad = dci(mixed[:2000], f[:2000], mixed[2000:], f[2000:])
    assert bad["disentanglement"] < 0.6
    assert factor_vae_score(mixed[:2000], f[:2000], mixed[2000:], f[2000:], votes=500) < 0.9
