"""The results site's sources and HTML: a small synthetic project, then the committed reports."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from subspacelab.reporting.claims import counts
from subspacelab.reporting.verdict import VERDICTS
from subspacelab.site import catalogue

ROOT = Path(__file__).resolve().parents[2]
PLOT = next(ROOT.glob("reports/*/*.png"))  # any committed figure serves as a valid PNG


class Collector(HTMLParser):
    """The papers table's rows (attributes and cell texts) and every resource URL of a page."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.resources: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-id" in a:
            self.rows.append({**a, "cells": []})
        elif tag == "td" and self.rows:
            self._cell = []
        if (tag in ("img", "script") and a.get("src")) or (tag == "link" and a.get("href")):
            self.resources.append(a.get("src") or a["href"])

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(html_file: Path) -> Collector:
    c = Collector()
    c.feed(html_file.read_text())
    return c


def text_of(html: str) -> str:
    """A page's text: tags dropped, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def claim(verdict, kind="paper", flags=None, note=""):
    return {"id": "c", "kind": kind, "verdict": verdict, "flags": flags or {}, "note": note}


@pytest.fixture
def tiny_project(tmp_path) -> Path:
    """Three papers: alpha reported (with plots and a BibTeX entry), beta partial, gamma not implemented."""
    papers = [
        {"n": 1, "id": "alpha", "title": "Alpha & the <Subspace>", "family": "fam one"},
        {"n": 2, "id": "beta", "title": "Beta", "family": "fam two"},
        {"n": 3, "id": "gamma", "title": "Gamma", "family": "fam one"},
    ]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "papers.yaml").write_text(yaml.safe_dump({"papers": papers}))
    reports = {
        "alpha": [
            claim("reproduced", flags={"stand_in": "smaller"}),
            claim("reproduced"),
            claim("not_reproduced", flags={"stand_in": "x", "post_hoc": "y"}),
            claim("reproduced", kind="check"),
            claim("not_reproduced", kind="check"),
        ],
        "beta": [claim("not_run", note="not implemented yet"), claim("partly")],
    }
    for pid, claims in reports.items():
        d = tmp_path / "reports" / pid
        d.mkdir(parents=True)
        (d / "comparison.json").write_text(json.dumps({"paper": pid, "claims": claims}))
        (d / "comparison.md").write_text(
            f"# {pid} title\n\nSome text.\n\n![shown](shown.png)\n\n[discussion](discussion.md)\n"
        )
    shutil.copy(PLOT, tmp_path / "reports" / "alpha" / "shown.png")
    shutil.copy(PLOT, tmp_path / "reports" / "alpha" / "extra.png")
    shutil.copy(PLOT, tmp_path / "reports" / "beta" / "shown.png")
    (tmp_path / "reports" / "alpha" / "discussion.md").write_text("# Alpha at cpu scale\n\nIt worked.\n")
    (tmp_path / "papers.bib").write_text("@misc{alpha,\n  title = {{Alpha}},\n  year = {2020},\n}\n")
    return tmp_path


def test_catalogue_counts_paper_claims_apart_from_checks(tiny_project):
    papers = {p.id: p for p in catalogue.load(tiny_project)}
    alpha, beta, gamma = papers["alpha"], papers["beta"], papers["gamma"]
    assert alpha.state == "done" and beta.state == "partial" and gamma.state == catalogue.NOT_IMPLEMENTED
    assert alpha.paper_counts == {"reproduced": 2, "partly": 0, "not_reproduced": 1, "not_run": 0}
    assert alpha.check_counts == {"reproduced": 1, "partly": 0, "not_reproduced": 1, "not_run": 0}
    assert alpha.flags == {"stand_in": 2, "post_hoc": 1}
    assert alpha.verdicts == ["reproduced", "not_reproduced"]
    assert [p.name for p in alpha.plots] == ["extra.png", "shown.png"]
    assert not gamma.reported and gamma.plots == [] and gamma.verdicts == []


def test_tiny_project_builds_into_an_index_and_one_page_per_reported_paper(
    mkdocs_ready, tiny_project, tmp_path
):
    from subspacelab.site.build import build

    out = build(
        src=tmp_path / "src", out=tmp_path / "html", root=tiny_project, bib=tiny_project / "papers.bib"
    )
    index = parse(out / "index.html")
    rows = {r["data-id"]: r for r in index.rows}
    assert list(rows) == ["alpha", "beta", "gamma"]
    assert rows["alpha"]["data-verdicts"] == "reproduced not_reproduced"
    assert rows["alpha"]["data-family"] == "fam one"
    assert rows["alpha"]["cells"][1].startswith("Alpha & the <Subspace>")  # escaped in HTML, intact as text
    assert rows["alpha"]["cells"][3:10] == ["done", "2", "0", "1", "0", "1 post hoc, 2 stand-in", "1 of 2"]
    assert rows["beta"]["data-verdicts"] == "partly not_run" and rows["beta"]["cells"][3] == "partial"
    assert rows["gamma"]["data-verdicts"] == "not_implemented"
    assert rows["gamma"]["cells"][3] == "not yet implemented"
    assert not (out / "papers" / "gamma").exists()

    alpha = out / "papers" / "alpha"
    page = (alpha / "index.html").read_text()
    assert {"shown.png", "extra.png"} <= set(parse(alpha / "index.html").resources)
    assert (alpha / "shown.png").read_bytes() == PLOT.read_bytes() and (alpha / "extra.png").is_file()
    assert "More plots" in page and "@misc{alpha," in text_of(page)  # highlighted: tags between tokens
    assert "It worked." in (alpha / "discussion.html").read_text()
    beta = (out / "papers" / "beta" / "index.html").read_text()
    assert "No BibTeX entry yet" in beta and "More plots" not in beta


def test_committed_reports_give_one_row_per_paper_with_their_counts(built_site):
    papers = yaml.safe_load((ROOT / "docs" / "papers.yaml").read_text())["papers"]
    rows = {r["data-id"]: r for r in parse(built_site / "index.html").rows}
    assert list(rows) == [p["id"] for p in papers]
    for pid, row in rows.items():
        report = ROOT / "reports" / pid / "comparison.json"
        if not report.is_file():
            assert row["data-verdicts"] == "not_implemented" and row["cells"][3] == "not yet implemented"
            continue
        n = counts(json.loads(report.read_text())["claims"])["paper"]
        assert row["cells"][4:8] == [str(n[v]) for v in VERDICTS], pid
        page = built_site / "papers" / pid / "index.html"
        for plot in sorted((ROOT / "reports" / pid).glob("*.png")) + sorted(
            (ROOT / "reports" / pid).glob("*.svg")
        ):
            assert (page.parent / plot.name).is_file(), f"{pid}: {plot.name} not copied"
            assert plot.name in parse(page).resources, f"{pid}: {plot.name} not shown"


def test_the_site_loads_nothing_from_the_network(built_site):
    for page in built_site.rglob("*.html"):
        remote = [u for u in parse(page).resources if u.startswith(("http:", "https:", "//"))]
        assert not remote, f"{page.relative_to(built_site)} loads {remote}"
