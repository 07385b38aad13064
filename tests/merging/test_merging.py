"""Model merging (``subspacelab.merging``): task arithmetic and TIES equal hand-computed merges and FusionBench's
implementations on the same state dicts; the Concrete mask's draws are FusionBench's MaskModel's, an all-ones mask
gives task arithmetic, a hard 0/1 mask gives masked task arithmetic, and the relaxed mask passes gradients to its
logits."""

import pytest
import torch
from torch import nn

from subspacelab.merging import ConcreteMask, masked_task_arithmetic, task_arithmetic, task_vector, ties_merge
from subspacelab.merging.ties import elect_sign, trim


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))


def _state(seed):
    return {k: v.detach().clone() for k, v in _net(seed).state_dict().items()}


def test_task_arithmetic_is_theta0_plus_lambda_times_the_summed_task_vectors():
    base, a, b = _state(0), _state(1), _state(2)
    merged = task_arithmetic(base, [a, b], 0.3)
    for name in base:
        torch.testing.assert_close(
            merged[name], base[name] + 0.3 * ((a[name] - base[name]) + (b[name] - base[name]))
        )
    with pytest.raises(ValueError, match="differ in names"):
        task_vector({"x": torch.zeros(1)}, {"y": torch.zeros(1)})


def test_ties_on_a_hand_example():
    base = {"w": torch.zeros(4)}
    tasks = [{"w": torch.tensor([3.0, -1.0, 0.5, 2.0])}, {"w": torch.tensor([-2.0, -4.0, 1.0, -0.2])},
             {"w": torch.tensor([1.0, 2.0, -3.0, 0.1])}]  # fmt: skip
    # trim at 0.5 keeps what reaches the 2nd smallest magnitude, 3 of 4 (TIES's and FusionBench's count: d K + 1):
    # [3, -1, 0, 2], [-2, -4, 1, 0], [1, 2, -3, 0]; column sums [2, -3, -2, 2] elect +, -, -, +;
    # the agreeing entries summed: [3 + 1, -1 - 4, -3, 2]
    merged = ties_merge(base, tasks, scale=1.0, top_fraction=0.5)
    torch.testing.assert_close(merged["w"], torch.tensor([4.0, -5.0, -3.0, 2.0]))
    # trim at 0.75 keeps everything; column sums [2, -3, -1.5, 1.9]; the agreeing entries averaged
    mean = ties_merge(base, tasks, scale=0.5, top_fraction=0.75, merge="mean")["w"]
    torch.testing.assert_close(mean, 0.5 * torch.tensor([2.0, -2.5, -3.0, 1.05]))
    assert elect_sign(torch.tensor([[1.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])).tolist() == [
        1.0,
        1.0,
        1.0,
    ]  # ties: majority


@pytest.mark.parametrize("top_fraction", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("merge", ["sum", "mean", "max"])
def test_ties_equals_fusion_bench(top_fraction, merge):
    from fusion_bench.method.ties_merging.ties_merging_utils import state_dict_to_vector, ties_merging

    base, tasks = _state(0), [_state(s) for s in (1, 2, 3)]
    flat = torch.stack([state_dict_to_vector(task_vector(t, base)) for t in tasks])
    expected = state_dict_to_vector(base) + 0.4 * ties_merging(
        flat, reset_thresh=top_fraction, merge_func=merge
    )
    ours = state_dict_to_vector(ties_merge(base, tasks, 0.4, top_fraction, merge))  # its order: sorted names
    torch.testing.assert_close(ours, expected)


def test_task_arithmetic_equals_fusion_bench():
    """FusionBench's ``task_arithmetic_merge`` body (its state-dict arithmetic) on the same state dicts; the function
    itself refuses modules here (it adds Parameters to plain tensors under its strict type check)."""
    from fusion_bench.utils.state_dict_arithmetic import state_dict_add, state_dict_mul, state_dict_sub

    base, tasks = _state(0), [_state(s) for s in (1, 2, 3)]
    total = state_dict_sub(tasks[0], base)
    for t in tasks[1:]:
        total = state_dict_add(total, state_dict_sub(t, base))
    theirs = state_dict_add(base, state_dict_mul(total, 0.3))
    ours = task_arithmetic(base, tasks, 0.3)
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name])


def test_trim_keeps_ties_at_the_threshold():
    rows = torch.tensor([[1.0, -1.0, 0.5, 2.0]])
    assert trim(rows, 0.1).tolist() == [[0.0, 0.0, 0.0, 2.0]]
    assert trim(rows, 0.25).tolist() == [[1.0, -1.0, 0.0, 2.0]]  # 1 and -1 tie at the threshold: both kept
    assert torch.equal(trim(rows, 1.0), rows)


def test_the_concrete_masks_draws_are_fusion_benchs():
    from fusion_bench.models.masks.mask_model import MaskModel

    base = _state(0)
    ours, theirs = ConcreteMask(base), MaskModel(base, parameter_type="logits")
    with torch.no_grad():
        for i, name in enumerate(ours.names):
            logits = torch.randn(base[name].shape, generator=torch.Generator().manual_seed(i))
            ours.logits[i].copy_(logits)
            dict(theirs.named_parameters())[name].copy_(logits)
    for discrete in (False, True):
        torch.manual_seed(5)
        a = ours.sample(temperature=0.5, discrete=discrete)
        torch.manual_seed(5)
        b = theirs.sample_mask(mask_type="discrete" if discrete else "continuous", temperature=0.5)
        for name in a:
            torch.testing.assert_close(a[name], b[name].detach())


def test_masks_of_ones_and_hard_masks_give_task_arithmetic_and_its_masked_form():
    base, tasks = _state(0), [_state(1), _state(2)]
    ones = {n: torch.ones_like(t) for n, t in base.items()}
    plain = task_arithmetic(base, tasks, 0.3)
    for name, t in masked_task_arithmetic(base, tasks, ones, 0.3).items():
        torch.testing.assert_close(t, plain[name])
    gen = torch.Generator().manual_seed(0)
    hard = {n: (torch.rand(t.shape, generator=gen) < 0.5).float() for n, t in base.items()}
    merged = masked_task_arithmetic(base, tasks, hard, [0.3, 0.5])
    for name in base:
        m = hard[name] / hard[name].mean()
        expected = (
            base[name] + 0.3 * (tasks[0][name] - base[name]) * m + 0.5 * (tasks[1][name] - base[name]) * m
        )
        torch.testing.assert_close(merged[name], expected)
        assert torch.equal(
            merged[name][hard[name] == 0], base[name][hard[name] == 0]
        )  # masked-out entries stay


def test_the_relaxed_mask_starts_at_one_half_and_passes_gradients():
    base, tasks = _state(0), [_state(1), _state(2)]
    mask = ConcreteMask(base)
    torch.manual_seed(0)
    drawn = mask.sample(temperature=0.5, discrete=True)
    kept = torch.cat([m.flatten() for m in drawn.values()])
    assert (
        set(kept.unique().tolist()) == {0.0, 1.0} and abs(float(kept.mean()) - 0.5) < 0.15
    )  # 59 entries, p = 1/2
    relaxed = mask.sample(temperature=0.5)
    assert all(((m > 0) & (m < 1)).all() for m in relaxed.values())
    merged = masked_task_arithmetic(base, tasks, relaxed, 0.3)
    sum(t.square().sum() for t in merged.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mask.logits)
