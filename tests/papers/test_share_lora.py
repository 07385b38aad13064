"""Share maths: exact stored-parameter count, exact basis from low-rank adapters, lossless merge when the new basis
contains the old span, re-projection = least squares, error ordering in k, and the paper's derive rules on
hand-made rows (seed intervals, exact counts, not-measured claims)."""

import torch
from torch import nn

from subspacelab.continual.share import (
    ShareLayer,
    choose_rank,
    init_from_adapters,
    lora_stored_parameters,
    project,
    shared_basis,
)
from subspacelab.papers.share_lora.claims import RULES
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

torch.set_num_threads(1)


def _lowrank(m, cols, rank, seed, n=1):
    g = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(m, rank, generator=g, dtype=torch.float64))[0]
    return [Q @ torch.randn(rank, cols, generator=g, dtype=torch.float64) for _ in range(n)]


def _layer(m=12, n=10, p=3, k=8, phi=2, center=False, seed=0):
    torch.manual_seed(seed)
    lin = nn.Linear(n, m).double()
    return ShareLayer(lin, p=p, k_max=k, phi=phi, alpha=3.0, center=center)


def _train_random(layer, seed):
    g = torch.Generator().manual_seed(seed)
    params = layer.start_task(g)
    with torch.no_grad():
        for q in params:
            q.copy_(torch.randn(q.shape, generator=g, dtype=q.dtype))


def test_adapters_of_rank_le_k_are_reconstructed_exactly():
    adapters = _lowrank(30, 4, rank=5, seed=1, n=3)  # stacked rank 5 <= k
    basis, coefs = init_from_adapters(adapters, k_max=6)
    assert basis.shape[1] == 5  # numerical rank
    for X, E in zip(adapters, coefs, strict=True):
        assert torch.allclose(basis @ E, X, atol=1e-10)


def test_reprojection_is_least_squares_optimum():
    g = torch.Generator().manual_seed(3)
    basis = torch.linalg.qr(torch.randn(20, 6, generator=g, dtype=torch.float64))[0]
    X = torch.randn(20, 4, generator=g, dtype=torch.float64)
    E = project(basis, X)
    E_ls = torch.linalg.lstsq(basis, X).solution
    assert torch.allclose(E, E_ls, atol=1e-10)
    assert torch.allclose(E, torch.linalg.pinv(basis) @ X, atol=1e-10)
    # any perturbation is worse
    assert (basis @ (E + 1e-3) - X).norm() > (basis @ E - X).norm()


def test_reconstruction_error_decreases_with_k():
    X = torch.randn(25, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    errs = []
    for k in range(1, 13):
        B = shared_basis(X, k)
        errs.append(float((B @ project(B, X) - X).norm()))
    assert all(a >= b - 1e-12 for a, b in zip(errs, errs[1:], strict=False))
    assert errs[0] > errs[-1] and errs[-1] < 1e-10
    s = torch.linalg.svdvals(X)
    assert abs(errs[2] ** 2 - float((s[3:] ** 2).sum())) < 1e-8  # Eckart-Young


def test_choose_rank_explained_variance():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])
    assert choose_rank(s, 10) == 3
    assert choose_rank(s, 2) == 2
    assert choose_rank(s, 10, ev=0.6) == 1  # 9/14 = 0.64 >= 0.6
    assert choose_rank(s, 10, ev=0.9) == 2


def test_merge_without_new_information_keeps_old_adapters():
    layer = _layer(k=8)
    for t in range(2):
        _train_random(layer, 10 + t)
        layer.merge()
    old = [layer.delta(j).clone() for j in range(layer.n_tasks)]
    # new task whose factors lie in the current spans (temporary part zero): no new information
    g = torch.Generator().manual_seed(7)
    layer.start_task(g)
    with torch.no_grad():
        layer.cur["EB"].copy_(torch.randn(layer.cur["EB"].shape, generator=g, dtype=torch.float64))
        layer.cur["VB"].zero_()
        layer.cur["VA"].zero_()
    info = layer.merge()
    assert max(info["old_task_drift"]) < 1e-10
    for j, d in enumerate(old):
        assert torch.allclose(layer.delta(j), d, atol=1e-10)


def test_merge_exact_while_k_covers_every_factor_and_lossy_beyond():
    layer = _layer(m=40, n=36, p=3, k=30, phi=2)
    for t in range(4):  # basis rank grows 3, 5, 7, 9 <= 30: every old task kept exactly
        _train_random(layer, 20 + t)
        info = layer.merge()
        assert max(info["old_task_drift"], default=0.0) < 1e-9 and info["new_task_error"] < 1e-9
    small = _layer(m=40, n=36, p=3, k=4, phi=2)
    for t in range(3):
        _train_random(small, 20 + t)
        info = small.merge()
    assert small.beta.shape[1] == 4 and info["new_task_error"] > 1e-3  # truncated: lossy


def test_forward_uses_the_active_task_and_zero_init():
    layer = _layer()
    x = torch.randn(5, 10, dtype=torch.float64)
    base = nn.functional.linear(x, layer.weight, layer.bias)
    layer.start_task(torch.Generator().manual_seed(0))
    assert torch.allclose(layer(x), base)  # adapter starts at zero
    _train_random(layer, 1)
    y_cur = layer(x)
    assert torch.allclose(y_cur, base + x @ layer.delta().T)
    layer.merge()
    layer.set_task(0)
    assert torch.allclose(layer(x), y_cur, atol=1e-9)  # k covers the first task: lossless


