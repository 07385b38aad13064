"""CoSO maths: FD sketch vs a direct SVD, the energy rule, orthogonality of a new task's update to the history,
gradient accumulation, exact mid-task resume, when an empty history makes CoSO galore-torch's GaLoreAdamW (left
projection and scale 1, or scale s with lr·s) and where it does not (galore's right projection), and the paper's
derive rules on hand-made rows."""

import copy

import pytest
import torch

from subspacelab.continual.coso import CoSO, FrequentDirections, energy_rank, orthogonalise

torch.set_num_threads(1)


def _stream(m=20, blocks=6, cols=5, rank=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(blocks):
        if rank is None:
            out.append(torch.randn(m, cols, generator=g, dtype=torch.float64))
        else:
            basis = torch.linalg.qr(
                torch.randn(m, rank, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
            )[0]
            out.append(basis @ torch.randn(rank, cols, generator=g, dtype=torch.float64))
    return out


@pytest.mark.parametrize("ell", [3, 6, 10])
def test_fd_sketch_error_bound(ell):
    blocks = _stream()
    fd = FrequentDirections(ell)
    for b in blocks:
        fd.insert(b)
    A = torch.cat(blocks, 1)
    err = A @ A.T - fd.B @ fd.B.T
    evals = torch.linalg.eigvalsh(err)
    assert evals.min() > -1e-9  # B Bᵀ ⪯ A Aᵀ
    assert evals.max() <= A.norm() ** 2 / ell + 1e-9  # FD guarantee
    assert evals.max() <= A.norm() ** 2 / (ell + 1) + 1e-9  # shrinking by the (ℓ+1)-th value: tighter


def test_fd_sketch_is_exact_when_rank_fits():
    blocks = _stream(rank=4)
    fd = FrequentDirections(5)
    for b in blocks:
        fd.insert(b)
    A = torch.cat(blocks, 1)
    torch.testing.assert_close(fd.B @ fd.B.T, A @ A.T, atol=1e-9, rtol=1e-9)
    # the sketch's top directions span the same subspace as the direct SVD's
    U = torch.linalg.svd(A, full_matrices=False)[0][:, :4]
    torch.testing.assert_close(fd.U[:, :4] @ fd.U[:, :4].T, U @ U.T, atol=1e-8, rtol=0)


def test_energy_rank_is_strict_cumulative():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])  # energies 9, 4, 1 of 14: cumsum 0.643, 0.929, 1.0
    assert energy_rank(s, 0.98) == 2
    assert energy_rank(s, 0.93) == 2 and energy_rank(s, 0.92) == 1
    assert energy_rank(torch.zeros(3), 0.98) == 0


def _toy(seed=0, m=12, n=10):
    torch.manual_seed(seed)
    W = torch.nn.Parameter(torch.randn(m, n) * 0.1)
    X = torch.randn(64, n)
    Y = torch.randn(64, m)
    return W, X, Y


def _loss(W, X, Y):
    return ((X @ W.T - Y) ** 2).mean()


def _train(opt, W, X, Y, steps, start=0):
    for s in range(start, start + steps):
        idx = slice((s * 8) % 64, (s * 8) % 64 + 16)
        opt.zero_grad()
        _loss(W, X[idx], Y[idx]).backward()
        opt.step()


def test_new_task_update_is_orthogonal_to_history():
    W, X, Y = _toy()
    opt = CoSO([W], lr=1e-2, proj_rank=3, sketch_rank=6, update_gap=2)
    _train(opt, W, X, Y, 10)
    added = opt.end_task()
    M = opt.history(W)
    assert added[0] == M.shape[1] > 0
    torch.testing.assert_close(M.T @ M, torch.eye(M.shape[1]), atol=1e-5, rtol=0)
    W0 = W.detach().clone()
    Y2 = torch.randn(64, 12)  # a different task
    _train(opt, W, X, Y2, 10)
    dW = W.detach() - W0
    assert dW.norm() > 1e-3
    assert (M.T @ dW).norm() / dW.norm() < 1e-5
    opt.end_task()
    M2 = opt.history(W)
    assert M2.shape[1] > M.shape[1]
    torch.testing.assert_close(M2.T @ M2, torch.eye(M2.shape[1]), atol=1e-4, rtol=0)


