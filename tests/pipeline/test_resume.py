"""Training runs survive kills and corrupt files: periodic atomic checkpoints with the full state, a kill
-9 at a deterministic point (the SUBSPACELAB_TEST_KILL_AFTER_* hooks) then a rerun ends equal to an
uninterrupted run, unreadable checkpoints and metrics are set aside, and a failed run leaves no run folder."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from subspacelab.config import ConfigError, compose
from subspacelab.lit.callbacks import (
    KILL_AFTER_EPOCH,
    KILL_AFTER_STEP,
    PeriodicCheckpoint,
    resumable_checkpoint,
    rng_states,
    set_rng_states,
)
from subspacelab.pipeline.runinfo import finished_run, read_metrics, work_dir
from subspacelab.pipeline.train import run

# what legitimately differs between an interrupted and an uninterrupted run of one config
VOLATILE = {
    "step_seconds",
    "fit_seconds",
    "process_seconds",
    "peak_rss_mib",
    "cuda_peak_mib",
    "finished_at",
    "resumed_from",
    "resumed_at",
    "environment",
}
CLASSIFICATION = {"full": ["method=full"], "intrinsic": ["method=intrinsic", "method.d=50"]}
LM = {
    "full": ["method=full"],
    "lora": ["method=lora"],
    "relora": ["method=relora", "method.restart_every=3", "method.restart_warmup_steps=1"],
    "galore": ["method=galore", "method.rank=4", "method.update_proj_gap=2"],
    "switchlora": ["method=switchlora", "method.interval=10", "method.adam_warm_step=2"],
}


def overrides(root: Path, *extra: str) -> list[str]:
    return ["scale=smoke", f"runs_root={root}", "logger=csv", "trainer.num_threads=1", *extra]


def run_killed(args: list[str], hook: str, at: int) -> None:
    """Run in a child process that SIGKILLs itself right after the checkpoint at ``at`` is written."""
    code = (
        "import sys; from subspacelab.config import compose; from subspacelab.pipeline.train import run; "
        "run(compose(sys.argv[1:]))"
    )
    env = {**os.environ, hook: str(at), "WANDB_MODE": "offline"}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == -9, out.stderr[-3000:]


def results(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in VOLATILE}


def saved_state(m: dict, root: Path) -> dict:
    return torch.load(root / m["paper"] / m["scale"] / m["run_name"] / "model.pt", weights_only=True)["state"]


def csv_log(m: dict, root: Path, drop: tuple[str, ...] = ()) -> list[dict]:
    path = root / m["paper"] / m["scale"] / m["run_name"] / "csv" / "metrics.csv"
    with path.open(newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def assert_same_run(
    resumed: dict, straight: dict, root_resumed: Path, root_straight: Path, mid_epoch: bool = False
) -> None:
    assert results(resumed) == results(straight)
    a, b = saved_state(resumed, root_resumed), saved_state(straight, root_straight)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the CSV log continues across the kill: the resumed run's log is the uninterrupted run's, row for row and
    # step for step (an epoch resumed mid-way averages its train loss over the batches after the resume only)
    drop = ("train/loss_epoch",) if mid_epoch else ()
    log = csv_log(resumed, root_resumed, drop)
    assert len(log) > 2 and log == csv_log(straight, root_straight, drop)


@pytest.fixture(scope="module")
def killed_after_two_epochs(tmp_path_factory):
    """For each classification method: its uninterrupted 3-epoch run (root ``a``) and the same run killed right
    after epoch 2's checkpoint (root ``b``, its work folder left as the kill left it). Each test resumes a copy."""
    made = {}

    def make(method: str):
        if method not in made:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            root = tmp_path_factory.mktemp(f"killed-{method}")
            extra = [*CLASSIFICATION[method], "trainer.max_epochs=3"]
            straight = run(compose(overrides(root / "a", *extra)))
            run_killed(overrides(root / "b", *extra), KILL_AFTER_EPOCH, 2)
            torch.set_num_threads(before)
            made[method] = (extra, straight, root)
        return made[method]

    return make


def resume_copy(killed, method: str, tmp_path: Path):
    """(the extra overrides, the uninterrupted run's metrics, its root, the args of a fresh copy of the killed run)."""
    import shutil

    extra, straight, root = killed(method)
    shutil.copytree(root / "b", tmp_path / "b")
    return extra, straight, root / "a", overrides(tmp_path / "b", *extra)


