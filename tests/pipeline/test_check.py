"""``pipeline.check``'s test-name rule: the test folders are not packages, so two test files of one name stop
pytest's collection (the clean-clone CI failed on it once); check names them before the suite starts."""

from __future__ import annotations

from pathlib import Path

from subspacelab.pipeline.check import shared_test_names


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


def test_a_test_file_name_in_two_folders_is_one_problem_naming_both(tmp_path):
    for rel in ("a/test_objectives.py", "b/test_objectives.py", "b/test_other.py", "a/helper.py"):
        _touch(tmp_path / rel)
    (line,) = shared_test_names(tmp_path)
    assert str(tmp_path / "a/test_objectives.py") in line and str(tmp_path / "b/test_objectives.py") in line


def test_distinct_names_are_no_problem_and_the_repositorys_tests_have_them(tmp_path):
    for rel in ("a/test_one.py", "b/test_two.py", "test_three.py"):
        _touch(tmp_path / rel)
    assert shared_test_names(tmp_path) == []
    assert shared_test_names(Path(__file__).parents[1]) == []


def test_a_paper_whose_generated_files_drifted_is_named_with_the_fix(tmp_path):
    import shutil

    from subspacelab.pipeline.check import paper_problems

    root = Path(__file__).parents[2]
    shutil.copytree(root / "pipelines" / "mhs_vm", tmp_path / "pipelines" / "mhs_vm")
    assert paper_problems("mhs_vm", tmp_path) == []
    params = tmp_path / "pipelines" / "mhs_vm" / "params.yaml"
    params.write_text(params.read_text().replace("epochs: 2", "epochs: 3", 1))
    (line,) = paper_problems("mhs_vm", tmp_path)
    assert line == f"{params}: out of date with conf/paper/mhs_vm.yaml; run make dvc-yaml PAPER=mhs_vm"


def test_the_contract_is_composed_once_per_state_of_the_config_tree(monkeypatch):
    from subspacelab.pipeline import plan

    plan._composed_contract.cache_clear()
    first = plan.load_contract("mhs_vm")
    first.title = "changed by a caller"  # each caller's copy is its own
    assert plan.load_contract("mhs_vm").title != "changed by a caller"
    assert plan._composed_contract.cache_info().misses == 1
    monkeypatch.setattr(plan, "_conf_signature", lambda: ("another state",))
    plan.load_contract("mhs_vm")
    assert plan._composed_contract.cache_info().misses == 2
