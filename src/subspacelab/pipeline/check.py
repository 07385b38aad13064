"""``python -m subspacelab.pipeline.check``: every registered paper's contract validates and its committed
``pipelines/<id>/dvc.yaml``, ``pipelines/<id>/params.yaml`` and ``conf/experiment/<id>.yaml`` are what the generators write, and no two test
files share a name (the test folders are not packages, so pytest stops collecting at the second one). One line
per problem; exit 2 if any."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from subspacelab.config import experiment_yaml
from subspacelab.config.contract import ContractError, check
from subspacelab.papers import registry
from subspacelab.pipeline import dvcgen
from subspacelab.reporting import bibtex


def paper_problems(paper: str, root: Path = Path(".")) -> list[str]:
    """The contract of ``paper`` validates and its generated files are up to date (one line per problem)."""
    try:
        check(paper)
    except ContractError as err:
        return [str(err)]
    return [
        f"{path}: out of date with conf/paper/{paper}.yaml; run make dvc-yaml PAPER={paper}"
        for path, text in dvcgen.generated(paper, root).items()
        if not path.is_file() or path.read_text() != text
    ]


def problems(root: Path = Path(".")) -> list[str]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    workers = max(
        1, min(os.cpu_count() or 1, 4)
    )  # composing every run's config is CPU work: one paper a core
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        out = [
            line
            for lines in pool.map(partial(paper_problems, root=root), registry.PAPER_IDS)
            for line in lines
        ]
    for path in experiment_yaml.stale(root / "conf"):
        out.append(
            f"{path}: differs from its Experiment dataclass (the defaults' one source); run make experiment-yaml"
        )
    bib = root / "docs" / "papers.bib"
    if not bib.is_file() or bib.read_text() != bibtex.combined(root / "src" / "subspacelab" / "papers"):
        out.append(f"{bib}: out of date with src/subspacelab/papers/*/paper.bib; run make readme")
    code = root / "pipelines" / dvcgen.CODE / "dvc.yaml"
    if not code.is_file() or code.read_text() != dvcgen.render_code():
        out.append(f"{code}: out of date with conf/model and conf/method; run make dvc-yaml")
    out += shared_test_names(root / "tests")
    return out


def shared_test_names(tests: Path) -> list[str]:
    """One line per test file name used in more than one folder under ``tests``."""
    seen: dict[str, list[Path]] = {}
    for path in sorted(tests.rglob("test_*.py")):
        seen.setdefault(path.name, []).append(path)
    return [
        f"{', '.join(map(str, paths))}: one test file name in {len(paths)} folders; rename all but one"
        for name, paths in seen.items()
        if len(paths) > 1
    ]


def main() -> None:
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    if found:
        raise SystemExit(2)
    print(
        f"[check] {len(registry.PAPER_IDS)} contracts valid, their dvc.yaml and params.yaml files up to date"
    )


if __name__ == "__main__":
    main()
