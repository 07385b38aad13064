"""What a killed `dvc` leaves in .dvc/tmp is cleared before the next repro; what a live one holds is not."""

import fcntl
import json
import os
import subprocess
import sys

import pytest

from subspacelab.errors import UserError
from subspacelab.pipeline.dvclocks import pid_alive, repair


@pytest.fixture
def tmp_dvc(tmp_path):
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    return tmp_path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def rwlock(repo):
    return repo / ".dvc" / "tmp" / "rwlock"


def test_a_half_written_rwlock_is_removed_with_one_line(tmp_dvc):
    rwlock(tmp_dvc).write_text('{"write": {"runs/intrinsic_dimension/smoke/mnist-fc')  # killed mid-write
    said = repair(tmp_dvc)
    assert not rwlock(tmp_dvc).exists()
    assert len(said) == 1 and "rwlock: corrupt" in said[0]


def test_an_rwlock_held_only_by_dead_processes_is_removed(tmp_dvc):
    pid = dead_pid()
    info = {"pid": pid, "cmd": "dvc repro"}
    rwlock(tmp_dvc).write_text(json.dumps({"read": {"a": [info]}, "write": {"b": info}}))
    said = repair(tmp_dvc)
    assert not rwlock(tmp_dvc).exists() and said == [
        f"{rwlock(tmp_dvc)}: held by no live process (pid {pid}); removed it"
    ]


def test_an_rwlock_of_a_live_process_and_an_empty_one_are_kept(tmp_dvc):
    live = json.dumps({"write": {"b": {"pid": os.getpid(), "cmd": "dvc repro"}}})
    rwlock(tmp_dvc).write_text(live)
    assert repair(tmp_dvc) == [] and rwlock(tmp_dvc).read_text() == live
    rwlock(tmp_dvc).write_text(json.dumps({"read": {}, "write": {}}))  # what a finished dvc leaves
    assert repair(tmp_dvc) == [] and rwlock(tmp_dvc).exists()


def test_a_repository_lock_held_by_a_live_dvc_is_refused_and_a_released_one_is_fine(tmp_dvc):
    lock = tmp_dvc / ".dvc" / "tmp" / "lock"
    lock.write_text(f" {dead_pid()}\n")  # what every finished dvc leaves: not held, nothing to do
    assert repair(tmp_dvc) == [] and lock.exists()
    with open(lock, "a") as held:  # a live holder (a second open file: flock conflicts even in one process)
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UserError, match="another DVC process"):
            repair(tmp_dvc)


def test_an_rwlock_being_rewritten_by_a_live_dvc_is_left_alone(tmp_dvc):
    rwlock(tmp_dvc).write_text('{"write": ')
    guard = tmp_dvc / ".dvc" / "tmp" / "rwlock.lock"
    guard.touch()
    with open(guard, "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert repair(tmp_dvc) == [] and rwlock(tmp_dvc).exists()
