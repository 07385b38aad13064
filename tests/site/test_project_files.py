"""The project's basics: LICENSE, CITATION.cff (CFF 1.2.0) and CONTRIBUTING.md agree with each other and
with the Makefile and pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CFF_REQUIRED = ("cff-version", "message", "title", "authors")  # CFF 1.2.0's required keys


def cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_citation_cff_has_the_required_keys_of_cff_1_2_0():
    data = cff()
    missing = [k for k in CFF_REQUIRED if k not in data]
    assert not missing, f"CITATION.cff lacks {missing}"
    assert data["cff-version"] == "1.2.0"
    assert isinstance(data["message"], str) and data["message"].strip()
    assert isinstance(data["title"], str) and data["title"].strip()
    assert data["authors"], "authors: at least one person or entity"
    for author in data["authors"]:
        assert author.get("family-names") or author.get("name"), f"author without a name: {author}"


def test_citation_cff_matches_the_package_version_and_the_licence():
    data = cff()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(data["version"]) == project["version"]
    assert data["license"] == "Apache-2.0"
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence  # the full text, not a stub


def test_contributing_names_only_make_targets_that_exist():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    targets = set(re.findall(r"^([a-zA-Z_-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    named = set(re.findall(r"make ([a-z][a-z-]+)", text))
    assert {"check", "format", "test"} <= named
    assert named <= targets, f"CONTRIBUTING.md names missing targets: {sorted(named - targets)}"
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (ROOT / link).exists(), f"CONTRIBUTING.md links to a missing file: {link}"
