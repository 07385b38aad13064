import math

import pytest
import torch
import torch.nn.functional as F

from subspacelab.models.gcr import (
    CosineSoftmaxHead,
    GCRHead,
    ResNet,
    SoftmaxHead,
    build_gcr_classifier,
    gcr_param_groups,
    intra_class_variability,
)
from subspacelab.subspace.grassmann import GrassmannSGD, exp_step, orthonormalise, tangent, transport

DT = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def point(*shape, seed=0):
    return orthonormalise(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT))


def randn(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT)


def gram_error(S):
    eye = torch.eye(S.shape[-1], dtype=S.dtype)
    return float((S.transpose(-1, -2) @ S - eye).norm())


def projector(S):
    return S @ S.transpose(-1, -2)


# ---------------------------------------------------------------- geometry


def test_tangent_is_orthogonal_to_the_point_and_a_projection():
    S, G = point(4, 9, 3), randn(4, 9, 3)
    H = tangent(S, G)
    assert (S.transpose(-1, -2) @ H).abs().max() < 1e-12
    assert torch.allclose(tangent(S, H), H, atol=1e-12)
    assert torch.allclose(tangent(S, S @ randn(4, 3, 3, seed=5)), torch.zeros_like(S), atol=1e-12)


def test_orthonormalise_keeps_the_span_and_leaves_orthonormal_input_unchanged():
    A = randn(3, 7, 2)
    Q = orthonormalise(A)
    assert gram_error(Q) < 1e-12
    assert torch.allclose(projector(Q) @ A, A, atol=1e-12)
    assert torch.allclose(orthonormalise(Q), Q, atol=1e-12)


def test_exp_step_at_zero_is_the_identity_and_stays_orthonormal():
    S = point(5, 10, 3)
    H = tangent(S, randn(5, 10, 3))
    assert torch.allclose(exp_step(S, H, 0.0), S, atol=1e-12)
    for t in (0.3, -1.7, 25.0):
        assert gram_error(exp_step(S, H, t)) < 1e-10


def test_geodesic_composes_with_the_transported_velocity():
    # Following the geodesic for a, then for b along the transported velocity, is the geodesic for a + b.
    S = point(10, 3)
    H = tangent(S, randn(10, 3))
    a, b = 0.4, 0.9
    mid = exp_step(S, H, a)
    end = exp_step(mid, transport(S, H, a, H), b)
    assert torch.allclose(projector(end), projector(exp_step(S, H, a + b)), atol=1e-10)


def test_transport_is_an_isometry_onto_the_new_tangent_space_and_carries_the_velocity():
    S = point(2, 12, 3)
    H, M, N = (tangent(S, randn(2, 12, 3, seed=s)) for s in (1, 2, 3))
    t, eps = 0.6, 1e-6
    end = exp_step(S, H, t)
    TM, TN = transport(S, H, t, M), transport(S, H, t, N)
    assert (end.transpose(-1, -2) @ TM).abs().max() < 1e-10
    inner = lambda A, B: (A * B).sum(dim=(-2, -1))  # noqa: E731
    assert torch.allclose(inner(TM, TN), inner(M, N), atol=1e-10)
    velocity = (exp_step(S, H, t + eps) - exp_step(S, H, t - eps)) / (2 * eps)
    assert torch.allclose(transport(S, H, t, H), velocity, atol=1e-7)


def test_agrees_with_geoopt_sphere_for_k1():
    geoopt = pytest.importorskip("geoopt")
    sphere = geoopt.Sphere()
    S, G = point(6, 8, 1), randn(6, 8, 1)
    x, g = S.squeeze(-1), G.squeeze(-1)
    assert torch.allclose(tangent(S, G).squeeze(-1), sphere.proju(x, g), atol=1e-12)
    u = sphere.proju(x, g)
    assert torch.allclose(exp_step(S, tangent(S, G), 0.7).squeeze(-1), sphere.expmap(x, 0.7 * u), atol=1e-10)


