"""A paper's params file (pipelines/<id>/params.yaml): DVC's train stages take their scale's settings from it, so
a run composed from it is the run the contract defines, and a value changed in it (dvc exp run -S) reaches the run."""

import pytest
import yaml

from subspacelab.config import ConfigError, compose
from subspacelab.config.params_file import flatten, nest, read_settings
from subspacelab.pipeline.dvcgen import params_path, render_params
from subspacelab.pipeline.plan import grid_overrides, load_contract
from subspacelab.pipeline.runinfo import fingerprint


def test_nest_puts_group_choices_apart_and_flatten_undoes_it():
    settings = {"data": "mnist", "data.train_size": 2048, "train.optimizer.lr": 0.01, "method.d": [1, 2]}
    section = nest(settings)
    assert section == {
        "groups": {"data": "mnist"},
        "data": {"train_size": 2048},
        "train": {"optimizer": {"lr": 0.01}},
        "method": {"d": [1, 2]},
    }
    assert flatten(section) == settings


def test_a_key_that_is_both_a_value_and_a_section_is_refused():
    with pytest.raises(ValueError, match="'a.b.c'"):
        nest({"a.b": 1, "a.b.c": 2})


def test_a_missing_file_or_scale_names_it_and_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="params_file: .*nope.yaml does not exist; regenerate"):
        read_settings(tmp_path / "nope.yaml", "cpu")
    f = tmp_path / "params.yaml"
    f.write_text("smoke: {}\n")
    with pytest.raises(ConfigError, match="no section for scale 'cpu'"):
        read_settings(f, "cpu")


@pytest.mark.parametrize(
    ("paper", "scale"),
    [
        ("intrinsic_dimension", "smoke"),  # a training paper: a group choice (data: mnist) beside data.* keys
        ("xfactors", "cpu"),  # an experiment paper: its dataclass defaults and the scale's settings
        ("s2cag", "cpu"),  # an experiment paper whose grid sets experiment.* keys per run
    ],
)
def test_a_run_composed_from_the_params_file_is_the_contracts_run(paper, scale):
    for point in grid_overrides(load_contract(paper), scale)[:3]:
        user = [f"paper={paper}", f"scale={scale}", *point]
        from_contract = compose(user)
        from_file = compose([*user, f"params_file={params_path(paper)}"])
        assert fingerprint(from_file) == fingerprint(from_contract)
        assert from_file.run_dir == from_contract.run_dir


def test_the_committed_params_file_is_the_contracts():
    assert open(params_path("xfactors")).read() == render_params("xfactors")


def test_a_value_changed_in_the_params_file_reaches_the_run_and_only_its_scale(tmp_path):
    sections = yaml.safe_load(open(params_path("xfactors")))
    sections["cpu"]["experiment"]["steps"] = 7
    edited = tmp_path / "params.yaml"
    edited.write_text(yaml.safe_dump(sections))
    cpu = compose(["paper=xfactors", "scale=cpu", "seed=1", f"params_file={edited}"])
    assert cpu.experiment.steps == 7
    smoke = compose(["paper=xfactors", "scale=smoke", "seed=1", f"params_file={edited}"])
    assert smoke.experiment.steps == 3
    assert (
        compose(
            ["paper=xfactors", "scale=cpu", "seed=1", f"params_file={edited}", "experiment.steps=9"]
        ).experiment.steps
        == 9
    )
