"""MMCR's loss on known matrices and against the PyPI ``mmcr`` package (skyil7's ``MMCRLoss``, equal to the
official loss on (B, N, d) input) on the same batch; the baselines' input checks."""

import math

import pytest
import torch

from subspacelab.selfsup.objectives import NAMES, mmcr_loss, objective


def _batch(b=6, n=4, d=8, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("lmbda", [0.0, 0.5])
def test_the_loss_and_its_gradient_equal_the_mmcr_package_on_the_same_batch(lmbda):
    from mmcr import MMCRLoss

    z1 = _batch().requires_grad_()
    z2 = z1.detach().clone().requires_grad_()
    ours, parts = mmcr_loss(z1, lmbda)
    theirs = MMCRLoss(lmbda=lmbda)(z2)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-12, atol=1e-12)
    ours.backward(), theirs.backward()
    torch.testing.assert_close(z1.grad, z2.grad, rtol=1e-10, atol=1e-12)
    assert (parts["local_nuc"] == 0) == (lmbda == 0)


def test_identical_views_of_orthonormal_directions_reach_the_minimum_minus_b():
    b, n, d = 5, 3, 8
    q = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))[0][:b]  # b orthonormal rows
    z = (3.0 * q)[:, None].expand(b, n, d)  # any length: the loss normalises
    loss, parts = mmcr_loss(z, lmbda=1.0)
    torch.testing.assert_close(loss, torch.tensor(math.sqrt(n) - b, dtype=torch.float64))
    torch.testing.assert_close(parts["global_nuc"], torch.tensor(float(b), dtype=torch.float64))
    assert float(mmcr_loss(_batch(b, n, d))[0]) > -b  # random views are above the bound


def test_the_local_term_ranges_from_root_n_for_equal_views_to_n_for_orthogonal_views():
    n, d = 4, 8
    eye = torch.eye(d, dtype=torch.float64)
    same = eye[:1].expand(n, d)[None]
    orth = eye[:n][None]
    assert float(mmcr_loss(same, 1.0)[1]["local_nuc"]) == pytest.approx(math.sqrt(n))
    assert float(mmcr_loss(orth, 1.0)[1]["local_nuc"]) == pytest.approx(n)
    # the centroid of n orthonormal views has length 1/sqrt(n): the collapse the global term pushes away from
    assert float(mmcr_loss(orth, 0.0)[1]["global_nuc"]) == pytest.approx(1 / math.sqrt(n))


def test_half_precision_input_is_computed_in_float32_and_gather_is_a_no_op_in_one_process():
    z = _batch().float()
    loss16, _ = mmcr_loss(z.half())
    assert loss16.dtype == torch.float32
    torch.testing.assert_close(mmcr_loss(z, gather=True)[0], mmcr_loss(z)[0])
    with pytest.raises(ValueError, match="images, views, dim"):
        mmcr_loss(z[0])


def test_the_baselines_take_two_views_and_unknown_names_are_refused():
    z = _batch(8, 2, 16).float()
    for name in NAMES:
        loss, _ = objective(name)(z)
        assert loss.ndim == 0 and torch.isfinite(loss)
    for name in ("simclr", "barlow"):
        with pytest.raises(ValueError, match="exactly 2 views"):
            objective(name)(_batch(8, 3, 16).float())
    with pytest.raises(ValueError, match="expected one of"):
        objective("byol")


def test_simclr_is_lightlys_nt_xent_on_the_first_two_views():
    from lightly.loss import NTXentLoss

    z = _batch(8, 2, 16).float()
    torch.testing.assert_close(objective("simclr", temperature=0.2)(z)[0], NTXentLoss(0.2)(z[:, 0], z[:, 1]))