def test_exp_step_agrees_with_geoopt_stiefel_geodesic_for_horizontal_tangents():
    # For S^T H = 0 the Grassmann geodesic is the Euclidean-metric Stiefel geodesic (Edelman et al. 1998).
    geoopt = pytest.importorskip("geoopt")
    S = point(3, 9, 4)
    H = tangent(S, randn(3, 9, 4))
    assert torch.allclose(geoopt.EuclideanStiefel().proju(S, H), H, atol=1e-12)
    assert torch.allclose(exp_step(S, H, 0.8), geoopt.EuclideanStiefel().expmap(S, 0.8 * H), atol=1e-9)


# ---------------------------------------------------------------- optimiser


def test_one_step_without_momentum_is_the_closed_form_geodesic_step():
    lr = 0.3
    S0, G = point(4, 8, 1), randn(4, 8, 1)
    p = torch.nn.Parameter(S0.clone())
    p.grad = G.clone()
    GrassmannSGD([{"params": [p], "manifold": "grassmann"}], lr=lr, reorth_every=0).step()
    g = G - S0 * (S0 * G).sum(dim=-2, keepdim=True)  # sphere: remove the radial component
    norm = g.norm(dim=-2, keepdim=True)
    expected = S0 * torch.cos(lr * norm) - g / norm * torch.sin(lr * norm)
    assert torch.allclose(p.detach(), expected, atol=1e-12)


def test_one_step_k3_equals_exp_step_and_the_qr_does_not_move_it():
    lr = 0.2
    S0, G = point(3, 10, 3), randn(3, 10, 3)
    expected = exp_step(S0, tangent(S0, G), -lr)
    for reorth in (0, 5):  # reorth 5 re-orthonormalises at the first step
        p = torch.nn.Parameter(S0.clone())
        p.grad = G.clone()
        GrassmannSGD([{"params": [p], "manifold": "grassmann"}], lr=lr, reorth_every=reorth).step()
        assert torch.allclose(p.detach(), expected, atol=1e-12)


def test_momentum_is_a_euclidean_buffer_projected_at_the_current_point():
    lr, m, damp = 0.1, 0.9, 0.2
    S0, g1, g2 = point(2, 7, 2), randn(2, 7, 2, seed=1), randn(2, 7, 2, seed=2)
    p = torch.nn.Parameter(S0.clone())
    opt = GrassmannSGD(
        [{"params": [p], "manifold": "grassmann", "weight_decay": 0.5}],
        lr=lr,
        momentum=m,
        dampening=damp,
        reorth_every=0,
    )
    p.grad = g1.clone()
    opt.step()
    S1 = exp_step(S0, tangent(S0, g1), -lr)
    assert torch.allclose(p.detach(), S1, atol=1e-12)  # weight decay is not applied to subspaces
    p.grad = g2.clone()
    opt.step()
    S2 = exp_step(S1, tangent(S1, m * g1 + (1 - damp) * g2), -lr)
    assert torch.allclose(p.detach(), S2, atol=1e-12)


def test_euclidean_groups_match_torch_sgd():
    torch.manual_seed(0)
    w = torch.randn(5, 3, dtype=DT)
    a, b = torch.nn.Parameter(w.clone()), torch.nn.Parameter(w.clone())
    ours = GrassmannSGD([a], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)
    ref = torch.optim.SGD([b], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)
    for s in range(4):
        g = randn(5, 3, seed=s)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    assert torch.allclose(a, b, atol=1e-14)


def test_rejects_a_grassmann_parameter_that_is_not_tall():
    with pytest.raises(ValueError, match="D >= k"):
        GrassmannSGD(
            [{"params": [torch.nn.Parameter(torch.zeros(2, 3, 5))], "manifold": "grassmann"}], lr=0.1
        )


