"""One package per paper: ``subspacelab.papers.<id>`` (see :mod:`subspacelab.papers.spec` for what it holds
and :mod:`subspacelab.papers.registry` for the list). This file stays empty: every run of an experiment
paper imports it, so editing it would stale every run."""
