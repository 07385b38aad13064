"""Language-model pre-training runs (data.task: lm) through the real pipeline: the SwitchLoRA paper's smoke
grid, gradient accumulation and resume for every recipe, DDP rank agreement, and refusals."""

import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from subspacelab.config import ConfigError, compose
from subspacelab.pipeline import evaluate, report
from subspacelab.pipeline.plan import plan
from subspacelab.pipeline.train import build, run

RECIPES = {
    "full": ["method=full"],
    "lora": ["method=lora"],
    "relora": ["method=relora", "method.restart_every=3", "method.restart_warmup_steps=1"],
    "galore": ["method=galore", "method.rank=4", "method.update_proj_gap=2"],
    "switchlora": ["method=switchlora", "method.interval=10", "method.adam_warm_step=2"],
}


def lm_overrides(tmp_path, *extra):
    return ["paper=switchlora", "scale=smoke", f"runs_root={tmp_path / 'runs'}", "logger=csv", *extra]


def state(module):
    """Every float tensor of the trained network (frozen weights and SwitchLoRA's pools included)."""
    return torch.cat(
        [t.detach().double().flatten() for t in module.net.state_dict().values() if t.is_floating_point()]
    )


def fit(cfg, steps, ckpt_path=None, accumulate=1, save_every=None, save_dir=None):
    """Train ``steps`` optimizer steps; with ``save_every`` a checkpoint is written during training (as an
    interrupted run leaves it), into ``save_dir``."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    L.seed_everything(0, verbose=False)
    dm, module = build(cfg)
    callbacks = (
        [ModelCheckpoint(dirpath=save_dir, every_n_train_steps=save_every, save_top_k=-1)]
        if save_every
        else []
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        max_epochs=100,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        limit_val_batches=0,
        accumulate_grad_batches=accumulate,
        gradient_clip_val=1.0,
        enable_checkpointing=bool(save_every),
        callbacks=callbacks,
    )
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return module


def test_smoke_grid_runs_every_recipe_and_reports_every_claim(tmp_path):
    runs = [
        run(compose([*p.overrides, f"runs_root={tmp_path / 'runs'}", "logger=csv"]))
        for p in plan("switchlora", "smoke")
    ]
    by = {m["method"]: m for m in runs}
    assert set(by) == {"full", "lora", "relora", "galore", "switchlora"}
    for m in runs:
        assert m["global_steps"] == 20 and 1 < m["val_ppl"] < 600 and len(m["curve"]) == 2
        assert m["optimizer_state_bytes"] > 0 and m["training_state_bytes"] > m["trainable_bytes"]
    r = by["lora"]["r"]
    # LoRA's learned update is at most rank r; full-rank training's is not limited
    assert max(v["rank"] for v in by["lora"]["delta_ranks"].values()) <= r
    assert by["full"]["delta_effective_rank_mean"] > by["lora"]["delta_effective_rank_mean"]
    # LoRA-type methods train fewer parameters than full-rank
    assert by["switchlora"]["trainable_parameters"] < by["full"]["trainable_parameters"]
    table = evaluate.run("switchlora", "smoke", runs_root=str(tmp_path / "runs"))
    assert len(table["runs"]) == 5 and not table["missing"]
    out = report.run(
        "switchlora", "smoke", str(tmp_path / "runs"), reports_root=tmp_path / "reports", wandb_log=False
    )
    verdicts = {c["id"]: c["verdict"] for c in out["claims"]}
    assert set(verdicts) >= {
        "ppl_close_to_full_rank",
        "delta_rank_full",
        "communication_reduction",
        "glue_finetuning",
    }
    assert verdicts["glue_finetuning"] == "not_run" and verdicts["communication_reduction"] == "not_run"
    assert verdicts["ppl_close_to_full_rank"] in {"reproduced", "partly", "not_reproduced"}
    assert (Path(out["dir"]) / "switchlora_curves.png").is_file()


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_accumulated_micro_batches_equal_one_larger_batch(recipe, tmp_path):
    base = lm_overrides(tmp_path, *RECIPES[recipe])
    big = fit(compose([*base, "data.batch_size=8"]), steps=4)
    acc = fit(compose([*base, "data.batch_size=4"]), steps=4, accumulate=2)
    assert torch.allclose(state(big), state(acc), atol=2e-5)


@pytest.mark.parametrize("recipe", ["relora", "switchlora", "galore"])
def test_resume_from_checkpoint_equals_an_uninterrupted_run(recipe, tmp_path):
    """Interrupted in the middle of an epoch (the checkpoint ModelCheckpoint writes at step 4), resumed: the
    weights, the optimizer, the recipe's state (switch pointers, generators, ReLoRA's restarts) and the data
    position all come back."""
    cfg = compose(lm_overrides(tmp_path, *RECIPES[recipe]))
    straight = fit(cfg, steps=8, save_every=4, save_dir=tmp_path / "ckpt")
    (half,) = (tmp_path / "ckpt").glob("*step=4.ckpt")
    assert "recipe_state" in torch.load(half, weights_only=True)  # plain tensors (GaLore's projector packed)
    resumed = fit(cfg, steps=8, ckpt_path=str(half))
    assert torch.allclose(state(straight), state(resumed), atol=1e-6)


def test_per_layer_galore_and_mismatched_tasks_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="method.per_layer: per-layer GaLore"):
        run(compose(lm_overrides(tmp_path, "method=galore", "method.per_layer=true")))
    with pytest.raises(
        ConfigError,
        match="method 'intrinsic' does not apply to a lm run; valid: full, galore, lora, relora, switchlora",
    ):
        run(compose(lm_overrides(tmp_path, "method=intrinsic")))
    with pytest.raises(ConfigError, match="method.interval: must be >= 2 x method.adam_warm_step"):
        run(compose(lm_overrides(tmp_path, "method=switchlora", "method.interval=4")))
    with pytest.raises(ConfigError, match="data.name: 'wikipedia' is not valid"):
        run(compose(lm_overrides(tmp_path, "data.name=wikipedia")))
    with pytest.raises(ConfigError, match="trainer.max_steps"):
        run(compose(lm_overrides(tmp_path, "trainer.max_steps=-1")))


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_switch_alike_and_all_reduce_only_the_trainable_bytes(tmp_path):
    """Two CPU processes (gloo) through the real entry point: every rank switches the same vectors (weights,
    frozen W and candidate pools identical at the end) and the comm hook sees exactly the trainable bytes."""
    cmd = [
        sys.executable,
        "-m",
        "subspacelab.train",
        *lm_overrides(tmp_path, *RECIPES["switchlora"])[:3],
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "logger=csv",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (metrics,) = list((tmp_path / "runs").glob("switchlora/smoke/*/metrics.json"))
    m = json.loads(metrics.read_text())
    assert m["world_size"] == 2 and m["ranks_max_abs_diff"] == 0.0
    assert m["allreduce_bytes_per_step"] == m["trainable_bytes"]
    single = run(compose(lm_overrides(tmp_path / "one", *RECIPES["switchlora"])))
    assert m["val_ppl"] == pytest.approx(
        single["val_ppl"], rel=1e-4
    )  # the global batch is split, not changed


def test_grassmann_flows_smoke_grid_compares_the_mixers(tmp_path):
    """The same LM with attention, attention without positions (the matched control) and the Grassmann mixing
    layer, trained and reported; the evaluate stage's scaling analysis times attention and Grassmann over
    sequence lengths."""
    runs = [
        run(compose([*p.overrides, f"runs_root={tmp_path / 'runs'}", "logger=csv"]))
        for p in plan("grassmann_flows", "smoke")
    ]
    assert {m["model"] for m in runs} == {"llama32x1", "grassmann32x1-r16", "llama32x1-nope"}
    assert all(1 < m["val_ppl"] < 600 for m in runs)
    table = evaluate.run("grassmann_flows", "smoke", runs_root=str(tmp_path / "runs"))
    analysis = table["analysis"]
    assert {(r["mixer"], r["seq_len"]) for r in analysis} == {
        (m, n) for m in ("attention", "grassmann") for n in (32, 64, 128)
    }
    assert all(r["seconds"] > 0 for r in analysis)
    out = report.run(
        "grassmann_flows", "smoke", str(tmp_path / "runs"), reports_root=tmp_path / "reports", wandb_log=False
    )
    verdicts = {c["id"]: c["verdict"] for c in out["claims"]}
    assert verdicts["ppl_gap"] in {"partly", "not_reproduced"}  # one seed: at most partly
    gap = next(c for c in out["claims"] if c["id"] == "ppl_gap")
    assert gap["measured"]["judged_against"] == "attention_nope"
    assert verdicts["linear_scaling"] in {"reproduced", "partly", "not_reproduced"}
    assert verdicts["snli_head"] == "not_run"
    assert (Path(out["dir"]) / "grassmann_flows.png").is_file()
