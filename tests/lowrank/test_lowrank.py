"""LoRA, ReLoRA, GaLore wiring, schedules and measurements of subspacelab.lowrank (SwitchLoRA's own maths is
in test_switchlora.py)."""

import pytest
import torch
from torch import nn

from subspacelab.lowrank import schedules
from subspacelab.lowrank.lora import LoRALinear, inject_lora, lora_layers
from subspacelab.lowrank.measure import effective_rank, numerical_rank, optimizer_state_bytes, trainable_bytes
from subspacelab.lowrank.recipes import RECIPES, make_recipe
from subspacelab.lowrank.relora import merge_and_reinit, prune_optimizer_state


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(12, 10, bias=False)
        self.up_proj = nn.Linear(10, 14)
        self.head = nn.Linear(14, 3)

    def forward(self, x):
        return self.head(torch.relu(self.up_proj(self.q_proj(x))))


def test_lora_matches_peft_on_the_same_weights():
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    base = Block()
    ours = Block()
    ours.load_state_dict(base.state_dict())
    inject_lora(ours, ["q_proj", "up_proj"], r=4, alpha=8, seed=1)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "up_proj"], lora_dropout=0.0)
    theirs = peft.get_peft_model(base, config)
    with torch.no_grad():  # the same (non-zero) factors in both
        for name in ("q_proj", "up_proj"):
            layer = getattr(ours, name)
            layer.lora_B.normal_()
            target = theirs.base_model.model.get_submodule(name)
            target.lora_A["default"].weight.copy_(layer.lora_A)
            target.lora_B["default"].weight.copy_(layer.lora_B)
    x = torch.randn(5, 12)
    y_ours, y_theirs = ours(x), theirs(x)
    assert torch.allclose(y_ours, y_theirs, atol=1e-6)
    y_ours.square().sum().backward()
    y_theirs.square().sum().backward()
    assert torch.allclose(
        ours.q_proj.lora_B.grad, theirs.base_model.model.q_proj.lora_B["default"].weight.grad, atol=1e-5
    )
    # the trainable sets agree too: W frozen, A and B trained
    n_ours = sum(p.numel() for n, p in ours.named_parameters() if p.requires_grad and "lora" in n)
    n_theirs = sum(p.numel() for n, p in theirs.named_parameters() if p.requires_grad)
    assert n_ours == n_theirs