def test_500_training_steps_keep_the_subspaces_orthonormal_and_fit_the_data():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 16, generator=gen), torch.randint(0, 4, (64,), generator=gen)
    head = GCRHead(16, 4, k=3, gamma=10.0)
    opt = GrassmannSGD(gcr_param_groups(head), lr=0.05, momentum=0.9)
    with torch.no_grad():
        first = float(F.cross_entropy(head(x), y))
    for _ in range(500):
        opt.zero_grad()
        F.cross_entropy(head(x), y).backward()
        opt.step()
    assert gram_error(head.subspaces.detach()) < 1e-5
    with torch.no_grad():
        assert float(F.cross_entropy(head(x), y)) < 0.5 * first


# ---------------------------------------------------------------- heads


def test_heads_shapes_and_logit_ranges():
    x = randn(7, 12).float() * 5
    gamma = 4.0
    gcr, cos, lin = (
        GCRHead(12, 5, k=3, gamma=gamma),
        CosineSoftmaxHead(12, 5, gamma=gamma),
        SoftmaxHead(12, 5),
    )
    assert gcr.subspaces.shape == (5, 12, 3) and gram_error(gcr.subspaces.detach()) < 1e-5
    for head, lo in ((gcr, 0.0), (cos, -gamma)):
        out = head(x)
        assert out.shape == (7, 5)
        assert out.min() >= lo - 1e-5 and out.max() <= gamma + 1e-5
    assert torch.allclose(lin(x), x @ lin.weight.T + lin.bias)
    # A feature inside class 0's subspace gets the largest possible logit.
    inside = gcr.subspaces[0].detach() @ torch.randn(3)
    assert torch.isclose(gcr(inside[None])[0, 0], torch.tensor(gamma))


def test_logits_depend_only_on_the_feature_direction():
    x = randn(6, 10).float()
    for head in (GCRHead(10, 4, k=2), CosineSoftmaxHead(10, 4)):
        assert torch.allclose(head(x), head(3.7 * x), atol=1e-5)


def test_gcr_with_k1_is_cosine_softmax_up_to_sign():
    cos = CosineSoftmaxHead(10, 6, gamma=25.0, seed=3)
    gcr = GCRHead(10, 6, k=1, gamma=25.0)
    with torch.no_grad():
        gcr.subspaces.copy_(F.normalize(cos.weight, dim=-1).unsqueeze(-1))
    x = randn(20, 10).float()
    a, b = gcr(x), cos(x)
    assert torch.allclose(a, b.abs(), atol=1e-5)
    assert (b >= 0).any() and (b < 0).any()
    assert torch.allclose(a[b >= 0], b[b >= 0], atol=1e-5)


def test_gcr_logits_are_a_function_of_the_subspace_only():
    head = GCRHead(9, 3, k=3, gamma=25.0, seed=1)
    x = randn(8, 9).float()
    before = head(x)
    Q = orthonormalise(randn(3, 3, 3, seed=7)).float()  # one k x k orthogonal matrix per class
    with torch.no_grad():
        head.subspaces.copy_(head.subspaces @ Q)
    assert torch.allclose(head(x), before, atol=1e-4)


def test_gcr_init_is_seeded():
    a, b, c = GCRHead(8, 3, k=2, seed=0), GCRHead(8, 3, k=2, seed=0), GCRHead(8, 3, k=2, seed=1)
    assert torch.equal(a.subspaces, b.subspaces) and not torch.allclose(a.subspaces, c.subspaces)


# ---------------------------------------------------------------- backbone and builder


@pytest.mark.parametrize(("channels", "size"), [(3, 32), (1, 28)])
def test_resnet_features_and_logits(channels, size):
    model = build_gcr_classifier("gcr", k=2, in_channels=channels, num_classes=5, width=4, depth=8)
    x = torch.randn(2, channels, size, size)
    assert model.features(x).shape == (2, 16)
    out = model(x)
    assert out.shape == (2, 5)
    out.sum().backward()
    assert model.head.subspaces.grad is not None and model.stem[0].weight.grad is not None