def test_without_history_the_update_is_not_orthogonal():
    """The control: GaLore-style (use_history=False) does move along the first task's directions."""
    W, X, Y = _toy()
    ref = CoSO([W], lr=1e-2, proj_rank=3, sketch_rank=6)
    _train(ref, W, X, Y, 10)
    ref.end_task()
    M = ref.history(W)
    W2 = torch.nn.Parameter(W.detach().clone())
    opt = CoSO([W2], lr=1e-2, proj_rank=3, sketch_rank=6, use_history=False)
    W0 = W2.detach().clone()
    _train(opt, W2, X, Y, 10)
    dW = W2.detach() - W0
    assert (M.T @ dW).norm() / dW.norm() > 0.1


def test_gradient_accumulation_equals_one_large_batch():
    W, X, Y = _toy()
    W2 = torch.nn.Parameter(W.detach().clone())
    a = CoSO([W], lr=1e-2, proj_rank=3, sketch_rank=6)
    b = CoSO([W2], lr=1e-2, proj_rank=3, sketch_rank=6)
    for s in range(4):
        big = slice(16 * s, 16 * s + 16)
        a.zero_grad()
        _loss(W, X[big], Y[big]).backward()
        a.step()
        b.zero_grad()
        for half in (slice(16 * s, 16 * s + 8), slice(16 * s + 8, 16 * s + 16)):
            (0.5 * _loss(W2, X[half], Y[half])).backward()
        b.step()
    torch.testing.assert_close(W2.detach(), W.detach(), atol=1e-6, rtol=1e-5)


def test_resume_mid_task_equals_uninterrupted_run():
    W, X, Y = _toy()
    W2 = torch.nn.Parameter(W.detach().clone())
    kw = dict(lr=1e-2, proj_rank=3, sketch_rank=6, update_gap=3)
    full = CoSO([W], **kw)
    _train(full, W, X, Y, 5)
    full.end_task()
    _train(full, W, X, Y, 7, start=5)

    part = CoSO([W2], **kw)
    _train(part, W2, X, Y, 5)
    part.end_task()
    _train(part, W2, X, Y, 4, start=5)
    sd = copy.deepcopy(part.state_dict())
    st = sd["state"][0]
    for key in ("history", "P", "sketch_U", "sketch_sigma", "exp_avg", "exp_avg_sq", "step"):
        assert torch.is_tensor(st[key]), key
    W3 = torch.nn.Parameter(W2.detach().clone())
    resumed = CoSO([W3], **kw)
    resumed.load_state_dict(sd)
    _train(resumed, W3, X, Y, 3, start=9)
    torch.testing.assert_close(W3.detach(), W.detach(), atol=0, rtol=0)
    torch.testing.assert_close(resumed.history(W3), full.history(W))


def _galore(W, proj_type="left", scale=1.0, gap=4, weight_decay=0.0, lr=1e-2):
    galore_torch = pytest.importorskip("galore_torch")
    return galore_torch.GaLoreAdamW(
        [{"params": [W], "rank": 3, "update_proj_gap": gap, "scale": scale, "proj_type": proj_type}],
        lr=lr,
        eps=1e-6,
        weight_decay=weight_decay,
        no_deprecation_warning=True,
    )


