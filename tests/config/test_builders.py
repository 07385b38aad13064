"""Models and methods are found from their configs (``_target_`` / ``targets``), declare their option schemas
beside their code, and a training run depends on the code of its own model and method only."""

import hashlib
import subprocess
import sys

import pytest
import yaml

from subspacelab.config import ConfigError, compose, validate
from subspacelab.config.compose import CONF_DIR
from subspacelab.configurable import locate
from subspacelab.pipeline import coderecord
from subspacelab.pipeline.dvcgen import training_code

SMOKE = ["paper=intrinsic_dimension", "scale=smoke"]


@pytest.mark.parametrize("group", coderecord.GROUPS)
def test_every_config_names_builders_that_declare_their_name_schema_and_task(group):
    for name in coderecord.config_names(group):
        cfg = coderecord._own_config(group, name)
        key = "arch" if group == "model" else "name"
        tasks = {"classification", "lm"}
        for task, target in ({"?": cfg["_target_"]} if group == "model" else cfg["targets"]).items():
            builder = locate(target, f"{group}._target_")
            assert builder.registered_name == cfg[key], (name, target)
            assert builder.task in tasks and task in (builder.task, "?"), (name, target)
            assert hasattr(builder.config_schema, "__dataclass_fields__")


def test_full_builds_a_different_thing_per_task():
    cfg = yaml.safe_load((CONF_DIR / "method" / "full.yaml").read_text())
    classification, lm = (locate(cfg["targets"][t], "t") for t in ("classification", "lm"))
    assert classification.__module__ == "subspacelab.methods.full"
    assert lm.__module__ == "subspacelab.lowrank.recipes" and classification is not lm


def test_an_option_the_schema_lacks_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"^model\.widht"):
        validate(compose([*SMOKE, "model=fc", "+model.widht=3"]))
    with pytest.raises(ConfigError, match=r"^method\.d: must be a positive integer"):
        validate(compose([*SMOKE, "method=intrinsic", "method.d=0"]))


def test_a_builder_that_cannot_be_imported_is_a_one_line_config_error():
    with pytest.raises(
        ConfigError, match=r"^model\._target_: cannot import 'subspacelab.models.vision.Nope'"
    ):
        validate(compose([*SMOKE, "model=fc", "model._target_=subspacelab.models.vision.Nope"]))
    with pytest.raises(ConfigError, match=r"^model\._target_: .* declares no option schema"):
        validate(compose([*SMOKE, "model=fc", "model._target_=torch.nn.Linear"]))
    with pytest.raises(ConfigError, match=r"^model\.arch: 'lenet' does not match"):
        validate(compose([*SMOKE, "model=fc", "model.arch=lenet"]))


def test_a_method_of_another_task_is_refused():
    with pytest.raises(ConfigError, match=r"method 'galore' does not apply to a classification run"):
        validate(compose([*SMOKE, "method=galore"]))


def test_the_run_machinery_imports_no_model_or_method():
    """What every run of a task depends on names no model or method module, so a new one stales nothing."""
    for task in ("classification", "lm"):
        code = set(training_code(task))
        for module in ("vision", "gcr", "ulsam", "lm", "grassmann"):
            assert f"src/subspacelab/models/{module}.py" not in code, (task, module)
        assert not {"src/subspacelab/methods/full.py", "src/subspacelab/methods/intrinsic.py"} & code
    assert "src/subspacelab/lowrank/recipes.py" not in training_code("classification")


def test_a_models_record_covers_its_own_code_and_not_other_models():
    fc, gcr = coderecord.code_files("model", "fc"), coderecord.code_files("model", "gcr_resnet")
    assert "src/subspacelab/models/vision.py" in fc and "src/subspacelab/models/gcr.py" not in fc
    assert "src/subspacelab/models/gcr.py" in gcr and "src/subspacelab/models/vision.py" not in gcr
    stage = coderecord.stages()["model-fc"]
    assert stage["deps"] == fc and stage["outs"] == [{"data/code/model-fc.json": {"cache": False}}]


def test_the_record_hashes_exactly_the_stage_dependencies(tmp_path):
    root = CONF_DIR.parent
    rec = coderecord.record("method", "intrinsic", root=root)
    assert list(rec["files"]) == coderecord.code_files("method", "intrinsic")
    f = "src/subspacelab/methods/intrinsic.py"
    assert rec["files"][f] == hashlib.sha256((root / f).read_bytes()).hexdigest()


def test_the_record_cli_refuses_an_unknown_name_in_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "subspacelab.pipeline.coderecord", "model", "nosuch"],
        capture_output=True,
        text=True,
        cwd=CONF_DIR.parent,
    )
    assert out.returncode == 2 and "no conf/model/nosuch.yaml" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_subspace_larger_than_the_model_is_a_one_line_error_at_build_time(tmp_path):
    from torch import nn

    from subspacelab.methods.intrinsic import random_subspace

    with pytest.raises(
        ConfigError, match=r"^method\.d: must be at most the model's parameter count D = 54, got 55"
    ):
        random_subspace(nn.Linear(5, 9), d=55)
    assert random_subspace(nn.Linear(5, 9), d=54).z.numel() == 54  # d = D is allowed
    run = subprocess.run(
        [sys.executable, "-m", "subspacelab.train", *SMOKE, "method.d=10000000", f"run_dir={tmp_path}/r"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .startswith("method.d: must be at most the model's parameter count")
    )
    assert not (tmp_path / "r").exists()
