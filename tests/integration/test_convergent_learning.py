"""convergent_learning: a training paper whose evaluate stage analyses the trained checkpoints."""

from pathlib import Path

import pytest

from subspacelab.config import compose
from subspacelab.papers import convergent_learning as cl
from subspacelab.pipeline import evaluate, report
from subspacelab.pipeline.plan import plan
from subspacelab.pipeline.train import run


def _row(data, layer, pair, control, r, g, sparse=None):
    row = {"kind": "analysis", "data": data, "layer": layer, "pair": pair, "control": control, "matched_r": r,
           "semi_matched_r": r, "frac_matched_above_0.9": 0.0, "group_similarity": g, "units": 8}
    if sparse is not None:
        row["sparse"] = sparse
    return row


def test_rules_give_honest_verdicts_on_synthetic_analysis_rows():
    rows = [
        _row("mnist", "conv1", "t0-t1", False, 0.92, 0.95, [{"alpha": 0.01, "r2": 0.95, "mean_fan_in": 20},
                                                            {"alpha": 0.1, "r2": 0.93, "mean_fan_in": 3}]),
        _row("mnist", "conv1", "t0-u0", True, 0.60, 0.70),
        _row("mnist", "fc", "t0-t1", False, 0.40, 0.65),
        _row("mnist", "fc", "t0-u0", True, 0.30, 0.50),
    ]
    claim = {"derive": {"layer": "conv1", "min_matched_r": 0.8, "min_margin_over_control": 0.1}}
    assert cl.RULES["cl_first_layer"](claim, rows)[1] == "reproduced"
    claim["derive"]["min_matched_r"] = 0.95
    assert cl.RULES["cl_first_layer"](claim, rows)[1] == "partly"
    assert cl.RULES["cl_deeper_less"]({"derive": {"first": "conv1", "deeper": ["fc"]}}, rows)[1] == "reproduced"
    shared = {"derive": {"layer": "fc", "min_margin": 0.1}}
    assert cl.RULES["cl_shared_subspaces"](shared, rows)[1] == "reproduced"
    rows[2]["group_similarity"] = 0.45  # now below the units' + margin and below the control
    assert cl.RULES["cl_shared_subspaces"](shared, rows)[1] == "not_reproduced"
    sparse = {"derive": {"layer": "conv1", "max_fan_in": 4, "max_r2_drop": 0.05}}
    assert cl.RULES["cl_sparse_mapping"](sparse, rows)[1] == "reproduced"
    assert cl.RULES["cl_first_layer"](claim, [])[1] == "not_run"


@pytest.mark.slow
def test_smoke_runs_then_analysis_of_their_checkpoints(tmp_path):
    runs_root = tmp_path / "runs"
    planned = plan("convergent_learning", "smoke")
    for r in planned:
        m = run(compose([*r.overrides, f"runs_root={runs_root}", "logger=csv"]))
        assert m["method"] == "full" and m["model"] == "convnet32" and m["test_acc"] > 0.3
    table = evaluate.run("convergent_learning", "smoke", str(runs_root))
    rows = table["analysis"]
    assert {(r["layer"], r["control"]) for r in rows} == {(layer, c) for layer in ("conv1", "conv2", "fc")
                                                         for c in (False, True)}
    for r in rows:
        assert -1.0 <= r["matched_r"] <= r["semi_matched_r"] + 1e-12 <= 1.0 + 1e-12
        assert 0.0 <= r["group_similarity"] <= 1.0 + 1e-9
        assert ("sparse" in r) == (r["layer"] in ("conv1", "fc") and not r["control"])
    out = report.run("convergent_learning", "smoke", str(runs_root), reports_root=tmp_path / "reports", wandb_log=False)
    assert all(c["verdict"] in ("reproduced", "partly", "not_reproduced") for c in out["claims"])
    md = (tmp_path / "reports/convergent_learning/smoke/comparison.md").read_text()
    assert "matched r" in md and Path(tmp_path / "reports/convergent_learning/smoke/convergent_learning_layers.png").is_file()