def test_stored_parameter_count_matches_tensors():
    layer = _layer(m=20, n=16, p=3, k=5)
    for t in range(3):
        _train_random(layer, t)
        layer.merge()
    counted = (
        layer.beta.numel()
        + layer.alpha_basis.numel()
        + sum(e.numel() for e in layer.coef_B)
        + sum(e.numel() for e in layer.coef_A)
    )
    kB, kA = layer.beta.shape[1], layer.alpha_basis.shape[1]
    assert layer.stored_parameters() == counted == 20 * kB + 16 * kA + 3 * 3 * (kB + kA)
    assert kB == kA == 5
    assert lora_stored_parameters(20, 16, 4, 3) == 3 * (20 * 4 + 4 * 16)


# ------------------------------------------------------------------ derive rules on hand-made rows
def _row(stream, accs, forget, stored=None, seed=0):
    res = {
        m: {
            "task": {
                "final_acc": a,
                "forgetting": forget.get(m),
                "bwt": None,
                "learning_acc": None,
                "acc_curve": [a],
            }
        }
        for m, a in accs.items()
    }
    r = {"stream": stream, "run_seed": seed, "results": res, "protocols": ["task"]}
    if stored:
        r["stored"] = stored
    return r


GAP = {"derive": {"reference": "per_task_lora", "points": 3.0}}


def test_gap_rule_needs_the_seed_interval_below_the_bound():
    two = [
        _row("s", {"per_task_lora": 0.95, "share": 0.93 + d}, {}, seed=k) for k, d in ((0, 0.0), (1, 0.001))
    ]
    m, v, _ = RULES["share_gap"](GAP, two)  # gaps 2.0 and 1.9 points: interval [1.3, 2.6] below 3
    assert v == REPRODUCED and abs(m["gaps_points"]["s"] - 1.95) < 1e-9 and "n=2" in m["value"]
    assert RULES["share_gap"](GAP, two[:1])[1] == PARTLY  # one seed: no interval, at most partly
    noisy = [
        _row("s", {"per_task_lora": 0.95, "share": 0.95}, {}, seed=0),
        _row("s", {"per_task_lora": 0.95, "share": 0.91}, {}, seed=1),
    ]  # mean 2 points, interval up to 27
    m, v, note = RULES["share_gap"](GAP, noisy)
    assert v == PARTLY and "partly on one stream only: s" in note
    far = two + [_row("p", {"per_task_lora": 0.90, "share": 0.80}, {}, seed=k) for k in (0, 1)]
    assert RULES["share_gap"](GAP, far)[1] == PARTLY  # within 3 on one stream of two
    assert RULES["share_gap"](GAP, [_row("p", {"per_task_lora": 0.9, "share": 0.8}, {})])[1] == NOT
    assert RULES["share_gap"](GAP, [_row("p", {"lora": 0.9}, {})])[1] == NOT_RUN
    m, v, _ = RULES["share_near_joint"](
        {"derive": {"points": 3.0}}, [_row("p", {"joint": 0.9, "share": 0.89}, {})]
    )
    assert v == PARTLY and "joint − Share" in m["value"]


def test_stored_rule_is_exact_arithmetic():
    st = {
        "lora_per_task": 20480,
        "share": 8192 + 1280,
        "share_per_task_increment": 256,
        "lora_per_task_increment": 4096,
    }
    c = {"derive": {"min_ratio": 10.0}}
    m, v, _ = RULES["share_stored_ratio"](c, [_row("s", {"share": 0.9}, {}, st)])
    assert v == PARTLY and abs(m["ratios"]["s"] - 20480 / 9472) < 1e-9 and m["increment_ratio"] == 16
    assert (
        RULES["share_stored_ratio"](c, [_row("s", {"share": 0.9}, {}, {**st, "share": 1000})])[1]
        == REPRODUCED
    )
    assert (
        RULES["share_stored_ratio"](
            c, [_row("s", {"share": 0.9}, {}, {**st, "share_per_task_increment": 1024})]
        )[1]
        == NOT
    )
    m, v, note = RULES["share_not_measured"](
        {"derive": {"reason": "not measured: configuration unknown"}}, []
    )
    assert v == NOT_RUN and m["value"] is None and note.startswith("not measured")


def test_forgetting_rule_with_seeds():
    f = {"derive": {"max_points": 2.0}}
    low = [
        _row("s", {"share": 0.9, "lora": 0.8}, {"share": 0.01 + e, "lora": 0.2}, seed=k)
        for k, e in ((0, 0.0), (1, 0.001))
    ]
    assert RULES["share_forgetting"](f, low)[1] == REPRODUCED
    assert RULES["share_forgetting"](f, low[:1])[1] == PARTLY  # one seed
    spread = [
        _row("s", {"share": 0.9, "lora": 0.8}, {"share": 0.0, "lora": 0.2}, seed=0),
        _row("s", {"share": 0.9, "lora": 0.8}, {"share": 0.03, "lora": 0.2}, seed=1),
    ]
    assert RULES["share_forgetting"](f, spread)[1] == PARTLY  # mean 1.5 points, interval reaches past 2
    assert (
        RULES["share_forgetting"](f, [_row("s", {"share": 0.9, "lora": 0.8}, {"share": 0.05, "lora": 0.2})])[
            1
        ]
        == PARTLY
    )
    assert (
        RULES["share_forgetting"](f, [_row("s", {"share": 0.9, "lora": 0.8}, {"share": 0.3, "lora": 0.2})])[1]
        == NOT
    )
    assert RULES["share_forgetting"](f, [_row("s", {"lora": 0.8}, {"lora": 0.2})])[1] == NOT_RUN
