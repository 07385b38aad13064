"""MoLR-MoG (arXiv 2601.01475): the MoE-latent MoG network against the closed-form mixture, its special cases,
the Stiefel constraint, the warm start, the metrics and the paper's derive rules."""

import math

import numpy as np
import pytest
import torch

from subspacelab.diffusion.losses import NoiseLevels, score_from_denoiser
from subspacelab.diffusion.metrics import sliced_wasserstein
from subspacelab.diffusion.molr_mog import MoLRMoGDenoiser, latent_terms, molr_mog_truth, warm_start
from subspacelab.diffusion.molrg import LowRankMoLRGDenoiser
from subspacelab.lit.diffusion import fit_denoiser
from subspacelab.numerics.union_of_subspaces import random_bases, subspace_error
from subspacelab.papers.molr_mog import Experiment, figures
from subspacelab.papers.molr_mog.aggregate import decode_grid
from subspacelab.papers.molr_mog.claims import RULES
from subspacelab.papers.molr_mog.experiment import MODELS, _encode_grid
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_model(rank=None, seed=0):
    torch.manual_seed(seed)
    m = MoLRMoGDenoiser(10, 2, 3, 4, rank=rank, seed=seed)
    with torch.no_grad():
        m.latent_factors.add_(0.4 * torch.randn_like(m.latent_factors))
        m.logits.add_(torch.randn_like(m.logits))
    return m


@pytest.mark.parametrize("rank", [None, 2])
@pytest.mark.parametrize("per_row", [False, True])
def test_network_is_the_closed_form_posterior_mean_of_its_mixture(rank, per_row):
    m = _random_model(rank)
    x = 2 * torch.randn(9, 10, dtype=torch.float64)
    s, g = (
        (torch.rand(9, dtype=torch.float64) + 0.5, torch.rand(9, dtype=torch.float64) + 0.05)
        if per_row
        else (0.8, 0.3)
    )
    mix = m.as_mixture()
    with torch.no_grad():
        assert torch.allclose(m(x, s, g), mix.posterior_mean(x, s, g), atol=1e-12)
        assert torch.allclose(m.responsibilities(x, s, g), mix.responsibilities(x, s, g), atol=1e-12)


def test_network_score_is_autograd_of_its_log_density():
    m = _random_model()
    x = torch.randn(5, 10, dtype=torch.float64, requires_grad=True)
    logp = m.as_mixture().log_prob(x, 0.9, 0.4).sum()
    (auto,) = torch.autograd.grad(logp, x)
    with torch.no_grad():
        assert torch.allclose(score_from_denoiser(m)(x.detach(), 0.9, 0.4), auto, atol=1e-10)


def test_latent_terms_log_density_matches_a_dense_gaussian():
    m = _random_model()
    x = torch.randn(4, 10, dtype=torch.float64)
    s, g = 0.7, 0.5
    logp, _ = latent_terms(
        x, s, g, m.A, m.latent_means, m.latent_factors, torch.zeros(2, 4, dtype=torch.float64)
    )
    means, factors, _ = m.components()
    for c in (0, 5):
        cov = s**2 * factors[c] @ factors[c].T + g**2 * torch.eye(10, dtype=torch.float64)
        dense = torch.distributions.MultivariateNormal(s * means[c], covariance_matrix=cov).log_prob(x)
        assert torch.allclose(logp.reshape(4, -1)[:, c], dense.detach(), atol=1e-10)