def _lockstep(m, n, galore_kw, coso_kw, steps=9, transpose=False):
    """Train W (m x n) with galore-torch and a copy with CoSO (empty history) on the same batches; CoSO holds the
    weight transposed when ``transpose``. Returns the max |ΔW| after each step and the two optimizers."""
    W, X, Y = _toy(m=m, n=n)
    G = torch.nn.Parameter(W.detach().clone())
    C = torch.nn.Parameter(W.detach().T.clone()) if transpose else W
    a = CoSO([C], proj_rank=3, sketch_rank=6, eps=1e-6, **{"lr": 1e-2, "update_gap": 4, **coso_kw})
    b = _galore(G, **galore_kw)
    errs = []
    for s in range(steps):  # 9 steps cross two projector refreshes (gap 4)
        idx = slice(8 * s % 64, 8 * s % 64 + 16)
        a.zero_grad()
        _loss(C.T if transpose else C, X[idx], Y[idx]).backward()
        a.step()
        b.zero_grad()
        _loss(G, X[idx], Y[idx]).backward()
        b.step()
        errs.append(float(((C.T if transpose else C).detach() - G.detach()).abs().max()))
    return errs, a, b, C, G


def test_empty_history_matches_galore_torch_left_projection():
    """With no history, CoSO's step is GaLore's: same SVD of G, P = U[:, :r], Adam on PᵀG with unrotated moments,
    the same step-size formula and eps; galore-torch with proj_type='left', scale 1, same rank and gap."""
    W, X, Y = _toy(m=12, n=10)
    W2 = torch.nn.Parameter(W.detach().clone())
    a = CoSO([W], lr=1e-2, proj_rank=3, sketch_rank=6, update_gap=4, eps=1e-6)
    b = _galore(W2)
    for s in range(9):  # crosses two projector refreshes
        idx = slice(8 * s % 64, 8 * s % 64 + 16)
        W_before = W.detach().clone()
        a.zero_grad()
        _loss(W, X[idx], Y[idx]).backward()
        a.step()
        b.zero_grad()
        _loss(W2, X[idx], Y[idx]).backward()
        b.step()
        torch.testing.assert_close(W2.detach(), W.detach(), atol=1e-6, rtol=1e-5)
        dW = W.detach() - W_before
        P = a.projector(W)
        torch.testing.assert_close(P @ (P.T @ dW), dW, atol=1e-6, rtol=1e-5)  # update lies in span(P)


def test_galore_std_projects_a_wide_weight_on_the_left_and_then_matches():
    """galore-torch's default proj_type 'std' picks the left side when the weight has fewer rows than columns."""
    errs, *_ = _lockstep(8, 12, {"proj_type": "std"}, {})
    assert max(errs) < 1e-6


@pytest.mark.parametrize("shape", [(12, 8), (10, 10)])
def test_galore_std_projects_square_and_tall_weights_on_the_right_where_coso_differs(shape):
    """For rows >= columns (the harness's 256 x 256 layer is square) 'std' projects on the right: CoSO (always
    left) takes a different step from the first one."""
    errs, a, b, C, G = _lockstep(*shape, {"proj_type": "std"}, {}, steps=1)
    assert errs[0] > 1e-3
    Q = b.state[G]["projector"].ortho_matrix  # rank x n: right singular vectors
    assert Q.shape == (3, shape[1]) and a.projector(C).shape == (shape[0], 3)


def test_right_projection_is_coso_on_the_transposed_weight_until_the_first_refresh():
    """galore 'right' on W = CoSO on Wᵀ while the first projector lasts. At a refresh the SVDs of G and of Gᵀ may
    give a singular vector opposite signs, and since neither optimizer rotates its Adam moments into the new basis,
    the moments carried over then enter with a flipped sign: the two runs part after the refresh (step 5) although
    their projectors span the same subspace."""
    errs, a, b, C, G = _lockstep(12, 8, {"proj_type": "right"}, {}, transpose=True)
    assert max(errs[:4]) < 1e-6 and max(errs[4:]) > 1e-3
    errs_no_refresh, *_ = _lockstep(
        12, 8, {"proj_type": "right", "gap": 100}, {"update_gap": 100}, transpose=True
    )
    assert max(errs_no_refresh) < 1e-6
    signs = []
    for steps in (4, 5):  # the first projector, then the one the refresh at step 5 computes from the same G
        _, a, b, C, G = _lockstep(12, 8, {"proj_type": "right"}, {}, steps=steps, transpose=True)
        P, Q = a.projector(C), b.state[G]["projector"].ortho_matrix.T
        torch.testing.assert_close(P @ P.T, Q @ Q.T, atol=1e-4, rtol=0)  # the same subspace
        signs.append(torch.sign((P * Q).sum(0)))  # +1 / -1 per singular vector: the two SVDs' sign choices
    assert not torch.equal(
        signs[0], signs[1]
    )  # the relative sign changes at the refresh: the moments disagree