# -- a kill, then a rerun, equals an uninterrupted run ----------------------------------------------------
@pytest.mark.parametrize("method", list(CLASSIFICATION))
def test_classification_killed_after_an_epoch_resumes_to_the_uninterrupted_result(
    method, tmp_path, one_thread, killed_after_two_epochs
):
    extra, straight, root_a, args = resume_copy(killed_after_two_epochs, method, tmp_path)
    cfg = compose(args)
    # a killed run leaves no run folder, only its work folder with the epoch-2 and epoch-1 checkpoints
    assert not Path(cfg.run_dir).exists()
    ckpts = work_dir(cfg.run_dir) / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "previous.ckpt"]
    resumed = run(cfg)
    assert resumed["resumed_from"].endswith("last.ckpt") and resumed["resumed_at"]["epoch"] == 2
    assert_same_run(resumed, straight, tmp_path / "b", root_a)
    assert not work_dir(cfg.run_dir).exists()  # published: checkpoints gone, everything in run_dir


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(LM))
def test_language_model_killed_mid_epoch_resumes_to_the_uninterrupted_result(recipe, tmp_path, one_thread):
    """Killed at step 10 (a step checkpoint taken just before that step's validation), resumed: weights,
    optimizer, schedule, the recipe's state, the data position and the validation curve all come back."""
    extra = ["paper=switchlora", *LM[recipe], "checkpoint.every_n_steps=5"]
    straight = run(compose(overrides(tmp_path / "a", *extra)))
    args = overrides(tmp_path / "b", *extra)
    run_killed(args, KILL_AFTER_STEP, 10)
    resumed = run(compose(args))
    assert resumed["resumed_at"]["global_step"] == 10 and resumed["global_steps"] == 20
    assert_same_run(resumed, straight, tmp_path / "b", tmp_path / "a", mid_epoch=True)


