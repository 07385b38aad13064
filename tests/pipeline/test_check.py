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
