"""Every registered paper conforms to the paper layer: its package declares a ``Paper``, its contract
validates and the verdicts committed in ``reports/<id>/comparison.json`` are exactly what the report derives from
the committed runs. That every committed dvc.yaml is what the generator writes is ``make check``'s
(``pipeline.check``), which ``make test`` runs before this suite."""

import json
from pathlib import Path

import pytest

from subspacelab.config.contract import check
from subspacelab.papers import registry
from subspacelab.reporting import evaluate_claims
from subspacelab.reporting.claims import counts

ROOT = Path(__file__).resolve().parents[2]
PAPERS = registry.PAPER_IDS


@pytest.mark.parametrize("paper", PAPERS)
def test_contract_validates_and_every_claim_has_a_kind(paper):
    contract = check(paper)
    assert all(c["kind"] in ("paper", "check") for c in contract["claims"])
    assert registry.get(paper).id == paper


@pytest.mark.parametrize("paper", PAPERS)
def test_committed_verdicts_are_rederived_from_the_committed_runs(paper):
    report, results = (
        ROOT / "reports" / paper / "comparison.json",
        ROOT / "runs" / paper / "cpu" / "results.json",
    )
    if not report.is_file() and not results.is_file():
        pytest.skip(f"{paper} has no cpu-scale runs or report yet (a new paper)")
    committed = json.loads(report.read_text())
    table = json.loads(results.read_text())
    rows = table["runs"] + table.get("analysis", [])
    contract = check(paper)
    derived = evaluate_claims(contract["claims"], rows, "cpu", registry.get(paper).rules())
    assert {c["id"]: c["verdict"] for c in derived} == {c["id"]: c["verdict"] for c in committed["claims"]}
    assert {c["id"]: c["kind"] for c in derived} == {c["id"]: c["kind"] for c in committed["claims"]}
    assert {c["id"]: c["flags"] for c in derived} == {c["id"]: c["flags"] for c in committed["claims"]}
    assert committed["counts"] == counts(derived)


@pytest.mark.parametrize("paper", PAPERS)
def test_claims_figures_and_notes_are_never_a_run_dependency(paper):
    """Editing what a report says re-runs evaluate/report only: no train stage depends on the paper's claims,
    figures or notes, and every report stage does."""
    import yaml

    stages = yaml.safe_load((ROOT / "pipelines" / paper / "dvc.yaml").read_text())["stages"]
    report_only = {f"src/subspacelab/papers/{paper}/{f}" for f in ("claims.py", "figures.py", "NOTES.md")}
    assert not report_only & set(stages["train"]["do"]["deps"])
    assert not report_only & set(stages["evaluate-cpu"]["deps"])
    assert report_only <= set(stages["report-cpu"]["deps"])


@pytest.mark.parametrize("paper", PAPERS)
def test_every_committed_run_has_the_fingerprint_of_its_config_today(paper):
    """A refactor that changes what a committed run's config hashes to would make ``dvc repro`` retrain it: every
    committed cpu run's stored fingerprint must equal the fingerprint of the config its grid point composes to."""
    from subspacelab.config.compose import CachedComposer, contract_overrides
    from subspacelab.pipeline.plan import grid_overrides, load_contract
    from subspacelab.pipeline.runinfo import fingerprint

    contract, composer = load_contract(paper), CachedComposer()
    checked = 0
    for point in grid_overrides(contract, "cpu"):
        cfg = composer(contract_overrides(composer, [f"paper={paper}", "scale=cpu", *point]))
        metrics = ROOT / cfg.run_dir / "metrics.json"
        if metrics.is_file():
            assert json.loads(metrics.read_text())["fingerprint"] == fingerprint(cfg), metrics
            checked += 1
    if not checked:
        pytest.skip(f"{paper} has no committed cpu runs")
