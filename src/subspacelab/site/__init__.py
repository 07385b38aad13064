"""The results site (``make site``): a static MkDocs (Material theme) site built from ``reports/``.

``catalogue`` reads every paper's status and verdict counts, ``pages`` writes the Markdown sources
(an index filterable by family and verdict, one page per reported paper), ``build`` writes the MkDocs
config and runs ``mkdocs build``. The site needs no network: no CDN, no web fonts.

``bibtex`` reads ``docs/papers.bib`` (every paper's ``papers/<id>/paper.bib`` in one file):
``bibtex.entry(paper_id)`` is a paper's BibTeX entry, shown on its page here and at the end of its report.
"""
