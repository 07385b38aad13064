"""CoSO maths: FD sketch vs a direct SVD, the energy rule, orthogonality of a new task's update to the history,
gradient accumulation, exact mid-task resume, and equality with galore-torch when the history is empty."""

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
            basis = torch.linalg.qr(torch.randn(m, rank, generator=torch.Generator().manual_seed(99),
                                                dtype=torch.float64))[0]
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


def test_empty_history_matches_galore_torch_left_projection():
    """With no history, CoSO's step is GaLore's: same SVD of G, P = U[:, :r], Adam on PᵀG with unrotated moments,
    the same step-size formula and eps; galore-torch with proj_type='left', scale 1, same rank and gap."""
    galore_torch = pytest.importorskip("galore_torch")
    W, X, Y = _toy(m=12, n=10)
    W2 = torch.nn.Parameter(W.detach().clone())
    a = CoSO([W], lr=1e-2, proj_rank=3, sketch_rank=6, update_gap=4, eps=1e-6)
    b = galore_torch.GaLoreAdamW([{"params": [W2], "rank": 3, "update_proj_gap": 4, "scale": 1.0,
                                   "proj_type": "left"}], lr=1e-2, eps=1e-6, weight_decay=0.0,
                                 no_deprecation_warning=True)
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


def test_rejects_non_matrix_parameters():
    with pytest.raises(ValueError, match="2-D"):
        CoSO([torch.nn.Parameter(torch.zeros(3))])


def test_orthogonalise_is_a_projection():
    M = torch.linalg.qr(torch.randn(8, 3))[0]
    G = torch.randn(8, 5)
    H = orthogonalise(G, M)
    torch.testing.assert_close(M.T @ H, torch.zeros(3, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(orthogonalise(H, M), H, atol=1e-5, rtol=0)
