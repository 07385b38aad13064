import pytest
import torch
from torch import nn

from subspacelab.analysis.flops import count_flops, count_macs, count_parameters
from subspacelab.models.ulsam import ULSAM, MobileNetV1, MobileNetV2

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def randomise_bn(module: nn.Module, gen: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen)
            m.running_mean = torch.randn(n, generator=gen)
            m.running_var = torch.rand(n, generator=gen) + 0.5


def reference_ulsam(mod: ULSAM, x: torch.Tensor) -> torch.Tensor:
    """Subspace-by-subspace evaluation (eval-mode BN), written out from the paper's equations."""
    outs = []
    k = mod.channels // mod.groups
    for i, f in enumerate(torch.chunk(x, mod.groups, dim=1)):
        sl = slice(i * k, (i + 1) * k)
        dw_w = mod.dw.weight[sl].view(1, k, 1, 1)
        a = f * dw_w + mod.dw.bias[sl].view(1, k, 1, 1)
        bn = mod.dw_bn
        a = (a - bn.running_mean[sl].view(1, k, 1, 1)) / torch.sqrt(
            bn.running_var[sl].view(1, k, 1, 1) + bn.eps
        )
        a = torch.relu(a * bn.weight[sl].view(1, k, 1, 1) + bn.bias[sl].view(1, k, 1, 1))
        a = nn.functional.max_pool2d(a, 3, stride=1, padding=1)
        m = torch.einsum("bchw,c->bhw", a, mod.pw.weight[i].flatten()) + mod.pw.bias[i]
        bn = mod.pw_bn
        m = (m - bn.running_mean[i]) / torch.sqrt(bn.running_var[i] + bn.eps) * bn.weight[i] + bn.bias[i]
        m = torch.relu(m)
        attn = torch.softmax(m.flatten(1), dim=1).view_as(m).unsqueeze(1)
        outs.append(attn * f + f)
    return torch.cat(outs, dim=1)


def test_ulsam_preserves_shape():
    x = torch.randn(2, 12, 5, 7)
    assert ULSAM(12, 3)(x).shape == x.shape


@pytest.mark.parametrize("training", [True, False])
def test_attention_maps_are_distributions_over_positions(training):
    torch.manual_seed(0)
    mod = ULSAM(8, 4).train(training)
    a = mod.attention_maps(torch.randn(3, 8, 4, 5))
    assert a.shape == (3, 4, 20)
    assert (a >= 0).all()
    torch.testing.assert_close(a.sum(dim=2), torch.ones(3, 4))


def test_zero_pointwise_weight_gives_uniform_map_and_closed_form_output():
    torch.manual_seed(0)
    mod = ULSAM(8, 2)
    nn.init.zeros_(mod.pw.weight)
    x = torch.randn(2, 8, 3, 4)
    h_w = 12
    for training in (True, False):
        mod.train(training)
        torch.testing.assert_close(mod.attention_maps(x), torch.full((2, 2, h_w), 1.0 / h_w))
        torch.testing.assert_close(mod(x), x * (1.0 + 1.0 / h_w))


