"""MLFSR (Gao, Xiao, Xiong, ACCV 2024): light-field super-resolution whose token mixer is a bidirectional Mamba
scan of each 2-D subspace of the 4-D light field (spatial, angular and the two epipolar planes), with a
Transformer-to-Mamba (T2M) feature-distillation loss. This package compares it, in one small skeleton, with a
convolution and with global self-attention on the same subspaces, with and without T2M, on synthetic layered light
fields, and measures each mixer's inference time and memory as the input grows (the maths: ``models.lfsr``,
``models.bimamba``, ``models.selective_scan``; the data: ``data.light_fields``; the training:
``lit.super_resolution``)."""

from subspacelab.papers.mlfsr.experiment import Experiment  # noqa: F401
from subspacelab.papers.spec import Paper

PAPER = Paper(id="mlfsr", title="Mamba-based Light Field Super-Resolution with Efficient Subspace Scanning")
