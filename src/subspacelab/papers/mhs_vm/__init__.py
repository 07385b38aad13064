"""MHS-VM (Ji 2024): VM-UNet's 2-D selective scan replaced by several heads, each scanning a low-dimensional
subspace of the tokens along its own route pattern (snake, diagonal, spiral, raster), the routes of a head fused by a
parameter-free route attention. This package compares it with SS2D, with a sum of the routes and with a smaller SS2D
on two stand-in segmentation tasks (the maths: ``models.selective_scan``, ``models.scan_routes``,
``models.vm_unet``; the training: ``lit.segmentation``)."""

from subspacelab.papers.mhs_vm.experiment import Experiment  # noqa: F401
from subspacelab.papers.spec import Paper

PAPER = Paper(id="mhs_vm", title="MHS-VM: Multi-Head Scanning in Parallel Subspaces for Vision Mamba")
