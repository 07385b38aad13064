"""The built results site in headless Chromium (Debian's, driven by playwright over the DevTools protocol):
every page loads with no console error, every image decodes, nothing is fetched from outside the local
server, and the index's filters hide the right rows. Screenshots go to build/site-shots/. Skipped, saying
why, where Chromium or playwright is missing (`make chromium-deps`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "site-shots"
TIMEOUT_MS = 180_000  # a loaded 2-core machine: generous, and never asserted on

IMAGES = "Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}))"
VISIBLE_ROWS = "Array.from(document.querySelectorAll('#sl-papers tbody tr')).filter(r => !r.hidden).map(r => r.dataset.id)"


class Visit:
    """A page that records console errors, uncaught exceptions, failed and off-site requests."""

    def __init__(self, browser, base: str):
        self.base = base
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"exception: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.route("**/*", self._local_only)

    def _local_only(self, route):
        if route.request.url.startswith(self.base):
            route.continue_()
        else:
            self.problems.append(f"off-site request: {route.request.url}")
            route.abort()

    def open(self, path: str) -> list[dict]:
        """Load ``path``; returns its images (src, decoded or not)."""
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
        self.page.wait_for_load_state("networkidle")  # the search worker's index fetch included
        return self.page.evaluate(IMAGES)


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def pages(site: Path) -> list[str]:
    return ["index.html"] + sorted(str(p.relative_to(site)) for p in (site / "papers").rglob("*.html"))


def test_every_page_loads_with_its_images_and_no_console_error(browser, built_site, site_url, shots):
    visit = Visit(browser, site_url)
    reported = sorted(p.parent.name for p in ROOT.glob("reports/*/comparison.json"))
    paths = pages(built_site)
    assert {f"papers/{pid}/index.html" for pid in reported} <= set(paths)
    broken, n_images = [], 0
    for path in paths:
        images = visit.open(path)
        n_images += len(images)
        broken += [f"{path}: {i['src']}" for i in images if not i["ok"]]
        if path == "index.html" or path == "papers/intrinsic_dimension/index.html":
            visit.page.screenshot(path=str(shots / (path.replace("/", "_")[:-5] + ".png")))
    visit.page.close()
    assert not broken, "images that did not load: " + "; ".join(broken)
    assert not visit.problems, "\n".join(visit.problems)
    plots = [
        p for pid in reported for p in (ROOT / "reports" / pid).iterdir() if p.suffix in (".png", ".svg")
    ]
    assert n_images >= len(plots)  # every committed plot is shown somewhere (the build test says where)
    assert (shots / "index.png").stat().st_size > 0


def test_the_index_filters_by_family_and_verdict(browser, built_site, site_url, shots):
    papers = yaml.safe_load((ROOT / "docs" / "papers.yaml").read_text())["papers"]
    reported = {p["id"] for p in papers if (ROOT / "reports" / p["id"] / "comparison.json").is_file()}
    family = "numerical & estimation"
    visit = Visit(browser, site_url)
    visit.open("index.html")
    page = visit.page
    assert len(page.evaluate(VISIBLE_ROWS)) == len(papers)

    page.select_option("#sl-family", family)
    assert page.evaluate(VISIBLE_ROWS) == [p["id"] for p in papers if p["family"] == family]

    page.select_option("#sl-verdict", "reproduced")
    expected = [
        p["id"]
        for p in papers
        if p["family"] == family
        and p["id"] in reported
        and any(
            c["verdict"] == "reproduced" and (c.get("kind") or "paper") == "paper"
            for c in json.loads((ROOT / "reports" / p["id"] / "comparison.json").read_text())["claims"]
        )
    ]
    assert page.evaluate(VISIBLE_ROWS) == expected
    assert page.text_content("#sl-shown") == f"{len(expected)} of {len(papers)} papers shown"

    page.select_option("#sl-family", "")
    page.select_option("#sl-verdict", "not_implemented")
    assert page.evaluate(VISIBLE_ROWS) == [p["id"] for p in papers if p["id"] not in reported]
    page.screenshot(path=str(shots / "index_not_implemented.png"))
    page.close()
    assert not visit.problems, "\n".join(visit.problems)
