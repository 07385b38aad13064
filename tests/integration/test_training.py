"""The five tests every training method gets (DESIGN.md), plus the paper's smoke run in-process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from subspacelab.config import ConfigError, compose, validate
from subspacelab.models import build_model
from subspacelab.models.vision import MLP
from subspacelab.pipeline.train import build, run
from subspacelab.subspace import SubspaceModel, make_projection

METHODS = [["method=intrinsic", "method.d=50"], ["method=full"]]


def trainable(module):
    return torch.cat([p.detach().flatten().clone() for p in module.parameters() if p.requires_grad])


def fit(cfg, max_epochs, ckpt_path=None, limit=None, accumulate=1, default_root_dir=None):
    L.seed_everything(0, verbose=False)
    dm, module = build(cfg)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=max_epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        limit_train_batches=limit,
        limit_val_batches=0,
        accumulate_grad_batches=accumulate,
        default_root_dir=default_root_dir,
        enable_checkpointing=default_root_dir is not None,
    )
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return trainer, module


def test_smoke_run_yields_the_papers_metrics(smoke_overrides, tmp_path):
    cfg = compose([*smoke_overrides[:-1], "logger=wandb", "method=full", "train.optimizer.lr=0.001"])
    m = run(cfg)
    run_dir = tmp_path / "runs/intrinsic_dimension/smoke/mnist-fc200x2-full-s0"
    assert json.loads((run_dir / "metrics.json").read_text()) == m
    assert m["test_acc"] > 0.6  # a full-space MLP learns MNIST from 2k images in 2 epochs
    assert m["D"] == 199_210 and m["trainable_parameters"] == 199_210
    assert m["step_seconds"] > 0 and m["peak_rss_mib"] > 0 and m["data_provenance"]["exact"]
    (offline,) = list((run_dir / "wandb").glob("offline-run-*/*.wandb"))
    # the training loss reaches W&B although the run is shorter than trainer.log_every_n_steps (50)
    assert b"train/loss_epoch" in offline.read_bytes()
    assert (
        not (run_dir / "checkpoints").exists() and not (run_dir.parent / f".{run_dir.name}.partial").exists()
    )
    env = m["environment"]  # provenance: what the numbers may depend on besides the config
    assert torch.__version__.startswith(env["packages"]["torch"]) and env["packages"]["numpy"]
    assert env["torch_threads"] == torch.get_num_threads() and env["cpu"]["torch_capability"]
    assert env["cpu"]["isa_flags"] or not Path("/proc/cpuinfo").is_file()

    again = run(cfg)  # finished: not redone
    assert again["finished_at"] == m["finished_at"]


def test_subspace_smoke_run_trains_only_z_and_saves_the_compressed_model(smoke_overrides, tmp_path):
    m = run(compose([*smoke_overrides, "method=intrinsic", "method.d=500"]))
    assert m["trainable_parameters"] == 500 and m["d"] == 500 and m["projection"] == "fastfood"
    saved = torch.load(
        tmp_path / "runs/intrinsic_dimension/smoke" / m["run_name"] / "model.pt", weights_only=True
    )
    assert set(saved["state"]) == {"z"} and saved["state"]["z"].abs().sum() > 0
    # the random subspace comes back from the saved seeds: same test accuracy from (seeds, z) alone
    net = SubspaceModel(
        build_model(MLP, saved["init_seed"]),
        make_projection("fastfood", 199_210, 500, saved["projection_seed"]),
    )
    net.z.data.copy_(saved["state"]["z"])
    dm, _ = build(compose([*smoke_overrides, "method=intrinsic", "method.d=500"]))
    dm.setup()
    x, y = dm.test_set[list(range(len(dm.test_set)))]
    with torch.no_grad():
        acc = (net(x).argmax(1) == y).float().mean().item()
    assert acc == pytest.approx(m["test_acc"], abs=1e-6)


@pytest.mark.parametrize("method", METHODS, ids=["intrinsic", "full"])
def test_resume_from_checkpoint_equals_an_uninterrupted_run(method, smoke_overrides, tmp_path):
    cfg = compose([*smoke_overrides, *method])
    _, straight = fit(cfg, max_epochs=2, limit=6)
    trainer, _ = fit(cfg, max_epochs=1, limit=6, default_root_dir=tmp_path / "a")
    ckpt = tmp_path / "a.ckpt"
    trainer.save_checkpoint(ckpt)
    _, resumed = fit(cfg, max_epochs=2, limit=6, ckpt_path=str(ckpt))
    assert torch.equal(trainable(straight), trainable(resumed))
    # checkpoints hold plain tensors: they load with weights_only=True
    state = torch.load(ckpt, weights_only=True)
    assert "state_dict" in state and "optimizer_states" in state


@pytest.mark.parametrize("method", METHODS, ids=["intrinsic", "full"])
def test_accumulated_micro_batches_equal_one_larger_batch(method, smoke_overrides):
    base = [
        *smoke_overrides,
        *method,
        "train.optimizer.name=sgd",
        "train.optimizer.lr=0.1",
        "train.optimizer.betas=null",
        "train.optimizer.eps=null",
    ]
    _, big = fit(compose([*base, "data.batch_size=128"]), max_epochs=1, limit=3)
    _, acc = fit(compose([*base, "data.batch_size=64"]), max_epochs=1, limit=6, accumulate=2)
    assert torch.allclose(trainable(big), trainable(acc), atol=1e-6)


def test_an_interrupted_run_resumes_from_its_checkpoint(smoke_overrides, tmp_path):
    """A checkpoint left in run_dir/checkpoints by a run from before work folders is adopted and resumed (the
    pipeline's own kill-and-resume tests are in tests/pipeline/test_resume.py)."""
    overrides = [*smoke_overrides, "method=intrinsic", "method.d=50"]
    cfg = compose(overrides)
    from subspacelab.pipeline.runinfo import fingerprint

    run_dir = tmp_path / "runs/intrinsic_dimension/smoke" / cfg.run_name
    trainer, _ = fit(cfg, max_epochs=1, default_root_dir=tmp_path / "x")
    (run_dir / "checkpoints").mkdir(parents=True)
    trainer.save_checkpoint(run_dir / "checkpoints/last.ckpt")
    (run_dir / "checkpoints/fingerprint.txt").write_text(fingerprint(cfg))
    m = run(cfg)
    assert m["resumed_from"].endswith("last.ckpt") and m["epochs"] == 2
    assert m["resumed_at"] == {"epoch": 1, "global_step": 16}


@pytest.mark.slow
@pytest.mark.ddp
@pytest.mark.parametrize("method", METHODS, ids=["intrinsic", "full"])
def test_ddp_ranks_end_identical(method, tmp_path):
    """Two CPU processes (gloo) through the real entry point; rank agreement measured by all_gather."""
    cmd = [
        sys.executable,
        "-m",
        "subspacelab.train",
        "scale=smoke",
        *method,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"runs_root={tmp_path}",
        "logger=csv",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (metrics,) = list(tmp_path.glob("intrinsic_dimension/smoke/*/metrics.json"))
    m = json.loads(metrics.read_text())
    assert m["world_size"] == 2
    assert m["ranks_max_abs_diff"] == 0.0


def test_unsupported_batch_split_is_refused(smoke_overrides):
    dm, _ = build(compose([*smoke_overrides, "method=full", "data.batch_size=5"]))

    class T:
        world_size, global_rank = 2, 0

    dm.trainer = T()
    dm.setup()
    with pytest.raises(ValueError, match="not divisible"):
        dm.train_dataloader()


def test_a_method_without_a_builder_for_the_task_is_refused(smoke_overrides):
    with pytest.raises(ConfigError, match=r"method.targets.classification: method 'lora' does not apply"):
        validate(compose([*smoke_overrides, "method=lora"]))


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_run_killed_after_an_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    """Two gloo ranks through the real entry point: every rank SIGKILLs itself right after epoch 2's checkpoint
    (after a barrier, so the kill never races the write); the rerun resumes from it on two ranks and ends with
    the uninterrupted two-rank run's metrics and weights."""
    from subspacelab.lit.callbacks import KILL_AFTER_EPOCH

    def train(root, env=None):
        cmd = [sys.executable, "-m", "subspacelab.train", "scale=smoke", "method=intrinsic", "method.d=50"]
        cmd += ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=3"]
        cmd += [f"runs_root={root}", "logger=csv"]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
        )

    straight = train(tmp_path / "a")
    assert straight.returncode == 0, straight.stderr[-3000:]
    killed = train(tmp_path / "b", {KILL_AFTER_EPOCH: "2"})
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not list((tmp_path / "b").glob("intrinsic_dimension/smoke/*/metrics.json"))
    (ckpt,) = list((tmp_path / "b").glob("intrinsic_dimension/smoke/.*.partial/checkpoints/last.ckpt"))
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1  # epochs 0 and 1 done: the one after 2 epochs
    resumed = train(tmp_path / "b")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (a,), (b,) = (list((tmp_path / r).glob("intrinsic_dimension/smoke/*/metrics.json")) for r in "ab")
    ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
    assert mb["resumed_at"]["epoch"] == 2 and mb["world_size"] == 2 and mb["ranks_max_abs_diff"] == 0.0
    volatile = {
        "step_seconds",
        "fit_seconds",
        "process_seconds",
        "peak_rss_mib",
        "cuda_peak_mib",
        "finished_at",
    }
    volatile |= {"resumed_from", "resumed_at", "environment"}
    assert {k: v for k, v in ma.items() if k not in volatile} == {
        k: v for k, v in mb.items() if k not in volatile
    }
    wa, wb = (torch.load(p.parent / "model.pt", weights_only=True)["state"] for p in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
