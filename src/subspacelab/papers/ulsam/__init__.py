"""ULSAM: Ultra-Lightweight Subspace Attention Module (Saini et al., WACV 2020). The runs are ordinary
classification runs of a 32x32 MobileNet in three variants (``model.ulsam``: ``none``, ``insert``, ``replace``);
the evaluate stage counts the parameters and multiply-adds of every variant of the nets the contract lists."""

from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="ulsam",
    title="ULSAM: Ultra-Lightweight Subspace Attention Module for Compact Convolutional Neural Networks",
    analysis=True,
)
