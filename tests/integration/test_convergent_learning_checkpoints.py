"""convergent_learning: a training paper whose evaluate stage analyses the trained checkpoints (the derive rules
on hand-made rows are tested in tests/papers/test_convergent_learning.py)."""

from pathlib import Path

import pytest

from subspacelab.config import compose
from subspacelab.pipeline import evaluate, report
from subspacelab.pipeline.plan import plan
from subspacelab.pipeline.train import run


@pytest.mark.slow
def test_smoke_runs_then_analysis_of_their_checkpoints(tmp_path):
    runs_root = tmp_path / "runs"
    planned = plan("convergent_learning", "smoke")
    for r in planned:
        m = run(compose([*r.overrides, f"runs_root={runs_root}", "logger=csv"]))
        assert m["method"] == "full" and m["model"] == "convnet32" and m["test_acc"] > 0.3
    table = evaluate.run("convergent_learning", "smoke", str(runs_root))
    rows = table["analysis"]
    assert {(r["layer"], r["control"]) for r in rows} == {
        (layer, c) for layer in ("conv1", "conv2", "fc") for c in (False, True)
    }
    for r in rows:
        assert -1.0 <= r["matched_r"] <= r["semi_matched_r"] + 1e-12 <= 1.0 + 1e-12
        assert 0.0 <= r["group_similarity"] <= 1.0 + 1e-9
        assert ("sparse" in r) == (r["layer"] in ("conv1", "fc") and not r["control"])
    out = report.run(
        "convergent_learning", "smoke", str(runs_root), reports_root=tmp_path / "reports", wandb_log=False
    )
    assert all(c["verdict"] in ("reproduced", "partly", "not_reproduced") for c in out["claims"])
    md = (tmp_path / "reports/convergent_learning/smoke/comparison.md").read_text()
    assert (
        "matched r" in md
        and Path(tmp_path / "reports/convergent_learning/smoke/convergent_learning_layers.png").is_file()
    )
