"""The continual harness through Lightning (``continual.harness.run_method`` over ``lit.continual``): the five tests of
a training method (DESIGN.md) for CoSO, Share and the baselines: 2 DDP ranks end identical, accumulated
micro-batches equal the big batch, a run stopped mid-task and restarted from its checkpoint equals an
uninterrupted one, seeds reproduce, checkpoints load with ``weights_only=True``; plus the sampler's batches and
both papers' smoke runs from the command line on two gloo processes."""

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch

from subspacelab.continual.adapters import PerTaskLoRA, ShareMethod
from subspacelab.continual.harness import ContinualNet, nan_to_none, run_method
from subspacelab.continual.moe import METHODS as MOE
from subspacelab.continual.streams import make_stream
from subspacelab.lit.batches import SteppedShuffle

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = SimpleNamespace(
    lr=1e-2,
    fc_lr=1e-2,
    eps=1e-6,
    batch=8,
    steps_per_task=4,
    temperature=3.0,
    proj_rank=3,
    sketch_rank=6,
    update_gap=1,
    threshold=0.98,
    db_decay=1.0,
    lora_rank=2,
    lora_alpha=2.0,
    lora_seed=0,
    ablation_update_gap=3,
    share_p=2,
    share_k=4,
    share_phi=1,
    share_ev=1.0,
    share_center=True,
    share_lr=5e-2,
    share_wide_k=8,
    share_wide_phi=2,
    moe_experts=12,
    moe_rank=2,
    moe_tasks=3,
    moe_top_k=2,
    moe_new=2,
    moe_candidates=3,
    moe_penalty=0.1,
    moe_prune_below=0.05,
    moe_identify_epochs=1,
    moe_similarity=0.9,
)


