"""The subspace-architecture papers' training runs: GCR (Grassmann class subspaces trained by geodesic SGD) and
ULSAM (MobileNets with subspace attention), each through its smoke grid, evaluate stage and report."""

import json
import math
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from subspacelab.config import compose
from subspacelab.models.gcr import GCRHead
from subspacelab.pipeline import evaluate, report
from subspacelab.pipeline.plan import plan
from subspacelab.pipeline.train import build, run

GCR_SMOKE = ["paper=gcr", "scale=smoke", "model=gcr_resnet", "model.k=8", "logger=csv"]


def _gram_error(S: torch.Tensor) -> float:
    return float((S.transpose(-1, -2) @ S - torch.eye(S.shape[-1])).abs().max())


def test_gcr_training_moves_the_class_subspaces_along_the_grassmannian_on_a_cosine_schedule():
    cfg = compose([*GCR_SMOKE, "trainer.max_epochs=2"])
    L.seed_everything(0, verbose=False)
    dm, module = build(cfg)
    head = next(m for m in module.modules() if isinstance(m, GCRHead))
    before = head.subspaces.detach().clone()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        limit_val_batches=0,
        enable_checkpointing=False,
    )
    trainer.fit(module, datamodule=dm)
    (optimizer,) = trainer.optimizers
    manifold = [g for g in optimizer.param_groups if g["manifold"] == "grassmann"]
    assert len(manifold) == 1 and manifold[0]["params"] == [head.subspaces]
    assert manifold[0]["weight_decay"] == pytest.approx(1e-4)  # never applied to S (GrassmannSGD)
    after = head.subspaces.detach()
    assert _gram_error(after) < 1e-5 and not torch.allclose(before, after)
    # cosine to 0 over the run: after step t the rate is 0.1 * (1 + cos(pi t / T)) / 2, 0 after the last step
    assert trainer.global_step == trainer.estimated_stepping_batches == 2 * math.ceil(512 / 128)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.lr_lambdas[0](2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 8)))


@pytest.mark.slow
def test_gcr_smoke_grid_reaches_a_report_with_transfer_and_variability(tmp_path):
    runs_root = tmp_path / "runs"
    for p in plan("gcr", "smoke"):
        m = run(compose([*p.overrides, f"runs_root={runs_root}", "logger=csv"]))
        assert 0.0 <= m["test_acc"] <= 1.0 and m["data"] == "fashion_mnist"
    table = evaluate.run("gcr", "smoke", str(runs_root))
    analysis = table["analysis"]
    assert {(r["head"], r["k"]) for r in analysis} == {("softmax", None), ("gcr", 8)}
    for r in analysis:
        assert 0.2 < r["transfer_acc"] <= 1.0  # five held-out classes: above chance from random-ish features
        assert 0.0 < r["variability"] <= 1.5
    out = report.run("gcr", "smoke", str(runs_root), reports_root=tmp_path / "reports", wandb_log=False)
    verdicts = {c["id"]: c["verdict"] for c in out["claims"]}
    assert verdicts["accuracy_vs_softmax"] in {"reproduced", "partly", "not_reproduced"}
    assert verdicts["transfer_vs_softmax"] in {"reproduced", "partly", "not_reproduced"}
    assert verdicts["variability_grows_with_k"] == "not_run"  # the smoke grid has one k
    assert (Path(out["dir"]) / "gcr.png").is_file()


@pytest.mark.slow
def test_ulsam_smoke_grid_reaches_a_report_with_counted_costs(tmp_path):
    runs_root = tmp_path / "runs"
    runs = [
        run(compose([*p.overrides, f"runs_root={runs_root}", "logger=csv"])) for p in plan("ulsam", "smoke")
    ]
    params = {m["model"].rsplit("-", 1)[1]: m["D"] for m in runs}
    assert params["replace"] < params["none"] < params["insert"]
    costs = evaluate.run("ulsam", "smoke", str(runs_root))["analysis"]
    assert {r["ulsam"] for r in costs} == {"none", "insert", "replace"}
    by = {r["ulsam"]: r for r in costs}
    assert by["none"]["parameters"] == params["none"]  # the counted net is the trained net
    assert by["replace"]["macs"] < by["none"]["macs"] <= by["insert"]["macs"]
    out = report.run("ulsam", "smoke", str(runs_root), reports_root=tmp_path / "reports", wandb_log=False)
    verdicts = {c["id"]: c["verdict"] for c in out["claims"]}
    assert verdicts["insert_is_ultra_lightweight"] in {
        "reproduced",
        "partly",
    }  # +1.5% parameters at width 0.25
    assert verdicts["v2_fewer_parameters_and_flops"] == "not_run"  # smoke counts MobileNet-V1 only
    assert verdicts["compact_keeps_accuracy"] in {"reproduced", "partly", "not_reproduced"}
    assert (Path(out["dir"]) / "ulsam.png").is_file()


@pytest.mark.slow
@pytest.mark.ddp
def test_gcr_under_ddp_ends_with_identical_subspaces_on_both_ranks(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "subspacelab.train",
        *GCR_SMOKE,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"runs_root={tmp_path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (metrics,) = list(tmp_path.glob("gcr/smoke/*/metrics.json"))
    m = json.loads(metrics.read_text())
    assert m["world_size"] == 2 and m["ranks_max_abs_diff"] == 0.0