def test_matches_subspace_by_subspace_reference():
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    mod = ULSAM(12, 3)
    randomise_bn(mod, gen)
    mod.eval()
    x = torch.randn(2, 12, 6, 5, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(mod(x), reference_ulsam(mod, x))
        # Subspaces are independent: changing the last group's input leaves the first group's output.
        x2 = x.clone()
        x2[:, 8:] += 1.0
        torch.testing.assert_close(mod(x2)[:, :4], mod(x)[:, :4])


def test_ulsam_parameter_count_is_ultra_light():
    c, g = 16, 4
    # depthwise conv (C + C), BN (2C), grouped pointwise conv (C weights + g biases), BN (2g)
    assert count_parameters(ULSAM(c, g)) == 5 * c + 3 * g


@pytest.mark.parametrize("channels, groups", [(10, 4), (8, 0), (8, 16)])
def test_groups_must_divide_channels(channels, groups):
    with pytest.raises(ValueError, match="divisor"):
        ULSAM(channels, groups)


@pytest.mark.parametrize("cls", [MobileNetV1, MobileNetV2])
@pytest.mark.parametrize("variant", [None, "insert", "replace"])
def test_mobilenets_give_logits_on_cifar_and_mnist_shapes(cls, variant):
    torch.manual_seed(0)
    rgb = cls(ulsam=variant, width_mult=0.25)
    assert rgb(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    grey = cls(in_channels=1, ulsam=variant, width_mult=0.25)
    assert grey(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("cls", [MobileNetV1, MobileNetV2])
def test_ulsam_replace_is_cheaper_and_insert_is_nearly_free(cls):
    shape = (1, 3, 32, 32)
    base, ins, rep = (cls(ulsam=v, width_mult=0.25) for v in (None, "insert", "replace"))
    p_base, p_ins, p_rep = (count_parameters(m) for m in (base, ins, rep))
    f_base, f_ins, f_rep = (count_flops(m, shape) for m in (base, ins, rep))
    assert p_rep < 0.9 * p_base and f_rep < 0.95 * f_base
    assert p_base < p_ins < 1.02 * p_base and f_base < f_ins < 1.01 * f_base
    assert sum(isinstance(m, ULSAM) for m in rep.modules()) == 2
    assert sum(isinstance(m, ULSAM) for m in ins.modules()) == 3


def test_replacing_a_shape_changing_block_is_rejected():
    with pytest.raises(ValueError, match="shape-preserving"):
        MobileNetV1(ulsam="replace", ulsam_positions=[12], width_mult=0.25)
    with pytest.raises(ValueError, match="unknown ulsam"):
        MobileNetV2(ulsam="swap")


def test_flop_counter_closed_form_on_linear():
    assert count_flops(nn.Linear(10, 20), (3, 10)) == 2 * 3 * 10 * 20
    assert count_macs(nn.Linear(10, 20), (3, 10)) == 3 * 10 * 20


def test_flop_counter_on_grouped_conv_and_leaves_bn_and_mode_alone():
    conv = nn.Sequential(nn.Conv2d(8, 6, 3, padding=1, groups=2), nn.BatchNorm2d(6)).train()
    before = conv[1].running_mean.clone()
    # 2 * B * H * W * C_out * (C_in / groups) * k * k
    assert count_flops(conv, (2, 8, 5, 5)) == 2 * 2 * 25 * 6 * 4 * 9
    assert conv.training and conv[1].num_batches_tracked.item() == 0
    assert torch.equal(conv[1].running_mean, before)


@pytest.mark.parametrize("cls", [MobileNetV1, MobileNetV2])
def test_init_is_deterministic_under_manual_seed(cls):
    def build(seed):
        torch.manual_seed(seed)
        return cls(ulsam="insert", width_mult=0.25).state_dict()

    a, b, c = build(0), build(0), build(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


# -- the paper's derive rules (subspacelab.papers.ulsam.claims) ---------------------------------------------------


def _rows(accs: dict[str, list[float]]) -> list[dict]:
    costs = [
        {
            "kind": "analysis",
            "arch": "mobilenet_v2",
            "width_mult": 1.0,
            "ulsam": v,
            "parameters": p,
            "macs": m,
        }
        for v, p, m in (("none", 1000, 100), ("insert", 1005, 100), ("replace", 750, 87))
    ]
    runs = [
        {"model": f"mnv1w0.5-{v}", "seed": s, "test_acc": a}
        for v, xs in accs.items()
        for s, a in enumerate(xs)
    ]
    return costs + runs


def test_ulsam_cost_rules_on_closed_form_counts():
    from subspacelab.papers.ulsam.claims import RULES
    from subspacelab.papers.ulsam.common import variant_of

    assert variant_of({"model": "mnv1w0.5-replace"}) == "replace"
    rows = _rows({"none": [0.70], "insert": [0.71], "replace": [0.70]})
    cost = {"derive": {"arch": "mobilenet_v2", "width_mult": 1.0, "min_param_cut": 0.2, "min_flop_cut": 0.1}}
    measured, verdict, _ = RULES["ulsam_cost"](cost, rows)
    assert verdict == "reproduced" and measured["parameters_change"] == pytest.approx(-0.25)
    assert measured["macs_change"] == pytest.approx(-0.13)
    assert RULES["ulsam_cost"]({"derive": {**cost["derive"], "min_flop_cut": 0.2}}, rows)[1] == "partly"
    assert RULES["ulsam_overhead"]({"derive": {"reproduced": 0.01, "partly": 0.05}}, rows)[1] == "reproduced"
    assert RULES["ulsam_overhead"]({"derive": {"reproduced": 0.001, "partly": 0.05}}, rows)[1] == "partly"
    assert (
        RULES["ulsam_overhead"]({"derive": {"reproduced": 0.001, "partly": 0.004}}, rows)[1]
        == "not_reproduced"
    )
    runs_only = [r for r in rows if r.get("kind") != "analysis"]
    assert RULES["ulsam_cost"](cost, runs_only)[1] == "not_run"


def test_ulsam_accuracy_rule_needs_the_seed_interval_to_clear_the_bar():
    from subspacelab.papers.ulsam.claims import RULES
    from subspacelab.reporting.stats import difference_interval

    better = {"derive": {"variant": "insert", "direction": "better", "margin": 0.005}}
    not_worse = {"derive": {"variant": "replace", "direction": "not_worse", "margin": 0.005}}
    base = [0.700, 0.702, 0.704]
    # a clear gain: +2 points, seed spread 0.2 points -> the interval lies above 0
    clear = _rows({"none": base, "insert": [0.720, 0.722, 0.724], "replace": [0.719, 0.721, 0.723]})
    measured, verdict, _ = RULES["ulsam_accuracy"](better, clear)
    assert verdict == "reproduced" and measured["gap"] == pytest.approx(0.02)
    assert measured["interval"]["lo"] > 0 and "n = 3 vs 3 seeds" in measured["value"]
    assert RULES["ulsam_accuracy"](not_worse, clear)[1] == "reproduced"
    # the cpu run's pattern: +0.4 points with a 1.3-1.8 point seed spread -> partly, not reproduced
    noisy = _rows(
        {"none": [0.487, 0.502, 0.514], "insert": [0.485, 0.512, 0.518], "replace": [0.51, 0.53, 0.535]}
    )
    iv = difference_interval([0.485, 0.512, 0.518], [0.487, 0.502, 0.514])
    assert iv.mean > 0 and iv.lo < 0
    assert RULES["ulsam_accuracy"](better, noisy)[1] == "partly"
    assert RULES["ulsam_accuracy"](not_worse, noisy)[1] == "partly"  # +2 points, lower bound below -0.5
    # a clear loss of 1 point: not reproduced either way
    worse = _rows({"none": base, "insert": [0.690, 0.692, 0.694], "replace": [0.690, 0.692, 0.694]})
    assert RULES["ulsam_accuracy"](better, worse)[1] == "not_reproduced"
    assert RULES["ulsam_accuracy"](not_worse, worse)[1] == "not_reproduced"
    # 0.3 points below with a tiny spread: non-inferior within the 0.5-point margin, but not a gain
    tight = [0.700, 0.7005, 0.701]
    close = _rows({"none": tight, "insert": [0.697, 0.6975, 0.698], "replace": [0.697, 0.6975, 0.698]})
    assert RULES["ulsam_accuracy"](not_worse, close)[1] == "reproduced"
    assert RULES["ulsam_accuracy"](better, close)[1] == "partly"
    # one seed per arm: no interval, at most partly however large the gain
    one = _rows({"none": [0.70], "insert": [0.80], "replace": [0.80]})
    measured, verdict, _ = RULES["ulsam_accuracy"](better, one)
    assert verdict == "partly" and "no interval" in measured["value"]
    assert RULES["ulsam_accuracy"](better, _rows({"none": base}))[1] == "not_run"


def test_ulsam_analysis_counts_every_variant_from_the_spec():
    from types import SimpleNamespace

    from subspacelab.papers.ulsam.analysis import analyze

    ctx = SimpleNamespace(
        spec={"input_shape": [3, 32, 32], "cost_nets": [{"arch": "mobilenet_v1", "width_mult": 0.25}]}
    )
    rows = analyze(ctx)
    assert [r["ulsam"] for r in rows] == ["none", "insert", "replace"]
    by = {r["ulsam"]: r for r in rows}
    assert by["none"]["parameters"] == count_parameters(MobileNetV1(width_mult=0.25))
    assert by["replace"]["parameters"] < by["none"]["parameters"] < by["insert"]["parameters"]
    assert by["replace"]["macs"] < by["none"]["macs"] <= by["insert"]["macs"]
