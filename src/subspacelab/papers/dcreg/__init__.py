"""DCReg: Decoupled Characterization for Efficient Degenerate LiDAR Registration (Hu et al., arXiv 2509.06285).
Point-to-plane ICP on simulated degenerate scenes: DCReg's Schur-complement detection with axis alignment and
its clamped-preconditioner PCG (``subspacelab.numerics.dcreg``) against plain QR and four degeneracy-aware
baselines (ME-SR, ME-TSVD, ME-TReg, FCN-SR), all on the same scans and initial poses."""

from subspacelab.papers.dcreg.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="dcreg", title="DCReg: Decoupled Characterization for Efficient Degenerate LiDAR Registration"
)

__all__ = ["PAPER", "Experiment"]
