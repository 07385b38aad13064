"""Model merging in parameter space (Concrete subspace merging, issue 23): task vectors, task arithmetic, TIES and
the Concrete mask, each on state dicts (name -> tensor). The definitions follow FusionBench (tanganke/fusion_bench,
whose author wrote the Concrete paper's code) and are tested equal to its implementation on the same state dicts."""

from subspacelab.merging.arithmetic import add_scaled, task_arithmetic, task_vector  # noqa: F401
from subspacelab.merging.concrete import ConcreteMask, masked_task_arithmetic  # noqa: F401
from subspacelab.merging.ties import ties_merge  # noqa: F401
