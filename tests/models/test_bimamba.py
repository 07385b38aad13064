"""Mamba's block on our selective scan (models.bimamba): one-way it equals mambapy's MambaBlock with the same
weights; bidirectional it reads the whole sequence, and with both directions' weights equal it commutes with
reversing the sequence; its size is MLFSR's BiMamba's, counted from the official code."""

import pytest
import torch

from subspacelab.models.bimamba import BiMamba

pytestmark = pytest.mark.usefixtures("one_thread")


def _mambapy_block(ours: BiMamba):
    from mambapy.mamba import MambaBlock, MambaConfig

    d_model = ours.out_proj.out_features
    config = MambaConfig(d_model=d_model, n_layers=1, d_state=ours.forward_s6.n, expand_factor=2, d_conv=4)
    theirs = MambaBlock(config)
    state = {
        f"forward_s6.{k}": v
        for k, v in theirs.state_dict().items()
        if k.split(".")[0] not in ("in_proj", "out_proj")
    }
    state |= {k: v for k, v in theirs.state_dict().items() if k.split(".")[0] in ("in_proj", "out_proj")}
    ours.load_state_dict(state)
    return theirs


def test_one_way_it_equals_mambapys_block_with_the_same_weights():
    torch.manual_seed(0)
    ours = BiMamba(16, d_state=8, bidirectional=False)
    theirs = _mambapy_block(ours)
    x = torch.randn(3, 13, 16)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_one_way_is_causal_and_both_ways_read_the_whole_sequence():
    torch.manual_seed(1)
    x = torch.randn(2, 10, 8)
    later = x.clone()
    later[:, 6:] += 1.0
    one, both = BiMamba(8, d_state=4, bidirectional=False), BiMamba(8, d_state=4)
    assert torch.equal(one(x)[:, :6], one(later)[:, :6])
    assert not torch.allclose(both(x)[:, :6], both(later)[:, :6])


def test_with_equal_directions_it_commutes_with_reversal():
    torch.manual_seed(2)
    net = BiMamba(8, d_state=4)
    net.backward_s6.load_state_dict(net.forward_s6.state_dict())
    x = torch.randn(2, 9, 8, dtype=torch.float64)
    net = net.double()
    torch.testing.assert_close(net(x.flip(1)), net(x).flip(1))


def test_its_size_is_mlfsrs_bimamba():
    assert sum(p.numel() for p in BiMamba(64, d_state=8).parameters()) == 34_560
