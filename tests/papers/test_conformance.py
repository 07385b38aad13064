"""Every registered paper conforms to the paper layer: its package declares a ``Paper``, its contract
validates, its committed dvc.yaml is what the generator writes, and the verdicts committed in
``reports/<id>/comparison.json`` are exactly what the report derives from the committed runs."""

import json
from pathlib import Path

import pytest

from subspacelab.config.contract import check
from subspacelab.papers import registry
from subspacelab.pipeline import dvcgen
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
def test_committed_dvc_yaml_is_generated(paper):
    assert (ROOT / "pipelines" / paper / "dvc.yaml").read_text() == dvcgen.render(paper)


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