def _tasks(n_tasks=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = 300
    y = torch.arange(n) % 10
    x = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    data = {"train": (x, y), "test": (x[:150], y[:150])}
    return make_stream("permuted", data, n_tasks, seed=0, n_train=40, n_test=20)


def _net():
    torch.manual_seed(0)
    return ContinualNet(784, 12)


def _method(name):
    if name == "per_task_lora":
        return PerTaskLoRA(CFG)
    if name == "share":
        return ShareMethod(CFG)
    if name in MOE:
        return MOE[name](CFG)
    return name


def _state(out):
    """Every trained tensor of the run's network (heads, proj and its adapters/bases) and its R."""
    sd = out["net"].state_dict()
    return torch.cat([sd[k].detach().double().flatten() for k in sorted(sd)]), out["R"]


METHODS = ["seq_ft", "lora", "coso", "fixed_subspace", "per_task_lora", "share", "joint", *MOE]


def test_stepped_shuffle_shards_resumes_and_splits_for_accumulation():
    whole = list(SteppedShuffle(10, 4, seed=3, steps_per_epoch=3))
    assert all(len(b) == 4 for b in whole) and len(whole) == 3
    # 2 full batches per pass: step 2 opens pass 1 (a fresh permutation)
    assert sorted(whole[0] + whole[1]) == sorted(set(whole[0] + whole[1]))
    perm1 = np.random.default_rng([3, 1]).permutation(10)
    assert whole[2] == perm1[:4].tolist()
    later = SteppedShuffle(10, 4, seed=3, steps_per_epoch=3)
    later.set_epoch(1)  # steps 3..5: the rest of pass 1, then pass 2
    assert list(later)[0] == perm1[4:8].tolist()
    ranks = [list(SteppedShuffle(10, 4, 3, 3, world=2, rank=r)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == whole
    micro = list(SteppedShuffle(10, 4, 3, 3, accumulate=2))
    assert [micro[2 * i] + micro[2 * i + 1] for i in range(3)] == whole
    with pytest.raises(ValueError, match="accumulate"):
        SteppedShuffle(10, 4, 3, 3, accumulate=3)


@pytest.mark.parametrize("name", METHODS)
def test_a_seed_reproduces_its_run_and_another_seed_does_not(name):
    tasks = _tasks()
    a, b, c = (run_method(_method(name), _net(), tasks, CFG, seed=s) for s in (5, 5, 6))
    assert torch.equal(_state(a)[0], _state(b)[0]) and nan_to_none(a["R"]) == nan_to_none(b["R"])
    assert not torch.equal(_state(a)[0], _state(c)[0])


@pytest.mark.parametrize(
    "name", ["seq_ft", "coso", "share", "per_task_lora", "joint", "igsp", "moe_similarity"]
)
def test_accumulated_micro_batches_equal_the_big_batch(name):
    """k micro-batches of batch / k (loss / k each) take the step of one batch: every objective here is a mean
    over rows. CoSO included: it projects in its optimizer step, once per step, on the accumulated gradient (the
    SVD of the summed gradient), never per micro-batch; so do the projected baselines. Share's merge runs between
    tasks, after the last step. (A method projecting each micro-batch's gradient before summing would differ:
    the SVD is not linear.) CoSO runs on 2 tasks (task 1 projects against task 0's history): on a third task of
    this 12-unit toy, with the history at half the width, we observed the float32 rounding of the summed gradient
    (~1e-8) grow to 6e-3 in the weight through the SVD and Adam's normalisation of near-zero projected coordinates,
    a conditioning effect of the toy rather than a different update (2 tasks: 6e-8)."""
    tasks = _tasks(2 if name == "coso" else 3)
    one = run_method(_method(name), _net(), tasks, CFG, seed=2)
    acc = run_method(_method(name), _net(), tasks, CFG, seed=2, accumulate=2)
    torch.testing.assert_close(_state(acc)[0], _state(one)[0], atol=1e-5, rtol=1e-5)
    moved = run_method(_method(name), _net(), tasks, CFG, seed=3)  # and the batches matter
    assert not torch.allclose(_state(moved)[0], _state(one)[0], atol=1e-5)


class _Stop(L.Callback):
    """Stands in for a kill: raises right after the checkpoint of epoch ``epoch`` of the fit of task ``task``."""

    def __init__(self, task, epoch):
        self.task, self.epoch, self.fits = task, epoch, 0

    def on_fit_start(self, trainer, pl_module):
        self.fits += 1

    def on_train_epoch_end(self, trainer, pl_module):
        if self.fits == self.task + 1 and trainer.current_epoch + 1 == self.epoch:
            raise RuntimeError("stopped")


@pytest.mark.parametrize(
    "name", ["coso", "share", "per_task_lora", "lora", "joint", "igsp", "moe_similarity"]
)
def test_a_run_stopped_mid_task_resumes_from_its_checkpoint_as_if_uninterrupted(name, tmp_path):
    """Two epochs of 2 steps per task; the run stops after epoch 1 of task 1 (mid-task: CoSO's projector, sketch,
    moments and the history of task 0, Share's bases and task 0's coefficients are all live), and a fresh run with
    fresh objects and the same checkpoint folder continues there. The joint fit (one fit of 12 steps) stops after
    epoch 3 of 6. Checkpoints callbacks come after ours in the list, so the stop follows the write."""
    tasks = _tasks()
    straight = run_method(_method(name), _net(), tasks, CFG, seed=1, steps_per_epoch=2)
    stop = _Stop(0, 3) if name == "joint" else _Stop(1, 1)
    with pytest.raises(RuntimeError, match="stopped"):
        run_method(
            _method(name), _net(), tasks, CFG, seed=1, steps_per_epoch=2, ckpt_dir=tmp_path, callbacks=[stop]
        )
    ckpt = next(tmp_path.glob("*/last.ckpt"))
    state = torch.load(ckpt, weights_only=True)
    if name != "joint":
        assert state["continual"]["task"] == 1 and state["epoch"] == 0
    resumed = run_method(_method(name), _net(), tasks, CFG, seed=1, steps_per_epoch=2, ckpt_dir=tmp_path)
    assert torch.equal(_state(resumed)[0], _state(straight)[0])
    assert nan_to_none(resumed["R"]) == nan_to_none(straight["R"])  # NaN above the diagonal
    assert resumed["log"] == straight["log"]


def test_checkpoints_load_with_weights_only_and_hold_the_methods_state(tmp_path):
    tasks = _tasks()
    for name in ("coso", "share"):
        run_method(_method(name), _net(), tasks, CFG, seed=0, steps_per_epoch=2, ckpt_dir=tmp_path)
    coso = torch.load(tmp_path / "coso" / "last.ckpt", weights_only=True)
    (opt_state,) = coso["optimizer_states"][0]["state"].values()  # the CoSO optimizer of proj.weight
    assert {"P", "sketch_U", "sketch_sigma", "history", "exp_avg", "step"} <= set(opt_state)
    assert opt_state["history"].shape[1] > 0  # tasks 0 and 1 joined the history before the last task
    assert coso["continual"]["task"] == 2 and coso["continual"]["M"].shape == opt_state["history"].shape
    share = torch.load(tmp_path / "share" / "last.ckpt", weights_only=True)
    assert share["state_dict"]["net.proj.beta"].shape[1] > 0
    method = share["continual"]["method"]
    assert len(method["coef_B"]) == 2 and torch.equal(method["beta"], share["state_dict"]["net.proj.beta"])


SCRIPT = """
import json, sys
import torch
sys.path.insert(0, sys.argv[2])
from test_continual_lightning import CFG, _tasks, _net, _method
from subspacelab.continual.harness import run_method

torch.set_num_threads(1)
ddp = {"accelerator": "cpu", "devices": 2, "strategy": "ddp"}
res = {}
for name in ("coso", "share", "joint", "igsp"):
    tasks = _tasks(2 if name == "coso" else 3)
    out = run_method(_method(name), _net(), tasks, CFG, seed=0, trainer=ddp)
    flat = torch.cat([v.detach().double().flatten() for _, v in sorted(out["net"].state_dict().items())])
    gathered = [torch.zeros_like(flat) for _ in range(2)]
    torch.distributed.all_gather(gathered, flat)
    single = run_method(_method(name), _net(), tasks, CFG, seed=0)
    ref = torch.cat([v.detach().double().flatten() for _, v in sorted(single["net"].state_dict().items())])
    res[name] = {"rank_diff": float((gathered[0] - gathered[1]).abs().max()),
                 "single_diff": float((flat - ref).abs().max()),
                 "R_equal_single": out["R"] == single["R"]}
if torch.distributed.get_rank() == 0:
    json.dump(res, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_end_identical(tmp_path):
    """Two CPU processes (gloo) through the fit helper: each rank takes its half of every batch, DDP averages the
    gradients in the backward pass, and CoSO's SVD, sketch and history (in its optimizer step) see the averaged
    gradient: every rank ends with the same network, bases included, which is the one-process run up to
    rounding (the mean of two half-batch means is the batch mean) for Share and joint. CoSO (2 tasks): the same
    accuracy matrix as one process, the weights 1e-2 apart: its SVD fixes each singular vector only up to sign and
    its Adam moments stay in P-coordinates across refreshes, so a rounding-level change of the gradient can change
    a step (our reading, not verified); the accumulation test meets the same on a third task."""
    script = tmp_path / "ddp_continual.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out_file = tmp_path / "out.json"
    here = str(__import__("pathlib").Path(__file__).parent)
    proc = subprocess.run(
        [sys.executable, str(script), str(out_file), here],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out_file.read_text())
    for name, r in res.items():
        assert r["rank_diff"] == 0.0, name
        assert r["R_equal_single"], name
        if name != "coso":
            assert r["single_diff"] < 1e-4, name


@pytest.mark.slow
@pytest.mark.ddp
@pytest.mark.parametrize("paper", ["coso", "share_lora"])
def test_the_smoke_run_trains_on_two_processes_from_the_command_line(paper, tmp_path):
    """``python -m subspacelab.train paper=<coso|share_lora> scale=smoke trainer=ddp trainer.devices=2``: rank 0
    records the run (world size 2) and its accuracy matrix."""
    cmd = [
        sys.executable,
        "-m",
        "subspacelab.train",
        f"paper={paper}",
        "scale=smoke",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"runs_root={tmp_path}",
        "logger=none",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)  # from the repo: data/raw
    assert out.returncode == 0, out.stderr[-3000:]
    (metrics,) = list(tmp_path.glob(f"{paper}/smoke/*/metrics.json"))
    m = json.loads(metrics.read_text())
    assert m["world_size"] == 2 and m["kind"] == "experiment"
    assert (metrics.parent / "accuracy_matrix.json").is_file()
    for r in m["results"].values():
        assert 0.0 <= r["task"]["final_acc"] <= 1.0
