"""What identifies a run and what it leaves behind (metrics.json, model.pt, config.yaml)."""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# Settings that change where or how a run is watched, not what it computes.
NON_RESULT_KEYS = ("logger", "run_dir", "runs_root", "resume", "skip_finished", "hydra")
NON_RESULT_TRAINER_KEYS = ("enable_progress_bar", "log_every_n_steps", "num_threads")
# Options added after runs were recorded: at these values they change nothing, so they are left out of
# the fingerprint (runs recorded before the option existed keep their fingerprints).
NEUTRAL_DEFAULTS = {
    "data": {"classes": None},
    "trainer": {"max_steps": -1, "val_check_interval": None, "gradient_clip_val": None},
    "train": {"schedule": {"warmup_steps": 0, "min_lr_ratio": 1.0}},
    "model": {"mixer": "attention"},
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
    f = Path(run_dir) / "metrics.json"
    return json.loads(f.read_text()) if f.is_file() else None


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
