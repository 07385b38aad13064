"""The XFactors objectives on known inputs: the supervised InfoNCE against a hand computation, the KL in closed
form, the loss parts, and the VAE's model shapes."""

import math

import pytest
import torch

from subspacelab.disentangle.model import SplitVAE
from subspacelab.disentangle.objectives import BetaVAE, XFactors, kl_to_standard_normal, supervised_infonce


def test_supervised_infonce_equals_the_hand_computation():
    z = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    y = torch.tensor([0, 0, 1, 2])  # anchors 0 and 1 have a positive; 2 and 3 have none and are dropped
    t = 0.5
    s = z @ z.T / t
    expected = 0.0
    for a, p in ((0, 1), (1, 0)):
        others = [b for b in range(4) if b != a]
        expected += -(s[a, p] - torch.logsumexp(s[a, others], 0))
    torch.testing.assert_close(supervised_infonce(z, y, t), expected / 2)
    assert float(supervised_infonce(z, torch.arange(4), t)) == 0.0  # no positives at all


def test_the_kl_is_zero_at_the_prior_and_matches_the_closed_form():
    assert float(kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    assert float(kl_to_standard_normal(mu, logvar)) == pytest.approx(0.5 * 1 + 0.5 * (4 - 1 - math.log(4)))


def test_the_loss_parts_and_the_ablation_without_infonce():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(16, 1, 32, 32, generator=g) > 0.5).float()
    labels = torch.randint(0, 3, (16, 5), generator=g)
    mu, logvar = torch.randn(16, 18, generator=g), torch.zeros(16, 18)
    logits = torch.randn(16, 1, 32, 32, generator=g)
    full, parts = XFactors()(x, labels, logits, mu, logvar, mu)
    expected = parts["mse"] + 1e-6 * (100 * parts["kl_s"] + parts["kl_t"]) + 0.02 * parts["nce"]
    torch.testing.assert_close(full, expected)
    off, off_parts = XFactors(nce_weight=0.0)(x, labels, logits, mu, logvar, mu)
    assert float(off_parts["nce"]) == 0.0 and float(off) < float(full)
    loss, bparts = BetaVAE(latent=18, beta=4.0)(x, labels, logits, mu, logvar, mu)
    torch.testing.assert_close(loss, bparts["bce"] + 4.0 * bparts["kl"])


def test_the_split_vae_concatenates_its_groups():
    model = SplitVAE([8, 10], width=8)
    mu, logvar = model.encode(torch.rand(2, 1, 32, 32))
    assert mu.shape == logvar.shape == (2, 18) and model.latent == 18
    assert model.decode(mu).shape == (2, 1, 32, 32)