def test_builder_heads_groups_and_seeding():
    state = torch.random.get_rng_state()
    models = {h: build_gcr_classifier(h, k=3, width=4, depth=8) for h in ("softmax", "cosine", "gcr")}
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    assert isinstance(models["softmax"].head, SoftmaxHead)
    assert isinstance(models["cosine"].head, CosineSoftmaxHead)
    assert isinstance(models["gcr"].head, GCRHead) and models["gcr"].head.subspaces.shape == (10, 16, 3)
    again = build_gcr_classifier("gcr", k=3, width=4, depth=8)
    assert all(torch.equal(p, q) for p, q in zip(models["gcr"].parameters(), again.parameters(), strict=True))
    euclid, manifold = gcr_param_groups(models["gcr"], lr=0.5)
    assert manifold["params"] == [models["gcr"].head.subspaces] and manifold["lr"] == 0.5
    assert len(euclid["params"]) == len(list(models["gcr"].parameters())) - 1
    assert len(gcr_param_groups(models["softmax"])) == 1
    with pytest.raises(ValueError):
        build_gcr_classifier("arcface")
    with pytest.raises(ValueError):
        ResNet(depth=21)


# ---------------------------------------------------------------- intra-class variability


def test_variability_is_kornblith_ratio_of_mean_cosine_distances():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(30, 5, generator=gen) + 2 * torch.randn(3, 5, generator=gen).repeat_interleave(10, 0)
    feats = feats.double()
    labels = torch.arange(3).repeat_interleave(10)
    z = F.normalize(feats.double(), dim=-1)
    dist = 1 - z @ z.T
    blocks = [[dist[labels == i][:, labels == j].mean() for j in range(3)] for i in range(3)]
    within = sum(blocks[i][i] for i in range(3)) / 3
    total = sum(sum(row) for row in blocks) / 9
    assert math.isclose(intra_class_variability(feats, labels), float(within / total), rel_tol=1e-10)
    scales = torch.rand(30, 1, generator=gen, dtype=DT) + 0.1
    assert math.isclose(intra_class_variability(scales * feats, labels), float(within / total), rel_tol=1e-10)


def test_variability_is_zero_for_collapsed_classes_and_grows_with_spread():
    centres = torch.eye(4)[:3] * 5
    labels = torch.arange(3).repeat_interleave(20)
    noise = torch.randn(60, 4, generator=torch.Generator().manual_seed(1))
    collapsed = centres[labels] * torch.linspace(0.5, 2, 60)[:, None]
    assert abs(intra_class_variability(collapsed, labels)) < 1e-12
    spread = [intra_class_variability(centres[labels] + s * noise, labels) for s in (0.5, 1.0, 2.0)]
    assert 0 < spread[0] < spread[1] < spread[2] < 1


# -- the paper's analysis and derive rules (subspacelab.papers.gcr) ----------------------------------------------


def _run(data, model, seed, acc):
    return {
        "data": data,
        "model": model,
        "seed": seed,
        "test_acc": acc,
        "run_name": f"{data}-{model}-s{seed}",
    }


def _an(run, transfer, variability):
    from subspacelab.papers.gcr.common import head_of

    head, k = head_of(run)
    return {
        "kind": "analysis",
        "run_name": run["run_name"],
        "data": run["data"],
        "head": head,
        "k": k,
        "seed": run["seed"],
        "transfer_acc": transfer,
        "variability": variability,
    }


def test_head_of_parses_the_model_tags():
    from subspacelab.papers.gcr.common import head_of

    assert head_of({"model": "resnet8-gcr16"}) == ("gcr", 16)
    assert head_of({"model": "resnet20-softmax"}) == ("softmax", None)
    assert head_of({"model": "resnet8-cosine"}) == ("cosine", None)
    with pytest.raises(ValueError, match="GCR-paper model tag"):
        head_of({"model": "convnet32"})