def test_one_mode_zero_mean_identity_latent_is_the_molrg_denoiser():
    """With one mode per subspace, zero latent means and identity factors the network is paper #27's MoLRG
    posterior mean (the 'MoE-latent Gaussian' special case)."""
    bases = random_bases(12, [3, 3], seed=4)
    molrg = LowRankMoLRGDenoiser(12, [3, 3], init=bases)
    m = MoLRMoGDenoiser(12, 2, 3, 1, bases=torch.stack(bases))
    m.set_parameters(
        latent_means=torch.zeros(2, 1, 3),
        latent_factors=torch.eye(3).expand(2, 1, 3, 3),
        logits=torch.zeros(2, 1),
    )
    x = torch.randn(6, 12, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(m(x, 1.0, 0.3), molrg(x, 1.0, 0.3), atol=1e-12)


def test_true_parameters_give_the_optimal_denoiser():
    bases = random_bases(16, [4, 4], seed=1)
    truth = molr_mog_truth(bases, 3, 3.0, 0.5, seed=2)
    m = MoLRMoGDenoiser(16, 2, 4, 3)
    means = torch.stack(
        [torch.stack([bases[k].T @ truth.means[3 * k + j] for j in range(3)]) for k in range(2)]
    )
    m.set_parameters(
        bases=torch.stack(bases),
        latent_means=means,
        latent_factors=0.5 * torch.eye(4).expand(2, 3, 4, 4),
        logits=torch.zeros(2, 3),
    )
    x = torch.randn(20, 16, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(m(x, 1.0, 0.2), truth.posterior_mean(x, 1.0, 0.2), atol=1e-12)


def test_bases_stay_orthonormal_and_only_learnable_bases_move():
    bases = random_bases(16, [4, 4], seed=1)
    truth = molr_mog_truth(bases, 2, 3.0, 0.5, seed=2)
    X, _ = truth.sample(400, seed=3)
    learned = MoLRMoGDenoiser(16, 2, 4, 2)
    warm_start(learned, X, seed=0)
    fixed = MoLRMoGDenoiser(16, 2, 4, 2, learn_bases=False, bases=torch.stack(bases))
    start = fixed.A.clone()
    for m in (learned, fixed):
        fit_denoiser(m, X, NoiseLevels("edm", sigma_data=0.5), steps=30, lr=0.05, batch=64)
        assert m.orthonormality_error() < 1e-12
    assert torch.equal(fixed.A, start) and "A" not in dict(fixed.named_parameters())
    assert fixed.n_parameters(include_bases=False) == fixed.n_parameters() == 2 * 2 * (4 + 16 + 1)


def test_projected_gradient_is_tangent():
    m = _random_model()
    x = torch.randn(16, 10, dtype=torch.float64)
    ((m(x, 1.0, 0.5) - x) ** 2).sum().backward()
    m.project_gradients()
    UtG = m.A.transpose(-1, -2) @ m.A.grad
    assert torch.allclose(UtG + UtG.transpose(-1, -2), torch.zeros_like(UtG), atol=1e-10)


def test_warm_start_recovers_subspaces_and_modes():
    bases = random_bases(20, [4, 4, 4], seed=5)
    truth = molr_mog_truth(bases, 4, 3.0, 0.3, seed=6)
    X, _ = truth.sample(1200, seed=7)
    m = MoLRMoGDenoiser(20, 3, 4, 4)
    assert warm_start(m, X, seed=0) == pytest.approx(1.0)
    assert subspace_error(list(m.A.detach()), bases) < 1e-8  # noise-free data: exact subspaces
    true_means = torch.stack(truth.means)  # (12, 20)
    got = m.components()[0].detach()
    nearest = torch.cdist(got, true_means).min(dim=1).values
    assert float(nearest.max()) < 0.2  # every learned mode sits on a true one (separation 3, sd 0.3)


def test_training_beats_the_gaussian_experts_on_multimodal_data():
    bases = random_bases(16, [3, 3], seed=8)
    truth = molr_mog_truth(bases, 3, 3.0, 0.4, seed=9)
    X, _ = truth.sample(600, seed=10)
    x0, _ = truth.sample(300, seed=11)
    xt = x0 + 0.3 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errs = {}
    for modes in (3, 1):
        m = MoLRMoGDenoiser(16, 2, 3, modes)
        warm_start(m, X, seed=0)
        fit_denoiser(m, X, NoiseLevels("edm", sigma_data=0.5), steps=150, lr=0.02, batch=128)
        with torch.no_grad():
            errs[modes] = float(((m(xt, 1.0, 0.3) - truth.posterior_mean(xt, 1.0, 0.3)) ** 2).sum(1).mean())
    assert errs[3] < 0.25 * errs[1]


def test_sliced_wasserstein_of_a_shift_is_its_norm_over_root_D():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(4000, 6, generator=gen, dtype=torch.float64)
    v = torch.tensor([3.0, 0, 0, 0, 4.0, 0], dtype=torch.float64)
    assert sliced_wasserstein(X, X) == 0.0
    # E_θ (θ·v)² = ||v||²/D for θ uniform on the sphere
    assert sliced_wasserstein(X, X + v, projections=4000) == pytest.approx(5 / math.sqrt(6), rel=0.05)
    with pytest.raises(ValueError):
        sliced_wasserstein(X, X[:, :3])


def test_image_grid_round_trips():
    imgs = torch.rand(10, 3, 28, 28)
    back = decode_grid(_encode_grid(imgs))
    assert back.shape == (10, 3, 28, 28) and np.abs(back / 255 - imgs.numpy()).max() <= 0.5 / 255 + 1e-6


def test_bad_settings_are_refused():
    for bad in (
        {"part": "cifar"},
        {"models": ["unet"]},
        {"ambient": 8},
        {"n_grid": [5]},
        {"eval_sigmas": [0.0]},
    ):
        with pytest.raises(ValueError):
            Experiment(**bad)


def _rows(err: dict, D_values=(32, 128)):
    """Synthetic rows: err(model, D, n) for two seeds."""
    rows = []
    for D in D_values:
        for seed in (0, 1):
            points = [
                {
                    "n": n,
                    **{f"{m}_score_error": err(m, D, n) for m in MODELS},
                    **{f"{m}_sliced_w2": err(m, D, n) for m in (*MODELS, "truth")},
                }
                for n in (100, 1000, 10000)
            ]
            rows.append({"part": "synthetic", "ambient": D, "seed": seed, "points": points})
    return rows


def _claim(rule, **kw):
    return {"derive": {"rule": rule, **kw}}


def test_rules_on_rows_with_known_rates():
    def err(m, D, n):
        return {"mog": 1 / n, "gaussian": 0.5, "mlp": D / n**0.1, "truth": 1e-3}[m]

    rows = _rows(err)
    rate = _claim("molr_mog_rate", model="mog", reproduced_max=-0.4, partly_max=-0.15)
    measured, verdict, _ = RULES["molr_mog_rate"](rate, rows)
    assert verdict == REPRODUCED and measured["slope"] == pytest.approx(-1.0)
    assert measured["per_D"]["32"]["hi"] == pytest.approx(-1.0)  # exact power law: a zero-width interval
    _, verdict, _ = RULES["molr_mog_rate"](
        _claim("molr_mog_rate", model="gaussian", reproduced_max=-0.4, partly_max=-0.15), rows
    )
    assert verdict == NOT
    m, v, _ = RULES["molr_mog_dimension"](FLAT, rows)
    assert v == REPRODUCED and m["worst_ratio"] == pytest.approx(1.0)
    m, v, _ = RULES["molr_mog_dimension"](GROWS, rows)
    assert v == REPRODUCED and m["worst_ratio"] == pytest.approx(4.0)
    ratio = _claim("molr_mog_ratio", model="mog", baseline="gaussian", min_n=1000, max_ratio=0.5)
    m, v, _ = RULES["molr_mog_ratio"](ratio, rows)
    assert v == REPRODUCED and len(m["ratios"]) == 4  # (2 D) x (n = 1000, 10000)
    reverse = _claim("molr_mog_ratio", model="gaussian", baseline="mog", min_n=1000, max_ratio=0.5)
    assert RULES["molr_mog_ratio"](reverse, rows)[1] == NOT
    samples = _claim("molr_mog_samples", model="mog", baseline="gaussian", metric="sliced_w2", max_ratio=0.5)
    assert RULES["molr_mog_samples"](samples, rows)[1] == REPRODUCED
    assert RULES["molr_mog_rate"](rate, [])[1] == NOT_RUN


FLAT = _claim("molr_mog_dimension", model="mog", direction="flat", reproduced_ratio=1.5, partly_ratio=2.5)
GROWS = _claim("molr_mog_dimension", model="mlp", direction="grows", reproduced_ratio=1.5, partly_ratio=1.15)


def test_flat_in_D_is_judged_at_the_worst_n_not_on_average():
    """Ratios 0.6, 1.4, 3.3 over n: their geometric mean (1.40) passes 1.5, the worst n (3.3) fails 2.5."""
    ratio = {100: 0.6, 1000: 1.4, 10000: 3.3}

    def err(m, D, n):
        return (ratio[n] if D == 128 else 1.0) / n

    m, v, _ = RULES["molr_mog_dimension"](FLAT, _rows(err))
    assert m["geometric_mean"] == pytest.approx((0.6 * 1.4 * 3.3) ** (1 / 3)) and m["geometric_mean"] < 1.5
    assert v == NOT and m["worst_n"] == 10000 and m["worst_ratio"] == pytest.approx(3.3)


def test_growth_with_D_needs_the_seed_interval_at_every_n():
    """A 4x growth at every n, but at n = 100 the two seeds of each D disagree by 100x: partly."""

    def rows_with(spread):
        rows = _rows(lambda m, D, n: 4.0 if D == 128 else 1.0)
        for r in rows:
            for p in r["points"]:
                if p["n"] == 100:
                    p["mlp_score_error"] *= spread if r["seed"] == 0 else 1 / spread
        return rows

    assert RULES["molr_mog_dimension"](GROWS, rows_with(1.0))[1] == REPRODUCED
    m, v, _ = RULES["molr_mog_dimension"](GROWS, rows_with(10.0))
    assert v == PARTLY and m["log_difference"]["100"]["lo"] < 0 < m["log_difference"]["1000"]["lo"]


def test_arm_differences_need_an_interval_over_runs():
    """Every median ratio <= 0.5, but one seed per D is 100x better than the other: the runs' interval of
    log(MoG / Gaussian) reaches above 0, so the ratio and samples claims are at most partly."""

    def err(m, D, n, seed):
        return 0.5 if m == "gaussian" else 0.005 if seed == 0 else 0.45

    rows = _rows(lambda m, D, n: 0.0)
    for r in rows:
        for p in r["points"]:
            for m in (*MODELS, "truth"):
                p[f"{m}_score_error"] = p[f"{m}_sliced_w2"] = err(m, r["ambient"], p["n"], r["seed"])
    ratio = _claim("molr_mog_ratio", model="mog", baseline="gaussian", min_n=1000, max_ratio=0.5)
    m, v, _ = RULES["molr_mog_ratio"](ratio, rows)
    assert max(m["ratios"].values()) <= 0.5 and m["run_log_ratio"]["hi"] > 0 and v == PARTLY
    samples = _claim("molr_mog_samples", model="mog", baseline="gaussian", metric="sliced_w2", max_ratio=0.5)
    assert RULES["molr_mog_samples"](samples, rows)[1] == PARTLY


def test_rate_is_judged_with_the_slope_interval():
    """A steep but erratic fall (slope about -0.65, residuals as large as the fall): partly, not reproduced."""
    curve = {100: 1.0, 1000: 2.0, 10000: 0.05}
    rows = _rows(lambda m, D, n: curve[n])
    m, v, _ = RULES["molr_mog_rate"](
        _claim("molr_mog_rate", model="mog", reproduced_max=-0.4, partly_max=-0.15), rows
    )
    assert m["slope"] <= -0.4 and m["per_D"]["32"]["hi"] > 0 and v == PARTLY


def _mnist(gap_mog_gaussian, mlp_prob=0.93):
    return {
        "part": "mnist",
        "mog": {"intended_prob": 0.90, "expert_parameters": 2000},
        "gaussian": {"intended_prob": 0.90 - gap_mog_gaussian, "expert_parameters": 300},
        "mlp": {"intended_prob": mlp_prob, "expert_parameters": 40000},
    }


GAP = _claim("molr_mog_mnist_gap", model="mog", baseline="gaussian", reproduced_gap=0.2, partly_gap=0.05)
CLOSE = _claim("molr_mog_mnist_close", model="mog", baseline="mlp", tol=0.05, partly_tol=0.15, min_factor=5)


def test_mnist_rules():
    one = [_mnist(0.3)]
    m, v, note = RULES["molr_mog_mnist_gap"](GAP, one)
    assert m["gap"] == pytest.approx(0.3) and v == PARTLY and "one seed" in note  # one run: at most partly
    two = [_mnist(0.3), _mnist(0.28)]
    assert RULES["molr_mog_mnist_gap"](GAP, two)[1] == REPRODUCED
    assert RULES["molr_mog_mnist_gap"](GAP, [_mnist(0.6), _mnist(-0.05)])[1] == PARTLY  # interval reaches 0
    assert RULES["molr_mog_mnist_gap"](GAP, [_mnist(0.01)])[1] == NOT
    m, v, _ = RULES["molr_mog_mnist_close"](CLOSE, one)
    assert v == PARTLY and m["param_factor"] == pytest.approx(20.0)
    three = [_mnist(0.3, 0.93), _mnist(0.3, 0.92), _mnist(0.3, 0.925)]
    assert RULES["molr_mog_mnist_close"](CLOSE, three)[1] == REPRODUCED
    assert (
        RULES["molr_mog_mnist_close"](CLOSE, three[:2])[1] == PARTLY
    )  # two runs: the interval reaches -0.088
    assert RULES["molr_mog_mnist_close"](CLOSE, [_mnist(0.3, 0.99)])[1] == PARTLY
    assert RULES["molr_mog_mnist_close"](CLOSE, [_mnist(0.3, 1.2)])[1] == NOT
    assert RULES["molr_mog_mnist_gap"](GAP, [])[1] == NOT_RUN


def test_figures_and_tables_from_rows(tmp_path):
    rows = _rows(lambda m, D, n: D / n)
    rows.append(
        {
            **_mnist(0.3),
            "seed": 0,
            "classifier_test_accuracy": 0.97,
            "decoder_parameters": 10,
            "real_test": {"intended_prob": 1.0, "accuracy": 1.0, "feature_fd": 0.0, "diversity_ratio": 1.0},
            "grids": {m: _encode_grid(torch.rand(10, 2, 28, 28)) for m in ("real", *MODELS)},
        }
    )
    for r in rows[-1:]:
        for m in MODELS:
            r[m].update(accuracy=0.9, feature_fd=1.0, diversity_ratio=0.8)
    paths = figures.figures(rows, tmp_path)
    assert {p.name for p in paths} == {
        "molr_mog_error_vs_n.png",
        "molr_mog_error_vs_D.png",
        "molr_mog_mnist_samples.png",
    }
    assert all(p.stat().st_size > 0 for p in paths)
    table = figures.tables(rows)
    assert "| 128 | 10000 |" in table and "real digits through the PCA decoder" not in table


@pytest.mark.slow
@pytest.mark.ddp
def test_the_synthetic_smoke_run_trains_on_two_processes_like_one(tmp_path):
    """``trainer=ddp trainer.devices=2`` from the command line: the denoisers train through ``fit_denoiser`` on two
    processes (each rank half of every global batch with its own noise stream, gradients averaged; that the ranks
    end identical is tests/integration/test_diffusion_lightning.py's), and the run measures score errors of the
    single-process run's size (the noise draws differ, so not its numbers)."""
    import json
    import subprocess
    import sys

    results = {}
    for name, extra in (
        ("one", []),
        ("two", ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]),
    ):
        root = tmp_path / name
        cmd = [sys.executable, "-m", "subspacelab.train", "paper=molr_mog", "scale=smoke",
               "experiment.part=synthetic", "experiment.ambient=8", "seed=0", f"runs_root={root}", "logger=none",
               *extra]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        (metrics,) = list(root.glob("molr_mog/smoke/*/metrics.json"))
        results[name] = json.loads(metrics.read_text())
    one, two = results["one"]["points"], results["two"]["points"]
    assert [p["n"] for p in one] == [p["n"] for p in two]
    for p, q in zip(one, two, strict=True):
        for model in MODELS:
            assert math.isfinite(q[f"{model}_score_error"])
            assert 1 / 3 < q[f"{model}_score_error"] / p[f"{model}_score_error"] < 3