def test_galore_scale_is_coso_with_a_scaled_learning_rate():
    """GaLoreAdamW(lr, scale s) multiplies the projected-back update by s but decays the weight with lr: it equals
    CoSO with lr·s and weight decay / s, and differs from CoSO with the same lr (the project's recipe uses s = 0.25)."""
    s = 0.25
    same_lr, *_ = _lockstep(12, 10, {"scale": s}, {})
    assert same_lr[0] > 1e-3
    scaled, *_ = _lockstep(12, 10, {"scale": s}, {"lr": 1e-2 * s})
    assert max(scaled) < 1e-6
    decayed, *_ = _lockstep(
        12, 10, {"scale": s, "weight_decay": 0.1}, {"lr": 1e-2 * s, "weight_decay": 0.1 / s}
    )
    assert max(decayed) < 1e-6
    naive, *_ = _lockstep(12, 10, {"scale": s, "weight_decay": 0.1}, {"lr": 1e-2 * s, "weight_decay": 0.1})
    assert naive[0] > 1e-5


def test_rejects_non_matrix_parameters():
    with pytest.raises(ValueError, match="2-D"):
        CoSO([torch.nn.Parameter(torch.zeros(3))])


def test_orthogonalise_is_a_projection():
    M = torch.linalg.qr(torch.randn(8, 3))[0]
    G = torch.randn(8, 5)
    H = orthogonalise(G, M)
    torch.testing.assert_close(M.T @ H, torch.zeros(3, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(orthogonalise(H, M), H, atol=1e-5, rtol=0)


# ------------------------------------------------------------------ derive rules on hand-made rows
from subspacelab.papers.coso.claims import RULES  # noqa: E402
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED  # noqa: E402

BASE = ["seq_ft", "lora"]


def _row(stream, seed, acc, forget=None, leak=(), protocols=("task",)):
    res = {
        m: {p: {"final_acc": a, "forgetting": (forget or {}).get(m)} for p in protocols}
        for m, a in acc.items()
    }
    if "coso" in res:
        res["coso"]["history_leak"] = list(leak)
    return {"stream": stream, "run_seed": seed, "protocols": list(protocols), "results": res}


def _compare(rows, higher=True, metric="final_acc"):
    claim = {
        "derive": {
            "rule": "coso_compare",
            "metric": metric,
            "higher": higher,
            "protocols": ["task", "class"],
            "baselines": BASE,
        }
    }
    return RULES["coso_compare"](claim, rows)


def test_compare_needs_every_paired_interval_to_exclude_zero():
    steady = [
        _row("s", k, {"coso": 0.90 + d, "seq_ft": 0.80 + d, "lora": 0.70 + d})
        for k, d in ((0, 0.0), (1, 0.01))
    ]
    m, v, _ = _compare(steady)
    assert (
        v == REPRODUCED and "n=2" in m["value"] and m["confirmed"]["s/task"] == {"seq_ft": True, "lora": True}
    )
    assert _compare(steady[:1])[1] == PARTLY  # one seed: no interval, at most partly
    noisy = [
        _row("s", 0, {"coso": 0.90, "seq_ft": 0.80, "lora": 0.70}),
        _row("s", 1, {"coso": 0.80, "seq_ft": 0.81, "lora": 0.70}),
    ]  # better by the mean, not every seed
    m, v, _ = _compare(noisy)
    assert v == PARTLY and m["better"]["s/task"]["seq_ft"] and not m["confirmed"]["s/task"]["seq_ft"]
    losing = [_row("s", k, {"coso": 0.5, "seq_ft": 0.8, "lora": 0.7}) for k in (0, 1)]
    assert _compare(losing)[1] == NOT
    assert _compare([_row("s", 0, {"coso": 0.5, "seq_ft": 0.8})])[1] == NOT_RUN


def test_compare_lower_is_better_for_forgetting():
    rows = [
        _row(
            "s",
            k,
            {"coso": 0.9, "seq_ft": 0.9, "lora": 0.9},
            forget={"coso": 0.01 + e, "seq_ft": 0.2, "lora": 0.3 + e},
        )
        for k, e in ((0, 0.0), (1, 0.01))
    ]
    assert _compare(rows, higher=False, metric="forgetting")[1] == REPRODUCED
    assert _compare(rows, higher=True, metric="forgetting")[1] == NOT


def _gap(short, long):
    claim = {
        "derive": {
            "rule": "coso_gap_grows",
            "short": "p5",
            "long": "p10",
            "protocol": "task",
            "baselines": BASE,
        }
    }
    rows = [_row("p5", k, {"coso": 0.5 + g, "seq_ft": 0.5, "lora": 0.1}) for k, g in enumerate(short)]
    rows += [_row("p10", k, {"coso": 0.5 + g, "seq_ft": 0.5, "lora": 0.1}) for k, g in enumerate(long)]
    return RULES["coso_gap_grows"](claim, rows)


def test_gap_grows_with_intervals():
    m, v, _ = _gap([-0.020, -0.018], [0.050, 0.052])
    assert v == REPRODUCED and "n=2 and 2 seeds" in m["value"]
    assert _gap([-0.02, -0.01], [0.20, -0.05])[1] == PARTLY  # grows by the mean only
    assert _gap([-0.02], [0.05])[1] == PARTLY  # one seed per stream
    assert _gap([-0.02, -0.01], [-0.10, -0.12])[1] == NOT
    assert (
        RULES["coso_gap_grows"](
            {"derive": {"short": "p5", "long": "p10", "protocol": "task", "baselines": BASE}}, []
        )[1]
        == NOT_RUN
    )


def test_orthogonality_joint_bound_and_not_implemented():
    claim = {"derive": {"method": "coso", "tol": 1e-4}}
    leak = lambda x: [_row("s", 0, {"coso": 0.9}, leak=[1e-7, x])]  # noqa: E731
    assert RULES["coso_orthogonal"](claim, leak(1e-6))[1] == REPRODUCED
    assert RULES["coso_orthogonal"](claim, leak(1e-3))[1] == PARTLY
    assert RULES["coso_orthogonal"](claim, leak(0.5))[1] == NOT
    assert RULES["coso_orthogonal"](claim, [_row("s", 0, {"coso": 0.9})])[1] == NOT_RUN
    jc = {"derive": {"protocols": ["task"]}}
    assert (
        RULES["coso_joint_bound"](jc, [_row("s", 0, {"joint": 0.9, "coso": 0.8, "seq_ft": 0.85})])[1]
        == REPRODUCED
    )
    assert (
        RULES["coso_joint_bound"](jc, [_row("s", 0, {"joint": 0.9, "coso": 0.8, "seq_ft": 0.95})])[1]
        == PARTLY
    )
    assert RULES["coso_joint_bound"](jc, [_row("s", 0, {"joint": 0.7, "coso": 0.8})])[1] == NOT
    m, v, note = RULES["coso_paper_table"]({"derive": {"reason": "ViT-B/16 on ImageNet-R"}}, [])
    assert v == NOT_RUN and note.startswith("not implemented") and m["value"] is None