SEEDS = (0, 1, 2)
NOISE = (-0.001, 0.0, 0.001)  # the same small seed spread in every arm


def _rows(acc: dict[str, float], transfer: dict[str, float], variability: dict[str, float]) -> list[dict]:
    runs = [
        _run("fmnist", f"resnet8-{m}", s, a + e)
        for m, a in acc.items()
        for s, e in zip(SEEDS, NOISE, strict=True)
    ]
    tag = lambda r: r["model"].split("-")[1]  # noqa: E731
    return runs + [
        _an(r, transfer[tag(r)] + 2 * (r["test_acc"] - acc[tag(r)]), variability[tag(r)]) for r in runs
    ]


ACC = {"softmax": 0.90, "cosine": 0.905, "gcr1": 0.903, "gcr4": 0.90, "gcr8": 0.91, "gcr16": 0.90}
TRANSFER = {"softmax": 0.80, "cosine": 0.80, "gcr1": 0.80, "gcr4": 0.80, "gcr8": 0.803, "gcr16": 0.80}
VARIABILITY = {"softmax": 0.3, "cosine": 0.25, "gcr1": 0.2, "gcr4": 0.3, "gcr8": 0.4, "gcr16": 0.5}


def test_gcr_accuracy_rule_needs_the_interval_above_zero():
    from subspacelab.papers.gcr.claims import RULES

    acc = {"derive": {"k": 8, "partly_within": 0.005}}
    measured, verdict, _ = RULES["gcr_accuracy"](acc, _rows(ACC, TRANSFER, VARIABILITY))
    assert verdict == "reproduced"  # +1 point, seed spread 0.1 points
    assert measured["differences"]["fmnist"]["mean"] == pytest.approx(0.01)
    assert measured["differences"]["fmnist"]["lo"] > 0 and "n = 3 vs 3 seeds" in measured["value"]
    assert RULES["gcr_accuracy"](acc, _rows({**ACC, "gcr8": 0.897}, TRANSFER, VARIABILITY))[1] == "partly"
    assert (
        RULES["gcr_accuracy"](acc, _rows({**ACC, "gcr8": 0.89}, TRANSFER, VARIABILITY))[1] == "not_reproduced"
    )
    one_seed = [r for r in _rows(ACC, TRANSFER, VARIABILITY) if r["seed"] == 1]
    assert RULES["gcr_accuracy"](acc, one_seed)[1] == "partly"  # +1 point, but one seed: no interval


def test_gcr_transfer_rule_on_par_and_better():
    from subspacelab.papers.gcr.claims import RULES

    on_par = {"derive": {"k": 8, "direction": "on_par", "margin": 0.01}}
    rows = _rows(ACC, TRANSFER, VARIABILITY)
    measured, verdict, _ = RULES["gcr_transfer"](on_par, rows)
    assert verdict == "reproduced" and measured["differences"]["fmnist"]["mean"] == pytest.approx(0.003)
    assert (
        RULES["gcr_transfer"](on_par, _rows(ACC, {**TRANSFER, "gcr8": 0.77}, VARIABILITY))[1]
        == "not_reproduced"
    )
    noisy = [
        {**r, "transfer_acc": r["transfer_acc"] + (0.02 if r["seed"] == 2 else 0.0)} if r.get("kind") else r
        for r in rows
    ]  # seed 2 up 2 points in both arms: the interval spans more than the margin
    assert RULES["gcr_transfer"](on_par, noisy)[1] == "partly"
    better = {"derive": {"k": 8, "direction": "better"}}
    assert RULES["gcr_transfer"](better, rows)[1] == "partly"  # +0.3 points, interval spans 0
    assert (
        RULES["gcr_transfer"](better, _rows(ACC, {**TRANSFER, "gcr8": 0.81}, VARIABILITY))[1] == "reproduced"
    )
    assert RULES["gcr_transfer"](better, noisy)[1] == "partly"
    assert (
        RULES["gcr_transfer"](better, _rows(ACC, {**TRANSFER, "gcr8": 0.79}, VARIABILITY))[1]
        == "not_reproduced"
    )
    measured, verdict, note = RULES["gcr_transfer"]({"derive": {"k": 32, "direction": "better"}}, rows)
    assert verdict == "not_run" and "k = 32" in note
    runs_only = [r for r in rows if not r.get("kind")]
    assert RULES["gcr_transfer"](better, runs_only)[1] == "not_run"


