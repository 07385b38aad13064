"""Fixtures of the results-site tests: the site built once from the committed reports, a local HTTP server
for it, and a headless Chromium driven by playwright (skipped, saying why, where either is missing)."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "site-shots"


def mkdocs_missing() -> str | None:
    """Why the site cannot be built here (None when it can)."""
    for module, dist in (("mkdocs", "mkdocs"), ("material", "mkdocs-material")):
        if importlib.util.find_spec(module) is None:
            return f"{dist} is not installed; `make install` (or pip install -e '.[site]') installs it"
    return None


def chromium_path() -> str | None:
    """The Chromium to drive: $SUBSPACELAB_CHROMIUM, else chromium / chromium-browser on PATH."""
    if os.environ.get("SUBSPACELAB_CHROMIUM"):
        return os.environ["SUBSPACELAB_CHROMIUM"]
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


def browser_missing() -> str | None:
    """Why no headless Chromium can be driven here (None when it can)."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed; `make install` installs it (the dev extra)"
    if chromium_path() is None:
        return "Chromium is not installed; `make chromium-deps` installs Debian's chromium (as root)"
    return None


@pytest.fixture(scope="session")
def mkdocs_ready() -> None:
    """Skips, saying why, where MkDocs or its Material theme is not installed."""
    reason = mkdocs_missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def built_site(mkdocs_ready, tmp_path_factory) -> Path:
    """The site built from the committed reports, into a temporary folder."""
    from subspacelab.site.build import build

    tmp = tmp_path_factory.mktemp("site")
    return build(src=tmp / "src", out=tmp / "html", root=ROOT)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="session")
def site_url(built_site):
    """A local HTTP server for the built site (search runs in a web worker, which file:// forbids)."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (the system's, not a download) under playwright."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), headless=True)
        yield chromium
        chromium.close()
