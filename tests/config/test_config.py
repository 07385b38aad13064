import subprocess
import sys

import pytest
from hydra.errors import MissingConfigException

from subspacelab.config import ConfigError, compose, validate
from subspacelab.pipeline.plan import multirun_commands, plan
from subspacelab.pipeline.train import run


def test_contract_settings_apply_per_scale_and_the_command_line_wins():
    cpu = compose(["scale=cpu", "method=intrinsic"])
    assert cpu.trainer.max_epochs == 5 and cpu.train.optimizer.lr == 0.01 and cpu.data.train_size == 20000
    assert list(cpu.train.optimizer.betas) == [0.9, 0.99] and cpu.train.l2 == 1e-4
    smoke = compose(["scale=smoke", "method=intrinsic"])
    assert smoke.data.train_size == 2048
    mine = compose(["scale=cpu", "method=intrinsic", "trainer.max_epochs=9", "data.train_size=100"])
    assert mine.trainer.max_epochs == 9 and mine.data.train_size == 100


def test_a_paper_chooses_its_default_method_and_the_command_line_still_wins():
    assert compose(["paper=intrinsic_dimension"]).method.name == "intrinsic"
    assert compose(["paper=intrinsic_dimension", "method=full"]).method.name == "full"


def test_a_setting_for_a_key_the_chosen_method_lacks_is_skipped():
    cfg = compose(["scale=cpu", "method=full"])
    assert "projection" not in cfg.method
    validate(cfg)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("method.d=abc", "method.d"),
        ("method.d=-5", "method.d"),
        ("method.projection=gauss", "method.projection"),
        ("train.optimizer.lr=-1", "train.optimizer.lr"),
        ("data.batch_size=0", "data.batch_size"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("seed=abc", "seed"),
        ("trainer.max_steps=0", "trainer.max_steps"),  # -1 is "no limit"; 0 would train nothing
        ("trainer.max_steps=-2", "trainer.max_steps"),
        ("data.eval_batch_size=0", "data.eval_batch_size"),  # was a ZeroDivisionError at test time
        ("data.test_size=0", "data.test_size"),
        ("data.val_size=-1", "data.val_size"),
        ("data.split_seed=-1", "data.split_seed"),
        ("trainer.num_threads=0", "trainer.num_threads"),
        ("trainer.num_nodes=0", "trainer.num_nodes"),
        ("trainer.devices=0", "trainer.devices"),
        ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps"),
        ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch"),
        ("trainer.val_check_interval=0", "trainer.val_check_interval"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches"),
        ("trainer.gradient_clip_val=0", "trainer.gradient_clip_val"),
        ("trainer.precision=33", "trainer.precision"),
        ("trainer.accelerator=abacus", "trainer.accelerator"),
        ("train.optimizer.betas=[0.9]", "train.optimizer.betas"),
        ("train.optimizer.eps=0", "train.optimizer.eps"),
        ("train.optimizer.weight_decay=-1", "train.optimizer.weight_decay"),
        ("+typo=1", "typo"),  # Hydra accepts any +key; a run refuses a top-level key it does not know
    ],
)
def test_an_invalid_config_fails_before_training_naming_the_key(override, key, smoke_overrides, tmp_path):
    cfg = compose([*smoke_overrides, "method=intrinsic", override])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run(cfg)
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["paper=gcr", "model.k=33"], "model.k"),
        (["paper=gcr", "model.head=arcface"], "model.head"),
        (["paper=gcr", "data.classes=[0,0]"], "data.classes"),
        (["paper=ulsam", "model.ulsam=both"], "model.ulsam"),
        (["paper=ulsam", "model.ulsam_positions=[3]"], "model.ulsam_positions"),
        (["paper=ulsam", "train.optimizer.name=grassmann_sgd"], "train.optimizer.name"),
    ],
)
def test_architecture_options_are_validated_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose([*overrides, "scale=smoke"]))


@pytest.mark.parametrize(
    ("override", "valid"),
    [
        ("paper=nope", "intrinsic_dimension"),
        ("method=nope", "intrinsic"),
        ("data=nope", "fashion_mnist"),
        ("model=nope", "lenet"),
    ],
)
def test_an_unknown_name_lists_the_valid_ones(override, valid):
    with pytest.raises(MissingConfigException, match=valid):
        compose([override])


def test_the_cli_reports_an_invalid_config_with_exit_code_2(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "subspacelab.train",
            "scale=smoke",
            "method=intrinsic",
            "method.d=0",
            f"runs_root={tmp_path}",
            "logger=none",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "method.d" in out.stderr


def test_the_cpu_plan_has_one_directory_per_run():
    runs = plan("intrinsic_dimension", "cpu")
    assert len(runs) == 2 * 7 * 2 + 2 * 5 + 2 * 2 + 2  # subspace grid + width grid + baselines
    assert len({r.run_dir for r in runs}) == len(runs)
    assert "runs/intrinsic_dimension/cpu/mnist-lenet-fastfood-d300-s1" in {r.run_dir for r in runs}


def test_multirun_commands_cover_the_grid():
    cmds = multirun_commands("intrinsic_dimension", "cpu")
    assert cmds[0][:2] == ["paper=intrinsic_dimension", "scale=cpu"]
    assert "method.d=100,200,300,500,750,1000,1500" in cmds[0]


def test_the_committed_dvc_pipeline_matches_the_contract():
    out = subprocess.run(
        [sys.executable, "-m", "subspacelab.pipeline.dvcgen", "subspace_ad", "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["paper=switchlora", "data.vocab_size=0"], "data.vocab_size"),
        (["paper=switchlora", "data.eval_batch_size=0"], "data.eval_batch_size"),
        (["paper=switchlora", "data.train_tokens=0"], "data.train_tokens"),
        (["paper=switchlora", "data.val_tokens=-5"], "data.val_tokens"),
    ],
)
def test_the_counts_of_a_text_corpus_are_validated_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose([*overrides, "scale=smoke"]))


def test_the_trainer_accepts_what_lightning_accepts():
    """The limits are not stricter than Lightning: no step limit (-1), all devices (-1), a device list."""
    for extra in (
        ["trainer.max_steps=-1"],
        ["trainer.devices=-1"],
        ["trainer.devices=[0,1]"],
        ["trainer.max_steps=5"],
    ):
        validate(compose(["scale=smoke", *extra]))


def _train_cli(*overrides, env=None):
    import os

    return subprocess.run(
        [sys.executable, "-m", "subspacelab.train", "scale=smoke", "logger=none", *overrides],
        capture_output=True,
        text=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "", **(env or {})},
    )


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("model=nosuch", "model=nosuch: no such option; valid: convnet"),
        ("trainer.max_epochs=[", "override 'trainer.max_epochs=['"),
        ("data.nosuch=1", "data.nosuch: not a config key"),
        ("+typo=1", "typo: not a config key"),
        ("trainer.max_steps=0", "trainer.max_steps: must be > 0, or -1"),
    ],
)
def test_the_cli_says_a_user_error_in_one_line_with_exit_code_2(override, says, tmp_path):
    out = _train_cli(override, f"runs_root={tmp_path}")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]  # one line, no traceback
    assert out.stderr.startswith(says), out.stderr
    assert not (tmp_path / "intrinsic_dimension").exists()


def test_hydra_full_error_shows_the_traceback_of_a_user_error(tmp_path):
    out = _train_cli("+typo=1", f"runs_root={tmp_path}", env={"HYDRA_FULL_ERROR": "1"})
    assert out.returncode != 0
    assert "Traceback (most recent call last)" in out.stderr and "typo: not a config key" in out.stderr