def test_gcr_variability_rule_judges_the_log_log_slope_with_its_interval():
    from subspacelab.papers.gcr.claims import RULES

    ks = {"derive": {"ks": [1, 4, 8, 16]}}
    measured, verdict, _ = RULES["gcr_variability"](ks, _rows(ACC, TRANSFER, VARIABILITY))
    assert verdict == "reproduced" and measured["curves"]["fmnist"] == pytest.approx([0.2, 0.3, 0.4, 0.5])
    assert measured["slopes"]["fmnist"]["lo"] > 0 and measured["slopes"]["fmnist"]["n"] == 12
    # the cpu run's pattern: up from k = 1 to 8, back down at 16, seeds 0.03 apart -> slope > 0, interval spans 0
    flat = {**VARIABILITY, "gcr1": 0.382, "gcr4": 0.399, "gcr8": 0.404, "gcr16": 0.386}
    rows = _rows(ACC, TRANSFER, flat)
    for r in rows:
        if r.get("kind"):
            r["variability"] += 0.025 * (1 if r["seed"] == 0 else -1 if r["seed"] == 1 else 0)
    assert RULES["gcr_variability"](ks, rows)[1] == "partly"
    falling = {**VARIABILITY, "gcr1": 0.5, "gcr4": 0.4, "gcr8": 0.3, "gcr16": 0.2}
    assert RULES["gcr_variability"](ks, _rows(ACC, TRANSFER, falling))[1] == "not_reproduced"
    assert RULES["gcr_variability"]({"derive": {"ks": [1, 32]}}, rows)[1] == "not_run"


def test_gcr_k1_cosine_rule_needs_the_interval_within_the_band():
    from subspacelab.papers.gcr.claims import RULES

    within = {"derive": {"within": 0.01}}
    assert RULES["gcr_k1_cosine"](within, _rows(ACC, TRANSFER, VARIABILITY))[1] == "reproduced"  # 0.2 points
    assert RULES["gcr_k1_cosine"](within, _rows({**ACC, "gcr1": 0.89}, TRANSFER, VARIABILITY))[1] == "partly"
    measured, verdict, _ = RULES["gcr_k1_cosine"](within, _rows({**ACC, "gcr1": 0.88}, TRANSFER, VARIABILITY))
    assert verdict == "not_reproduced" and measured["max_abs_diff"] == pytest.approx(0.025)


def test_linear_probe_separates_separable_features_and_picks_c_from_the_list():
    from subspacelab.papers.gcr.analysis import linear_probe

    g = torch.Generator().manual_seed(0)
    centers = 5 * torch.eye(4, 16, dtype=torch.float64)
    y = torch.arange(4).repeat(50)
    x = centers[y] + 0.3 * torch.randn(200, 16, generator=g, dtype=torch.float64)
    acc, c = linear_probe(x[:120].numpy(), y[:120].numpy(), x[120:].numpy(), y[120:].numpy(), [0.1, 1.0])
    assert acc == 1.0 and c in (0.1, 1.0)
    shuffled = y[torch.randperm(200, generator=g)]  # labels unrelated to the features: about chance
    acc, _ = linear_probe(
        x[:120].numpy(), shuffled[:120].numpy(), x[120:].numpy(), shuffled[120:].numpy(), [1.0]
    )
    assert acc < 0.5
