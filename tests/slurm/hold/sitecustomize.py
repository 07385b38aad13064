"""Test-only fault injection, put on PYTHONPATH of one Slurm job by test_slurm.py.

When SUBSPACELAB_HOLD_RUN is set, a run whose checkpoint folder contains that string stops right after
it first saves ``last.ckpt`` (``PeriodicCheckpoint``): it writes its PID to ``held`` next to the checkpoint and
sleeps until it is killed.
That turns "cancel the job in the middle of the second run" from a race into a certainty.
"""

import os
import time

_RUN = os.environ.get("SUBSPACELAB_HOLD_RUN")

if _RUN:
    from subspacelab.lit.callbacks import PeriodicCheckpoint

    _save = PeriodicCheckpoint._save

    def _save_then_hold(self, trainer, where):
        _save(self, trainer, where)
        if _RUN in str(self.dirpath):
            held = os.path.join(self.dirpath, "held")
            with open(held + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(held + ".tmp", held)  # the test never reads a half-written PID
            while True:  # until SIGKILL
                time.sleep(1)

    PeriodicCheckpoint._save = _save_then_hold
