"""The solver harness: grids of trials run in parallel, success rates with confidence intervals."""

from subspacelab.experiments.harness import (
    map_trials,
    success_curve,
    transition_point,
    trial_seed,
    wilson_interval,
    write_trials,
)

__all__ = ["map_trials", "success_curve", "transition_point", "trial_seed", "wilson_interval", "write_trials"]
