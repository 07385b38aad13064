"""``make site``: write the MkDocs sources of the results site and build it.

    python -m subspacelab.site.build [--src build/site-src] [--out build/site]

Sources go to ``<src>/docs`` (rewritten on every build) with ``<src>/mkdocs.yml``; the static HTML goes to
``<out>``. The theme is Material with its web fonts off and its own bundled scripts only, so the site
needs no network. Opened from disk (``<out>/index.html``) every page, plot and filter works but search,
which runs in a web worker that browsers refuse to file:// pages; serve the folder for search
(``python -m http.server -d build/site``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import yaml

from subspacelab.reporting.bibtex import BIB
from subspacelab.site import catalogue
from subspacelab.site.pages import index_page, paper_href, write_paper

ASSETS = {"js/filter.js": "filter.js", "css/site.css": "site.css"}


def mkdocs_config(papers: list[catalogue.Paper]) -> dict:
    """The MkDocs config: Material without web fonts, search, the filter script, a nav of the reports."""
    return {
        "site_name": "SubspaceLab results",
        "site_description": "Claim-by-claim verdicts of SubspaceLab's reproductions of subspace-technique papers",
        "docs_dir": "docs",
        "use_directory_urls": False,  # pages are <name>.html files: the site also opens from disk
        "theme": {
            "name": "material",
            "font": False,  # Material would fetch Google Fonts otherwise; system fonts keep it offline
            "features": ["navigation.top", "content.code.copy", "search.highlight"],
            "palette": {"primary": "indigo", "accent": "indigo"},
        },
        "plugins": ["search"],  # not "offline": it loads a shim from unpkg.com; search needs http(s)
        "markdown_extensions": [
            "tables",
            "attr_list",
            "md_in_html",
            "admonition",
            {"toc": {"permalink": True}},
            "pymdownx.highlight",
            "pymdownx.superfences",
        ],
        "extra_css": ["css/site.css"],
        "extra_javascript": ["js/filter.js"],
        "nav": [
            {"All papers": "index.md"},
            {"Reports": [{f"{p.n}. {p.id}": paper_href(p)} for p in papers if p.reported]},
        ],
        "validation": {
            "omitted_files": "info",  # the discussion pages are reached from their report, not the nav
            "absolute_links": "warn",
            "unrecognized_links": "warn",
            "anchors": "warn",
        },
    }


def write_sources(src: Path, root: Path = Path("."), bib: Path = BIB) -> Path:
    """Write ``src``/docs (index, paper pages, plots, assets) and ``src``/mkdocs.yml; returns the config."""
    docs = src / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    docs.mkdir(parents=True)
    papers = catalogue.load(root)
    (docs / "index.md").write_text(index_page(papers))
    for paper in papers:
        if paper.reported:
            write_paper(paper, docs / "papers" / paper.id, bib)
    assets = files("subspacelab.site") / "assets"
    for target, name in ASSETS.items():
        (docs / target).parent.mkdir(parents=True, exist_ok=True)
        (docs / target).write_text(assets.joinpath(name).read_text())
    config = src / "mkdocs.yml"
    config.write_text(yaml.safe_dump(mkdocs_config(papers), sort_keys=False, allow_unicode=True))
    return config


def build(
    src: Path = Path("build/site-src"),
    out: Path = Path("build/site"),
    root: Path = Path("."),
    bib: Path = BIB,
) -> Path:
    """Write the sources and run ``mkdocs build --strict`` (any warning fails); returns ``out``."""
    config = write_sources(src, root, bib)
    out = out.resolve()
    cmd = [
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--clean",
        "-q",
        "-f",
        str(config),
        "-d",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mkdocs build failed ({' '.join(cmd)}):\n{done.stdout}{done.stderr}")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=Path("build/site-src"), help="where the MkDocs sources go")
    ap.add_argument("--out", type=Path, default=Path("build/site"), help="where the HTML goes")
    args = ap.parse_args(argv)
    out = build(args.src, args.out)
    print(f"[site] {out / 'index.html'}")


if __name__ == "__main__":
    main()
