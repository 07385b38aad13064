"""Glue between the pipeline and a paper whose runs are experiments rather than Lightning training.

A module ``subspacelab.papers.<id>`` defines:

- ``Experiment``: a dataclass whose fields are the schema of ``conf/experiment/<id>.yaml`` and whose
  ``run(seed, out_dir, n_jobs) -> dict`` does one run and returns its metrics;
- ``RULES``: derive rules for the paper's claims, ``name -> fn(claim, rows) -> (measured, verdict, note)``;
- ``plots(rows, out_dir) -> list[Path]`` and optionally ``NOTES`` (caveats the report states).
"""