# -- corrupt state ------------------------------------------------------------------------------------------
CORRUPTIONS = {
    "random": lambda b: os.urandom(4096),
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupt_last_checkpoint_is_set_aside_and_the_run_resumes_from_the_previous_one(
    kind, tmp_path, one_thread, capsys, killed_after_two_epochs
):
    extra, straight, root_a, args = resume_copy(killed_after_two_epochs, "full", tmp_path)
    cfg = compose(args)
    last = work_dir(cfg.run_dir) / "checkpoints/last.ckpt"
    last.write_bytes(CORRUPTIONS[kind](last.read_bytes()))
    resumed = run(cfg)
    assert "last.ckpt: unreadable checkpoint, moved to last.ckpt.corrupt" in capsys.readouterr().err
    assert resumed["resumed_from"].endswith("previous.ckpt") and resumed["resumed_at"]["epoch"] == 1
    assert not work_dir(cfg.run_dir).exists()  # the set-aside file goes with the work folder once finished
    assert_same_run(resumed, straight, tmp_path / "b", root_a)


def test_with_every_checkpoint_unreadable_the_run_restarts_from_scratch(
    tmp_path, one_thread, capsys, killed_after_two_epochs
):
    extra, straight, root_a, args = resume_copy(killed_after_two_epochs, "full", tmp_path)
    cfg = compose(args)
    for f in (work_dir(cfg.run_dir) / "checkpoints").glob("*.ckpt"):
        f.write_bytes(b"")
    resumed = run(cfg)
    assert capsys.readouterr().err.count("unreadable checkpoint, moved to") == 2
    assert resumed["resumed_from"] is None and resumed["resumed_at"] is None
    assert_same_run(resumed, straight, tmp_path / "b", root_a)


def _save_two_checkpoints(tmp_path: Path) -> Path:
    ckpt_dir = tmp_path / "ckpt"
    trainer, _ = _fit_dropout_net(2, ckpt_dir, fingerprint="fp")
    return ckpt_dir


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_unreadable_checkpoints_are_renamed_corrupt_and_skipped(kind, tmp_path, one_thread):
    ckpt_dir = _save_two_checkpoints(tmp_path)
    last, previous = ckpt_dir / "last.ckpt", ckpt_dir / "previous.ckpt"
    path, where = resumable_checkpoint(ckpt_dir, "fp")
    assert path == last and where == {"epoch": 2, "global_step": 8}
    assert resumable_checkpoint(ckpt_dir, "another config") == (None, {})
    last.write_bytes(CORRUPTIONS[kind](last.read_bytes()))
    path, where = resumable_checkpoint(ckpt_dir, "fp")
    assert path == previous and where == {"epoch": 1, "global_step": 4}
    assert (ckpt_dir / "last.ckpt.corrupt").is_file() and not last.exists()
    previous.write_bytes(CORRUPTIONS[kind](previous.read_bytes()))
    assert resumable_checkpoint(ckpt_dir, "fp") == (None, {})  # from scratch
    assert sorted(p.name for p in ckpt_dir.glob("*.corrupt")) == [
        "last.ckpt.corrupt",
        "previous.ckpt.corrupt",
    ]


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_an_unreadable_metrics_json_marks_the_run_unfinished(kind, tmp_path, capsys):
    cfg = compose(overrides(tmp_path, "method=full"))
    good = json.dumps({"fingerprint": finished_run(cfg)[0], "test_acc": 0.9}).encode()
    f = Path(cfg.run_dir) / "metrics.json"
    f.parent.mkdir(parents=True)
    f.write_bytes(good)
    assert finished_run(cfg)[1] == json.loads(good)
    f.write_bytes(CORRUPTIONS[kind](good))
    assert read_metrics(cfg.run_dir) is None and finished_run(cfg)[1] is None
    assert "metrics.json: unreadable" in capsys.readouterr().err


# -- a failed run leaves nothing half-done -------------------------------------------------------------------
def test_a_run_failing_before_its_first_checkpoint_leaves_no_folder(tmp_path, monkeypatch):
    cfg = compose(overrides(tmp_path, "method=full"))
    run_dir = Path(cfg.run_dir)
    (run_dir / ".hydra").mkdir(parents=True)  # what Hydra creates before the run starts

    def broken(self, *a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(L.Trainer, "fit", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run(cfg)
    assert not run_dir.exists() and not work_dir(run_dir).exists()
    assert list(run_dir.parent.iterdir()) == []


def test_a_run_failing_after_a_checkpoint_keeps_only_its_work_folder(tmp_path, monkeypatch, one_thread):
    cfg = compose(overrides(tmp_path, "method=full", "trainer.max_epochs=2"))
    original = PeriodicCheckpoint.on_train_epoch_end

    def fail_after_first(self, trainer, pl_module):
        original(self, trainer, pl_module)
        raise RuntimeError("boom")

    monkeypatch.setattr(PeriodicCheckpoint, "on_train_epoch_end", fail_after_first)
    with pytest.raises(RuntimeError, match="boom"):
        run(cfg)
    assert not Path(cfg.run_dir).exists()
    assert (work_dir(cfg.run_dir) / "checkpoints/last.ckpt").is_file()
    monkeypatch.undo()
    m = run(cfg)
    assert m["resumed_at"] == {"epoch": 1, "global_step": 16} and m["epochs"] == 2


def test_a_config_error_leaves_no_folder_and_bad_intervals_are_refused(tmp_path):
    cfg = compose(overrides(tmp_path, "method=full", "checkpoint.every_n_epochs=-1"))
    (Path(cfg.run_dir) / ".hydra").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"checkpoint.every_n_epochs: must be an integer >= 0"):
        run(cfg)
    assert not Path(cfg.run_dir).exists()
    with pytest.raises(ConfigError, match="checkpoint.every_n_steps: this run's data cannot resume"):
        run(compose(overrides(tmp_path, "method=full", "checkpoint.every_n_steps=3")))


# -- the checkpoint callback on its own ---------------------------------------------------------------------
class DropoutNet(L.LightningModule):
    """Dropout and a shuffled loader: without the saved RNG states a resumed run draws other masks."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.5), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(32, 6, generator=g)
        ds = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
        return torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True)


def _fit_dropout_net(epochs: int, ckpt_dir: Path | None = None, ckpt_path=None, fingerprint="fp"):
    L.seed_everything(0, verbose=False)
    module = DropoutNet()
    callbacks = [PeriodicCheckpoint(ckpt_dir, fingerprint)] if ckpt_dir else []
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=callbacks,
    )
    trainer.fit(module, ckpt_path=ckpt_path)
    return trainer, module


def test_checkpoints_carry_the_rng_so_a_resumed_dropout_net_matches(tmp_path, one_thread):
    _, straight = _fit_dropout_net(3)
    _fit_dropout_net(1, tmp_path / "ckpt")
    last = tmp_path / "ckpt/last.ckpt"
    state = torch.load(last, weights_only=True)  # plain tensors and numbers only
    assert state["subspacelab"]["fingerprint"] == "fp" and state["subspacelab"]["where"] == "epoch_end"
    assert not list((tmp_path / "ckpt").glob("*.tmp"))  # written under a temporary name, then renamed
    _, resumed = _fit_dropout_net(3, tmp_path / "ckpt2", ckpt_path=str(last))
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_rng_states_round_trip():
    import random

    import numpy as np

    saved = rng_states()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_states(saved)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
