"""The site's Markdown sources: the papers index and one page per reported paper.

The index is a plain HTML table (Material styles it) whose rows carry the paper's family and verdicts as
data attributes, read by ``assets/filter.js``. A paper's page is its ``comparison.md`` (claims tables,
notes, plots, runs) followed by any plot that page does not show and the paper's BibTeX entry; its
``discussion.md`` becomes a second page, which ``comparison.md`` already links to.
"""

from __future__ import annotations

import re
import shutil
from html import escape
from pathlib import Path

from subspacelab.reporting.bibtex import entry as bibtex_entry
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED, VERDICTS
from subspacelab.site.catalogue import NOT_IMPLEMENTED, Paper

VERDICT_LABELS = {
    REPRODUCED: "reproduced",
    PARTLY: "partly",
    NOT: "not reproduced",
    NOT_RUN: "not run",
    "not_implemented": NOT_IMPLEMENTED,
}
STATE_CLASS = {
    "done": "sl-state-done",
    "partial": "sl-state-partial",
    NOT_IMPLEMENTED: "sl-state-not-implemented",
}
FLAG_LABELS = {"reconstructed": "reconstructed", "post_hoc": "post hoc", "stand_in": "stand-in"}
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")


def paper_href(paper: Paper) -> str:
    """The paper page's path inside the docs folder."""
    return f"papers/{paper.id}/index.md"


def _option(value: str, label: str) -> str:
    return f'<option value="{escape(value)}">{escape(label)}</option>'


def _row(p: Paper) -> str:
    verdicts = " ".join(p.verdicts) if p.reported else "not_implemented"
    title = escape(p.title)
    if p.reported:
        title = f'<a href="papers/{p.id}/index.html">{title}</a>'
    cells = [f'<td class="sl-num">{p.n}</td>', f"<td>{title}<br><code>{p.id}</code></td>"]
    cells.append(f"<td>{escape(p.family)}</td>")
    cells.append(f'<td class="{STATE_CLASS[p.state]}">{escape(p.state)}</td>')
    if p.reported:
        cells += [f'<td class="sl-num">{p.paper_counts[v]}</td>' for v in VERDICTS]
        flags = ", ".join(f"{k} {FLAG_LABELS.get(f, f)}" for f, k in sorted(p.flags.items()))
        cells.append(f"<td>{flags or '—'}</td>")
        checks = f"{p.check_counts[REPRODUCED]} of {sum(p.check_counts.values())}"
        cells.append(f'<td class="sl-num">{checks}</td>')
    else:
        cells += ["<td></td>"] * (len(VERDICTS) + 2)
    attrs = f'data-id="{p.id}" data-family="{escape(p.family)}" data-verdicts="{verdicts}"'
    return f"<tr {attrs}>{''.join(cells)}</tr>"


def index_page(papers: list[Paper]) -> str:
    """The home page: totals, the two filters and the table of every paper."""
    reported = [p for p in papers if p.reported]
    totals = {v: sum(p.paper_counts[v] for p in reported) for v in VERDICTS}
    checks_passed = sum(p.check_counts[REPRODUCED] for p in reported)
    checks_all = sum(sum(p.check_counts.values()) for p in reported)
    families = sorted({p.family for p in papers})
    head = [
        "#",
        "Paper",
        "Family",
        "Status",
        *(VERDICT_LABELS[v] for v in VERDICTS),
        "Flagged",
        "Checks passed",
    ]
    return "\n".join(
        [
            "---",
            "hide: [navigation, toc]",  # Material: the table gets the page's whole width
            "---",
            "",
            "# SubspaceLab results",
            "",
            f"{len(reported)} of the project's {len(papers)} papers have a report at cpu scale; the others are "
            "listed as not yet implemented. The verdict columns count each paper's own claims only; the "
            "project's checks (time budgets, properties true by construction, sanity baselines) are counted "
            "apart, and *Flagged* counts paper claims whose verdict is qualified (*reconstructed*, "
            "*post hoc*, *stand-in*; each report says which and why).",
            "",
            "Across the reports, paper claims: "
            + ", ".join(f"**{totals[v]}** {VERDICT_LABELS[v]}" for v in VERDICTS)
            + f". Project checks passed: {checks_passed} of {checks_all}.",
            "",
            '<div class="sl-filters">',
            '<label>Family <select id="sl-family">'
            + _option("", "all families")
            + "".join(_option(f, f) for f in families)
            + "</select></label>",
            '<label>Verdict <select id="sl-verdict">'
            + _option("", "any")
            + "".join(_option(v, f"has a claim {VERDICT_LABELS[v]}") for v in VERDICTS)
            + _option("not_implemented", NOT_IMPLEMENTED)
            + "</select></label>",
            f'<span id="sl-shown" aria-live="polite">{len(papers)} of {len(papers)} papers shown</span>',
            "</div>",
            "",
            '<table id="sl-papers">',
            "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>",
            "<tbody>",
            *(_row(p) for p in papers),
            "</tbody>",
            "</table>",
            "",
        ]
    )


def _shown_images(markdown: str) -> set[str]:
    return {m.group(1) for m in _IMAGE.finditer(markdown)}


def paper_page(paper: Paper, bib_path: Path | None = None) -> str:
    """A reported paper's page: its comparison.md, the plots it does not show, and its BibTeX entry."""
    text = (paper.report_dir / "comparison.md").read_text()
    first, _, rest = text.partition("\n")
    status = f"Status: **{paper.state}** at cpu scale · family: {paper.family} · [all papers](../../index.md)"
    parts = [first, "", status, rest.rstrip(), ""]
    discussion = paper.report_dir / "discussion.md"
    shown = _shown_images(text) | (_shown_images(discussion.read_text()) if discussion.is_file() else set())
    unshown = [p.name for p in paper.plots if p.name not in shown]
    if unshown:
        parts += ["## More plots", ""] + [f"![{Path(n).stem}]({n})\n" for n in unshown]
    bib = bibtex_entry(paper.id, bib_path) if bib_path else bibtex_entry(paper.id)
    parts += ["## Cite the paper", ""]
    if bib:
        parts += ["```bibtex", bib, "```", ""]
    else:
        parts += [
            f"No BibTeX entry yet: add one keyed `{paper.id}` in `src/subspacelab/papers/{paper.id}/paper.bib`, then `make readme`.",
            "",
        ]
    return "\n".join(parts)


def discussion_page(paper: Paper) -> str:
    """The hand-written discussion (or a line saying there is none), with a link back to the report."""
    src = paper.report_dir / "discussion.md"
    body = src.read_text().rstrip() if src.is_file() else f"# {paper.title}\n\nNo discussion written yet."
    return f"{body}\n\n[Back to the report](index.md)\n"


def write_paper(paper: Paper, folder: Path, bib_path: Path | None = None) -> None:
    """``folder``/index.md, discussion.md and a copy of every plot of the paper's report."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.md").write_text(paper_page(paper, bib_path))
    (folder / "discussion.md").write_text(discussion_page(paper))
    for plot in paper.plots:
        shutil.copy2(plot, folder / plot.name)
