"""Callbacks of a training run: measurements (step time, rank agreement) and its resumable checkpoints."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch


class StepTimer(L.Callback):
    """Median wall time of an optimisation step (forward, backward, update), warm-up steps skipped."""

    def __init__(self, warmup: int = 5):
        self.warmup = warmup
        self.times: list[float] = []
        self._t0 = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._t0)

    @property
    def step_seconds(self) -> float | None:
        t = sorted(self.times[self.warmup :] or self.times)
        return t[len(t) // 2] if t else None


class RankAgreement(L.Callback):
    """After training, measure how far each rank's parameters and buffers are from rank 0's.

    DDP must keep every rank identical, frozen weights and buffers included (SwitchLoRA rewrites its frozen
    W and candidate pools at every switch); ``max_abs_diff`` is 0.0 when it did (None on one process).
    """

    def __init__(self):
        self.max_abs_diff: float | None = None

    def on_train_end(self, trainer, pl_module):
        if trainer.world_size < 2:
            return
        tensors = [*pl_module.parameters(), *pl_module.buffers()]
        flat = torch.cat(
            [
                t.detach().double().flatten()
                for t in tensors
                if t.is_floating_point() or t.dtype == torch.int64
            ]
        )
        gathered = trainer.strategy.all_gather(flat.contiguous())  # (world, n)
        self.max_abs_diff = float((gathered - gathered[0]).abs().max())


# -- resumable state --------------------------------------------------------------------------------------
LAST, PREVIOUS = "last.ckpt", "previous.ckpt"
KILL_AFTER_EPOCH = "SUBSPACELAB_TEST_KILL_AFTER_EPOCH"  # test hook: SIGKILL right after epoch k's checkpoint
KILL_AFTER_STEP = "SUBSPACELAB_TEST_KILL_AFTER_STEP"  # test hook: SIGKILL right after step n's checkpoint


def rng_states() -> dict:
    """Every generator a training step may draw from, as plain tensors and numbers (weights_only loads)."""
    version, mt, gauss = random.getstate()
    np_state = np.random.get_state()
    states = {
        "python": [version, list(mt), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    version, mt, gauss = states["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class PeriodicCheckpoint(L.Callback):
    """Write the full training state to ``dirpath/last.ckpt`` every ``every_n_epochs`` epochs (at the epoch's
    end, after its validation) and every ``every_n_steps`` optimizer steps (once the step is over: after the
    validation that may follow it, at the next batch's start, so that a resumed run misses no evaluation).

    Lightning's checkpoint holds the module, optimizers, schedulers and loop counters; the module's own hooks
    add method state (the recipe's, in ``CausalLMModule``) and the data position. This callback adds the RNG
    states, the run's fingerprint and where the checkpoint was taken. A write is atomic: the new file is
    completed under a temporary name, the previous ``last.ckpt`` becomes ``previous.ckpt``, then the new one
    is renamed into place, so a kill at any moment leaves at least one complete checkpoint.
    """

    def __init__(self, dirpath: Path, fingerprint: str, every_n_epochs: int = 1, every_n_steps: int = 0):
        self.dirpath = Path(dirpath)
        self.fingerprint = fingerprint
        self.every_n_epochs = int(every_n_epochs or 0)
        self.every_n_steps = int(every_n_steps or 0)
        self._where = "epoch_end"
        self._last_step_saved = -1
        self._due_step: int | None = None
        self._restore: dict | None = None  # RNG states of a loaded checkpoint, applied where they were taken

    # -- writing ----------------------------------------------------------------------------------------
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        due = self.every_n_steps and step and step % self.every_n_steps == 0
        if due and step not in (self._last_step_saved, self._due_step):
            self._due_step = step  # written once the step is over: after its validation, if one runs now

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self._pending("batch_end"):  # continues at the next batch, after the rebuilt loader drew its seed
            set_rng_states(self._restore["rng"])
            self._restore = None
        if self._due_step is not None:
            self._save(trainer, "batch_end")
            _kill_if_asked(KILL_AFTER_STEP, trainer.global_step)

    def on_train_epoch_end(self, trainer, pl_module):
        done = trainer.current_epoch + 1
        if (self.every_n_epochs and done % self.every_n_epochs == 0) or self._due_step is not None:
            self._save(trainer, "epoch_end")
            _kill_if_asked(KILL_AFTER_STEP, trainer.global_step)

    def on_train_epoch_start(self, trainer, pl_module):
        # the previous epoch's aggregates are logged after its checkpoint: put them on disk now, so that a run
        # killed later keeps them in its log (the log is cut back to the checkpoint on resume: loggers.py)
        for logger in trainer.loggers:
            logger.save()
        _kill_if_asked(KILL_AFTER_EPOCH, trainer.current_epoch)  # epochs done, the last one's log written

    def _save(self, trainer, where: str) -> None:
        self._where, self._last_step_saved, self._due_step = where, trainer.global_step, None
        tmp, last = self.dirpath / f".{LAST}.tmp", self.dirpath / LAST
        for logger in trainer.loggers:  # flush: the log on disk then ends exactly where this checkpoint is
            logger.save()
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(tmp, weights_only=False)  # every rank calls it (a collective); rank 0 writes
        if trainer.is_global_zero:
            if last.exists():
                os.replace(last, self.dirpath / PREVIOUS)
            os.replace(tmp, last)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        epoch_loop = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
        if self._where == "batch_end" and "_batches_that_stepped" in epoch_loop:
            # Lightning assumes a mid-epoch checkpoint was taken at a batch's end, before this counter (the
            # loggers' step) grows, and adds 1 when it resumes; ours is taken at the next batch's start
            epoch_loop["_batches_that_stepped"] -= 1
        checkpoint["subspacelab"] = {
            "fingerprint": self.fingerprint,
            "where": self._where,
            "rng": rng_states(),
        }

    # -- resuming ---------------------------------------------------------------------------------------
    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        self._restore = checkpoint.get("subspacelab")
        self._last_step_saved = int(checkpoint.get("global_step", -1))
        # a resumed fit builds its train loader (whose iterator draws a seed) right away: restore before it
        if self._pending("epoch_end"):
            set_rng_states(self._restore["rng"])

    def on_sanity_check_end(self, trainer, pl_module):
        if self._pending("epoch_end"):  # a sanity check's validation loader drew from it
            set_rng_states(self._restore["rng"])

    def on_train_start(self, trainer, pl_module):
        if self._pending("epoch_end"):
            self._restore = None

    def _pending(self, where: str) -> bool:
        return bool(self._restore) and self._restore.get("where") == where


def _kill_if_asked(variable: str, reached: int) -> None:
    """The deterministic stand-in for ``kill -9`` that resume tests use: no cleanup, no exception handlers.
    Under DDP every rank first waits at a barrier, so rank 0 has put the checkpoint in place before any rank
    dies (a rank dying early would let Lightning's process watcher stop rank 0 mid-write: a race)."""
    if os.environ.get(variable) == str(reached):
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
        os.kill(os.getpid(), signal.SIGKILL)


def read_checkpoint(path: Path) -> dict | None:
    """The checkpoint's contents, or None when the file cannot be read back (empty, truncated, garbage)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any failure to read means the file is unusable
        return None
    return state if isinstance(state, dict) and "state_dict" in state and "loops" in state else None


def resumable_checkpoint(dirpath: Path, fingerprint: str, repair: bool = True) -> tuple[Path | None, dict]:
    """The newest readable checkpoint of this config in ``dirpath`` (``last.ckpt``, else ``previous.ckpt``)
    and where a run resumed from it continues (:func:`resume_point`). An unreadable file is renamed ``*.corrupt`` with
    a one-line warning (when ``repair``: rank 0 only), so that the next attempt does not trip on it again;
    a checkpoint of another config is ignored."""
    dirpath = Path(dirpath)
    stamp = dirpath / "fingerprint.txt"  # checkpoints written before they carried their fingerprint
    legacy = stamp.is_file() and stamp.read_text().strip() == fingerprint
    for name in (LAST, PREVIOUS):
        path = dirpath / name
        if not path.is_file():
            continue
        state = read_checkpoint(path)
        if state is None:
            if repair:
                os.replace(path, path.with_name(path.name + ".corrupt"))
            print(f"[warn] {path}: unreadable checkpoint, moved to {path.name}.corrupt", file=sys.stderr)
            continue
        ours = (state.get("subspacelab") or {}).get("fingerprint", fingerprint if legacy else None)
        if ours == fingerprint:
            return path, resume_point(state)
    return None, {}


def resume_point(state: dict) -> dict:
    """Where a run resumed from checkpoint ``state`` continues: the epoch (0-based: the epochs before it
    finished training) and the optimizer steps already taken."""
    try:
        epoch = int(state["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError, ValueError):
        epoch = int(state.get("epoch", 0))
    return {"epoch": epoch, "global_step": int(state.get("global_step", 0))}
