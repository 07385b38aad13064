"""Pipeline stages: prepare -> train -> evaluate -> report. Each has ``run(...)`` and a CLI entry."""
