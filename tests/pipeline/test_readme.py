"""The README's papers table is generated from the committed reports and is up to date."""

from pathlib import Path

from subspacelab.pipeline import readme

ROOT = Path(__file__).resolve().parents[2]


def test_readme_papers_table_is_generated_from_the_reports():
    text = (ROOT / "README.md").read_text()
    assert readme.render(text, ROOT) == text, "README.md is out of date: run make readme"


def test_a_not_started_paper_and_a_reported_one(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/papers.yaml").write_text(
        "papers:\n  - {n: 1, id: a, title: A, family: f}\n  - {n: 2, id: b, title: B, family: f}\n"
    )
    (tmp_path / "reports/b").mkdir(parents=True)
    (tmp_path / "reports/b/comparison.json").write_text(
        '{"claims": [{"kind": "paper", "verdict": "reproduced", "flags": {"stand_in": "x"}},'
        ' {"kind": "paper", "verdict": "not_run", "note": "not implemented", "flags": {}},'
        ' {"kind": "check", "verdict": "reproduced", "flags": {}}]}'
    )
    rows = readme.table(tmp_path).splitlines()[2:]
    assert rows[0] == "| 1 | `a` | A | f | not started |  |"
    assert rows[1] == (
        "| 2 | `b` | B | f | **partial** at cpu scale ([report](reports/b/comparison.md)) | "
        "1 / 0 / 0 / 1 · flagged 1 stand-in · checks 1/1 |"
    )
