"""What identifies a run and what it leaves behind (metrics.json, model.pt, config.yaml), where an unfinished
run keeps its work, and the environment a run ran in."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# Settings that change where or how a run is watched, not what it computes.
# (``params_file`` says where the settings came from; the settings themselves are in the sections a run reads.)
NON_RESULT_KEYS = (
    "logger",
    "run_dir",
    "runs_root",
    "resume",
    "skip_finished",
    "hydra",
    "checkpoint",
    "params_file",
)
NON_RESULT_TRAINER_KEYS = ("enable_progress_bar", "log_every_n_steps", "num_threads")
# Options added after runs were recorded: at these values they change nothing, so they are left out of
# the fingerprint (runs recorded before the option existed keep their fingerprints).
NEUTRAL_DEFAULTS = {
    "data": {"classes": None},
    "trainer": {"max_steps": -1, "val_check_interval": None, "gradient_clip_val": None},
    "train": {"schedule": {"warmup_steps": 0, "min_lr_ratio": 1.0}},
    "model": {"mixer": "attention"},
    # hf_dsc's placement default (in its yaml since the yaml is written from the dataclass)
    "experiment": {"device": "auto"},
}
# The sections only a training run reads.
TRAINING_KEYS = ("data", "model", "method", "train", "trainer")


def resolved(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def result_config(cfg: DictConfig, keep_contract: bool = False) -> dict:
    """The part of a run's config that determines its result. The paper's contract is reduced to its id: its
    settings are already applied to the sections a run reads, and its claims, titles and notes change no
    result (``keep_contract=True`` gives the definition before that was so: see ``refingerprint``)."""
    c = resolved(cfg)
    experiment = (c.get("paper") or {}).get("kind") == "experiment"
    if experiment:
        for k in TRAINING_KEYS:  # composed by default, never read by an experiment
            c.pop(k, None)
    if experiment or not keep_contract:
        c["paper"] = {"id": c["paper"]["id"]}
    for k in NON_RESULT_KEYS:
        c.pop(k, None)
    for k in NON_RESULT_TRAINER_KEYS:
        c.get("trainer", {}).pop(k, None)
    c.get("data", {}).pop("mirror", None)
    c.get("model", {}).pop("_target_", None)  # where the builder lives, not what it builds (that is `arch`)
    c.get("method", {}).pop("targets", None)
    for section, neutral in NEUTRAL_DEFAULTS.items():
        for key, value in neutral.items():
            if key in c.get(section, {}) and c[section][key] == value:
                del c[section][key]
    return c


def fingerprint(cfg: DictConfig, keep_contract: bool = False) -> str:
    """Hash of everything that determines a run's result (:func:`result_config`)."""
    blob = json.dumps(result_config(cfg, keep_contract), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_metrics(run_dir: str | Path) -> dict | None:
    """A run's stored metrics; None when it has none, or when its metrics.json cannot be read (truncated,
    garbage: a warning says so), so that the run counts as unfinished and is redone."""
    f = Path(run_dir) / "metrics.json"
    if not f.is_file():
        return None
    try:
        metrics = json.loads(f.read_text())
    except (ValueError, OSError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        print(f"[warn] {f}: unreadable ({type(err).__name__}); the run will be redone", file=sys.stderr)
        return None
    if not isinstance(metrics, dict):
        print(f"[warn] {f}: not a JSON object; the run will be redone", file=sys.stderr)
        return None
    return metrics


def finished_run(cfg: DictConfig) -> tuple[str, dict | None]:
    """The run's fingerprint, and its stored metrics if it already finished with this same fingerprint
    (and ``skip_finished`` is on): such a run is not redone."""
    fp = fingerprint(cfg)
    done = read_metrics(cfg.run_dir)
    return fp, done if cfg.skip_finished and done and done.get("fingerprint") == fp else None


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)  # atomic: a killed run never leaves half a metrics.json


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def process_seconds() -> float:
    """Seconds since this process started (interpreter and imports included)."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except ImportError:  # pragma: no cover
        return float("nan")


# -- the work folder of an unfinished run ------------------------------------------------------------------
def work_dir(run_dir: str | Path) -> Path:
    """Where a run writes until it has finished: the hidden sibling ``.<run>.partial`` of its run_dir. Its
    checkpoints survive a kill there; on success its contents move into run_dir (:func:`publish`), so a
    run_dir only ever holds a finished run."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.partial"


def adopt(run_dir: Path, work: Path) -> None:
    """Move into ``work`` what an unfinished attempt left in run_dir: checkpoints from before work folders
    existed, and the ``.hydra/`` Hydra has just created in an otherwise empty run_dir (then run_dir goes)."""
    work.mkdir(parents=True, exist_ok=True)
    if (run_dir / "checkpoints").is_dir() and not (work / "checkpoints").exists():
        os.replace(run_dir / "checkpoints", work / "checkpoints")
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} == {".hydra"}:
        shutil.rmtree(work / ".hydra", ignore_errors=True)
        os.replace(run_dir / ".hydra", work / ".hydra")
        run_dir.rmdir()


def publish(work: Path, run_dir: Path, keep=("checkpoints",)) -> None:
    """Move a finished run from ``work`` into run_dir, ``metrics.json`` last (it marks the run finished),
    replacing what an older run of the same name left; then remove ``work`` (its checkpoints)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    entries = [p for p in work.iterdir() if p.name not in keep]
    for entry in sorted(entries, key=lambda p: p.name == "metrics.json"):
        target = run_dir / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
    shutil.rmtree(work, ignore_errors=True)


def abandon(run_dir: Path, work: Path) -> None:
    """After a failed attempt: remove a run_dir that holds nothing but ``.hydra/``, and the work folder unless
    it holds a checkpoint to resume from."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra"}:
        shutil.rmtree(run_dir, ignore_errors=True)
    if work.is_dir() and not any((work / "checkpoints").glob("*.ckpt")):
        shutil.rmtree(work, ignore_errors=True)


# -- provenance ---------------------------------------------------------------------------------------------
PACKAGES = (
    "torch",
    "numpy",
    "lightning",
    "transformers",
    "scipy",
    "scikit-learn",
    "torchmetrics",
    "omegaconf",
)
# CPU flags that decide which vectorised kernels (and so which floating-point summation orders) run.
ISA_PREFIXES = ("sse", "avx", "fma", "f16c", "amx", "bmi", "asimd", "sve", "neon")


def _cpu() -> dict:
    model, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Processor", "CPU part") and model in ("", platform.machine()):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = sorted(f for f in value.split() if f.startswith(ISA_PREFIXES))
    except OSError:
        pass
    return {"model": model, "isa_flags": flags, "cores": os.cpu_count()}


def environment() -> dict:
    """What a run's numbers may depend on beyond its config: package versions, the CPU (model, ISA flags,
    the kernel level torch dispatches to) or GPU, thread counts and torch's determinism settings. Recorded in
    every metrics.json; never part of the fingerprint (the same config on another machine is the same run,
    whose numbers may still differ in the last digits: this record says why)."""
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "cpu": {**_cpu(), "torch_capability": torch.backends.cpu.get_cpu_capability()},
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "determinism": {
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "mkldnn": torch.backends.mkldnn.is_available(),
        },
        "cuda": None,
    }
    if torch.cuda.is_available():
        env["cuda"] = {
            "device": torch.cuda.get_device_name(0),
            "capability": list(torch.cuda.get_device_capability(0)),
            "runtime": torch.version.cuda,
            "driver": _cuda_driver(),
            "cudnn": torch.backends.cudnn.version(),
        }
    return env


def _cuda_driver() -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