def test_peft_init_starts_at_the_base_function_and_switchlora_init_compensates_w():
    torch.manual_seed(0)
    lin = nn.Linear(12, 10)
    x = torch.randn(4, 12)
    for init in ("peft", "switchlora"):
        layer = LoRALinear(lin, r=3, alpha=1.0, init=init, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(layer(x), lin(x), atol=1e-6)
        assert not layer.weight.requires_grad and layer.lora_A.requires_grad
    assert LoRALinear(lin, r=3, init="switchlora").lora_B.abs().sum() > 0


def test_relora_merge_is_exact_and_restarts_the_factors():
    torch.manual_seed(0)
    model = Block()
    inject_lora(model, ["q_proj", "up_proj"], r=3, alpha=2)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            layer.lora_B.normal_()
    x = torch.randn(6, 12)
    before = model(x)
    merged = {n: layer.merged_weight().clone() for n, layer in lora_layers(model)}
    assert merge_and_reinit(model, torch.Generator().manual_seed(1)) == 2
    assert torch.allclose(model(x), before, atol=1e-6)
    for n, layer in lora_layers(model):
        assert torch.count_nonzero(layer.lora_B) == 0
        assert torch.allclose(layer.weight, merged[n], atol=1e-6)


def test_relora_prunes_optimizer_state_of_lora_params_only():
    p, q = nn.Parameter(torch.randn(200, 50)), nn.Parameter(torch.randn(20))
    opt = torch.optim.AdamW([p, q])
    (p.sum() + q.sum()).backward()
    opt.step()
    frac = prune_optimizer_state(opt, [p], 0.999, generator=torch.Generator().manual_seed(0))
    assert frac > 0.99
    assert torch.count_nonzero(opt.state[q]["exp_avg"]) == 20  # untouched


def test_relora_recipe_merges_every_restart_and_keeps_the_function():
    torch.manual_seed(0)
    model = Block()
    recipe = make_recipe(
        "relora",
        targets=["q_proj", "up_proj"],
        total_steps=100,
        r=3,
        alpha=2,
        restart_every=4,
        restart_warmup_steps=1,
        seed=0,
    )
    recipe.prepare(model)
    opt = recipe.optimizer(model, lr=0.05)
    x = torch.randn(8, 12)
    for step in range(1, 9):
        model(x).square().mean().backward()
        opt.step()
        opt.zero_grad()
        before = model(x)
        recipe.after_step(step, opt)
        assert torch.allclose(model(x), before, atol=1e-5)
    assert recipe.restarts == 2


def test_cosine_schedule_endpoints_and_relora_jagged_restarts():
    f = schedules.cosine_with_min_lr
    assert f(0, 100, 10) == 0 and f(10, 100, 10) == pytest.approx(1) and f(100, 100, 10) == pytest.approx(0.1)
    assert f(55, 100, 10, 0.0) == pytest.approx(0.5)
    g = schedules.cosine_with_restarts
    kw = {"total_steps": 100, "warmup_steps": 10, "restart_every": 25, "restart_warmup_steps": 5}
    assert g(24, **kw) == pytest.approx(f(24, 100, 10))  # before the first restart: the envelope
    assert g(25, **kw) == 0.0  # a restart drops the rate to zero
    assert g(30, **kw) == pytest.approx(f(30, 100, 10))  # back on the envelope after the re-warm-up
    assert 0 < g(27, **kw) < f(27, 100, 10)


def test_effective_rank_known_answers():
    q, _ = torch.linalg.qr(torch.randn(20, 20, dtype=torch.float64))
    for k in (1, 3, 7):
        m = q[:, :k] @ q[:, :k].T  # k equal singular values
        assert effective_rank(m) == pytest.approx(k)
        assert numerical_rank(m) == k
    assert effective_rank(torch.zeros(4, 4)) == 0.0
    assert 1 < effective_rank(torch.diag(torch.tensor([1.0, 0.5, 0.25]))) < 3


def test_optimizer_state_bytes_counts_adam_moments():
    p = nn.Parameter(torch.randn(30, 10))
    opt = torch.optim.AdamW([p])
    p.sum().backward()
    opt.step()
    assert optimizer_state_bytes(opt) == 2 * 300 * 4 + opt.state[p]["step"].element_size()
    assert trainable_bytes(nn.Linear(10, 30)) == (300 + 30) * 4


def test_galore_update_lies_in_the_gradient_subspace():
    pytest.importorskip("galore_torch")
    torch.manual_seed(0)
    model = Block()
    recipe = make_recipe(
        "galore", targets=["q_proj"], total_steps=10, rank=2, update_proj_gap=5, scale=1.0, seed=0
    )
    recipe.prepare(model)
    opt = recipe.optimizer(model, lr=0.1)
    w0 = model.q_proj.weight.detach().clone()
    model(torch.randn(16, 12)).square().mean().backward()
    opt.step()
    delta = model.q_proj.weight.detach() - w0
    proj = opt.state[model.q_proj.weight][
        "projector"
    ].ortho_matrix  # 10 x 12: m < n, so a left basis (10 x 2)
    basis = proj if proj.shape[0] == delta.shape[0] else proj.T
    residual = delta - basis @ (basis.T @ delta)
    assert numerical_rank(delta) == 2
    assert residual.norm() < 1e-5 * delta.norm()


def test_recipes_are_listed_when_unknown():
    with pytest.raises(KeyError, match="full, galore, lora, relora, switchlora"):
        make_recipe("dora", targets=["q_proj"], total_steps=1)
    assert set(RECIPES) == {"full", "lora", "relora", "galore", "switchlora"}


def test_lora_rank_out_of_range_is_refused():
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(4, 3), r=5)


def test_lr_multiplier_is_a_function_of_the_step_only():
    r = make_recipe("full", targets=["q_proj"], total_steps=50, warmup_steps=5, min_lr_ratio=0.1)
    assert [r.lr_multiplier(s) for s in (0, 5, 50)] == [0.0, 1.0, pytest.approx(0.1)]
    assert r.lr_multiplier(27.5) == pytest.approx(0.55)  # half-way through the cosine: 0.1 + 0.9 / 2
