"""Every experiment paper (``kind: experiment``): its smoke grid runs in-process and its report gives
every claim a verdict; a finished run is not redone; a bad experiment setting fails before running."""

from pathlib import Path

import pytest
import yaml

from subspacelab.config import CONF_DIR, ConfigError, compose
from subspacelab.pipeline import evaluate, report
from subspacelab.pipeline.plan import plan
from subspacelab.pipeline.runinfo import fingerprint
from subspacelab.pipeline.train import run
from subspacelab.reporting.claims import VERDICTS


def experiment_papers() -> list[str]:
    out = []
    for f in sorted((CONF_DIR / "paper").glob("*.yaml")):
        if (yaml.safe_load(f.read_text()) or {}).get("kind") == "experiment":
            out.append(f.stem)
    return out


PAPERS = experiment_papers()


@pytest.mark.parametrize("paper", PAPERS)
def test_smoke_grid_yields_a_verdict_for_every_claim(paper, tmp_path):
    runs_root, reports_root = tmp_path / "runs", tmp_path / "reports"
    planned = plan(paper, "smoke")
    assert planned, f"{paper} has no smoke grid"
    for r in planned:
        m = run(compose([*r.overrides, f"runs_root={runs_root}", "logger=csv"]))
        assert m["kind"] == "experiment" and m["paper"] == paper and m["fit_seconds"] > 0
        assert (Path(r.run_dir.replace("runs", str(runs_root), 1)) / "metrics.json").is_file()
    table = evaluate.run(paper, "smoke", str(runs_root))
    assert not table["missing"]
    out = report.run(paper, "smoke", str(runs_root), reports_root=reports_root, wandb_log=False)
    contract = yaml.safe_load((CONF_DIR / "paper" / f"{paper}.yaml").read_text())
    assert [c["id"] for c in out["claims"]] == [c["id"] for c in contract["claims"]]
    for c in out["claims"]:
        assert c["verdict"] in VERDICTS
        if "smoke" in c.get("derive", {}).get("scales", ["smoke"]) and not c.get("note", "").startswith(
            "measured only"
        ):
            assert c["measured"] is not None or c["verdict"] == "not_run", c
    md = (reports_root / paper / "smoke" / "comparison.md").read_text()
    assert all(c["id"] in md for c in out["claims"])

    again = run(compose([*planned[0].overrides, f"runs_root={runs_root}", "logger=csv"]))  # finished: skipped
    first = evaluate.run(paper, "smoke", str(runs_root))["runs"]
    assert again["finished_at"] in {r["finished_at"] for r in first}


@pytest.mark.parametrize("paper", PAPERS)
def test_an_unknown_experiment_setting_fails_before_running(paper, tmp_path):
    with pytest.raises(ConfigError, match="experiment"):
        run(
            compose([f"paper={paper}", "scale=smoke", f"runs_root={tmp_path}", "+experiment.no_such_field=1"])
        )
    assert not list(tmp_path.rglob("metrics.json"))


@pytest.mark.parametrize("paper", PAPERS[:1])
def test_editing_a_claim_changes_no_experiment_fingerprint(paper):
    cfg = compose([f"paper={paper}", "scale=smoke"])
    before = fingerprint(cfg)
    cfg.paper.claims[0].statement = "edited"
    assert fingerprint(cfg) == before
    cfg.seed = 123
    assert fingerprint(cfg) != before


@pytest.mark.parametrize("paper", ["hf_dsc", "mi_estimation", "dcreg"])
def test_several_processes_for_an_experiment_without_a_trainer_are_refused(paper, tmp_path):
    """hf_dsc (full batch: one N x N self-expression step), mi_estimation (small critics fitted many times) and
    dcreg (no network) run in one process: asking for two devices is a one-line error naming `trainer`, not a
    silent single-process run."""
    for extra in (["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"], ["trainer.num_nodes=2"]):
        cfg = compose([f"paper={paper}", "scale=smoke", f"runs_root={tmp_path}", *extra])
        with pytest.raises(ConfigError, match=rf"^trainer: paper {paper} runs in one process"):
            run(cfg)
    assert not list(tmp_path.rglob("*"))
