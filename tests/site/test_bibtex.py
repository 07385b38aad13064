"""docs/papers.bib and its reader: one entry per reported paper, agreeing with what the report states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from subspacelab.reporting import bibtex

ROOT = Path(__file__).resolve().parents[2]
REPORTS = sorted((ROOT / "reports").glob("*/comparison.json"))

SAMPLE = """% a comment
@misc{one,
  author = {Sindi{\\v{c}}i{\\'{c}}, Lovro and Kopriva, Ivica},
  title  = {{Nested {Braces} stay}},
  year   = {2025},
}

@inproceedings{two,
  title = {{Two}}, year = {2020}, booktitle = {Conf}}
"""


def plain(title: str) -> str:
    """A BibTeX title as text: case-protecting braces dropped, the one maths macro used here spelled out."""
    return title.replace("$\\ell_p$", "ℓp").replace("{", "").replace("}", "")


def test_parse_reads_each_entry_to_its_closing_brace():
    entries = bibtex.parse(SAMPLE)
    assert list(entries) == ["one", "two"]
    assert entries["one"].startswith("@misc{one,") and entries["one"].endswith("2025},\n}")
    assert bibtex.entry_type(entries["two"]) == "inproceedings"
    f = bibtex.fields(entries["one"])
    assert f == {
        "author": "Sindi{\\v{c}}i{\\'{c}}, Lovro and Kopriva, Ivica",
        "title": "{Nested {Braces} stay}",
        "year": "2025",
    }


def test_parse_refuses_a_duplicate_key_and_unbalanced_braces():
    with pytest.raises(ValueError, match="twice"):
        bibtex.parse("@misc{a, title={x}}\n@misc{a, title={y}}\n")
    with pytest.raises(ValueError, match="unbalanced"):
        bibtex.parse("@misc{a, title={x}\n")


def test_entry_reads_a_given_file_and_answers_none_without_an_entry(tmp_path):
    bib = tmp_path / "papers.bib"
    bib.write_text(SAMPLE)
    assert bibtex.entry("two", bib).startswith("@inproceedings{two,")
    assert bibtex.entry("three", bib) is None
    assert bibtex.entry("one", tmp_path / "absent.bib") is None


def test_keys_are_paper_ids_and_every_reported_paper_has_an_entry():
    ids = {p["id"] for p in yaml.safe_load((ROOT / "docs" / "papers.yaml").read_text())["papers"]}
    keys = set(bibtex.entries())
    assert keys <= ids, f"keys that are not paper ids: {sorted(keys - ids)}"
    missing = {r.parent.name for r in REPORTS} - keys
    assert not missing, f"reported papers without a docs/papers.bib entry: {sorted(missing)}"


@pytest.mark.parametrize("report", REPORTS, ids=lambda p: p.parent.name)
def test_each_entry_agrees_with_its_report(report):
    meta = json.loads(report.read_text())
    text = bibtex.entry(report.parent.name)
    f = bibtex.fields(text)
    assert {"author", "title", "year"} <= set(f), f"missing fields in {report.parent.name}"
    assert bibtex.entry_type(text) in ("article", "inproceedings", "misc")
    assert 1950 <= int(f["year"]) <= 2100
    assert f["eprint"] == meta["arxiv"] and f["archiveprefix"] == "arXiv"
    assert len(f["author"].split(" and ")) == len(meta["authors"].split(", "))
    assert ("booktitle" in f) == (bibtex.entry_type(text) == "inproceedings")
    assert ("journal" in f) == (bibtex.entry_type(text) == "article")
    assert plain(f["title"]) == meta["title"]


def test_each_paper_holds_its_own_entry_and_docs_gathers_them(tmp_path):
    """One entry per ``papers/<id>/paper.bib``, keyed by that id (so a paper's report stage depends on its own entry
    only); ``docs/papers.bib`` is exactly their concatenation (``make readme`` writes it, ``make check`` checks)."""
    for path in sorted((ROOT / "src" / "subspacelab" / "papers").glob("*/paper.bib")):
        assert list(bibtex.entries(path)) == [path.parent.name], path
    assert (ROOT / "docs" / "papers.bib").read_text() == bibtex.combined()
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "paper.bib").write_text("@misc{b,\n  title = {{B}},\n}\n")
    (tmp_path / "a" / "paper.bib").write_text("@misc{a,\n  title = {{A}},\n}\n")
    text = bibtex.combined(tmp_path)
    assert text.startswith(bibtex.HEADER) and text.index("@misc{a,") < text.index("@misc{b,")
    assert list(bibtex.parse(text)) == ["a", "b"]
    assert bibtex.entry("a", tmp_path / "a" / "paper.bib").startswith("@misc{a,")
