"""A real single-node Slurm for tests: munge, slurmctld and slurmd started and stopped by PID.

State, spool, logs and slurm.conf live in a temporary folder; clients find the cluster through
``SLURM_CONF``. Everything started here is stopped here (jobs cancelled first).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "srun", "squeue", "scancel", "sinfo")

CONF = """\
ClusterName=subspacelab
SlurmctldHost={host}
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=5
NodeName={host} CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def missing_reason() -> str | None:
    """Why a Slurm cannot be started here (None when it can)."""
    absent = [b for b in BINARIES if not (shutil.which(b) or Path(f"/usr/sbin/{b}").exists())]
    if absent:
        return f"Slurm is not installed ({', '.join(absent)} missing); `make slurm-deps` installs Debian's slurm-wlm"
    if os.geteuid() != 0:
        return "the test cluster runs slurmd as root; run the tests as root"
    return None


def _pid_alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


class SlurmCluster:
    def __init__(self, workdir: Path):
        self.d = workdir
        self.env = {**os.environ, "SLURM_CONF": str(workdir / "slurm.conf")}
        self._started: list[Path] = []

    def _sbin(self, name: str) -> str:
        return shutil.which(name) or f"/usr/sbin/{name}"

    def start(self) -> SlurmCluster:
        host = socket.gethostname().split(".")[0]
        for sub in ("state", "spool"):
            (self.d / sub).mkdir(parents=True, exist_ok=True)
        probe = subprocess.run([self._sbin("slurmd"), "-C"], capture_output=True, text=True).stdout
        mem = next((w.split("=")[1] for w in probe.split() if w.startswith("RealMemory=")), "1000")
        (self.d / "slurm.conf").write_text(CONF.format(host=host, d=self.d, cpus=os.cpu_count(), mem=mem))
        self._start_munge()
        subprocess.run([self._sbin("slurmctld"), "-f", str(self.d / "slurm.conf")], check=True, env=self.env)
        self._started.append(self.d / "slurmctld.pid")
        subprocess.run([self._sbin("slurmd"), "-f", str(self.d / "slurm.conf")], check=True, env=self.env)
        self._started.append(self.d / "slurmd.pid")
        deadline = time.time() + 60
        while time.time() < deadline:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=self.env
            ).stdout
            if out.strip() in ("idle", "mix", "alloc"):
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Slurm did not come up; see {self.d}/slurmctld.log and slurmd.log")

    def _start_munge(self) -> None:
        pidfile = Path("/run/munge/munged.pid")
        if pidfile.is_file() and _pid_alive(pidfile):
            return  # someone else's munged: use it, leave it running
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        key = Path("/etc/munge/munge.key")
        if not key.is_file():
            subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
            shutil.chown(key, "munge", "munge")
            key.chmod(0o600)
        subprocess.run(["runuser", "-u", "munge", "--", self._sbin("munged")], check=True)
        self._started.insert(0, pidfile)

    def run(self, *args, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), capture_output=True, text=True, env={**self.env, **kw.pop("env", {})}, **kw
        )

    def sbatch(self, command: str, *opts: str, env: dict | None = None) -> str:
        out = self.run(
            "sbatch",
            "--parsable",
            f"--chdir={os.getcwd()}",
            f"--output={self.d}/job-%j.out",
            *opts,
            "--wrap",
            command,
            env=env or {},
            check=True,
        )
        return out.stdout.strip().split(";")[0]

    def state(self, job: str) -> str:
        out = self.run("squeue", "-h", "-j", job, "-o", "%T").stdout.strip()
        return out or "GONE"

    def wait_gone(self, job: str, timeout: float = 600) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and self.state(job) != "GONE":
            time.sleep(0.5)
        assert self.state(job) == "GONE", f"job {job} still {self.state(job)} after {timeout}s"

    def log(self, job: str) -> str:
        f = self.d / f"job-{job}.out"
        return f.read_text() if f.is_file() else ""

    def stop(self) -> None:
        self.run("scancel", "--user", "root")
        for pidfile in reversed(self._started):  # slurmd, slurmctld, then munged if we started it
            try:
                pid = int(pidfile.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self._started.clear()


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()
