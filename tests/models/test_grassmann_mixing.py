import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from subspacelab.models.grassmann import (
    CausalGrassmannMixing,
    GrassmannAttentionAdapter,
    plucker,
    swap_mixer,
)
from subspacelab.models.lm import build_llama

D, LAYERS, VOCAB, SEQ, R = 32, 2, 64, 24, 16
WINDOWS = (1, 2, 4, 8, 12, 16)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_llama(seed=0):
    return build_llama(
        seed, VOCAB, hidden_size=D, intermediate_size=64, num_layers=LAYERS, num_heads=4, max_seq_len=512
    )


def mixer(seed=0, rank=R, windows=WINDOWS, dtype=torch.float64):
    return CausalGrassmannMixing(D, rank, windows, generator=torch.Generator().manual_seed(seed)).to(dtype)


def naive_mixing(m, h):
    """Per-position, per-offset loop straight from the paper's equations."""
    z = m.w_red(h)
    out = torch.empty_like(h)
    for t in range(h.shape[1]):
        gs = []
        for delta in m.windows:
            if t - delta < 0:
                continue
            zt, zs = z[:, t], z[:, t - delta]
            p = torch.stack(
                [
                    zt[:, i] * zs[:, j] - zt[:, j] * zs[:, i]
                    for i in range(m.rank)
                    for j in range(i + 1, m.rank)
                ],
                dim=-1,
            )
            gs.append(m.w_plu(p / p.norm(dim=-1, keepdim=True).clamp_min(m.eps)))
        g = torch.stack(gs).mean(0) if gs else torch.zeros_like(h[:, t])
        alpha = torch.sigmoid(m.w_gate(torch.cat([h[:, t], g], dim=-1)))
        out[:, t] = m.norm(alpha * h[:, t] + (1 - alpha) * g)
    return out


# ---------------------------------------------------------------- Plücker coordinates


def test_plucker_shape_and_order():
    zt, zs = torch.randn(2, 5, 6, dtype=torch.float64), torch.randn(2, 5, 6, dtype=torch.float64)
    p = plucker(zt, zs)
    assert p.shape == (2, 5, 15)
    i, j = torch.triu_indices(6, 6, 1)
    outer = zt[..., :, None] * zs[..., None, :]
    torch.testing.assert_close(p, (outer - outer.transpose(-1, -2))[..., i, j])


def test_plucker_antisymmetric_and_zero_for_parallel():
    g = torch.Generator().manual_seed(1)
    zt, zs = (
        torch.randn(7, 8, generator=g, dtype=torch.float64),
        torch.randn(7, 8, generator=g, dtype=torch.float64),
    )
    torch.testing.assert_close(plucker(zs, zt), -plucker(zt, zs))
    assert plucker(zt, zs).abs().max() > 0.1
    torch.testing.assert_close(plucker(zt, -2.5 * zt), torch.zeros(7, 28, dtype=torch.float64))
    # normalisation keeps the zero vector at zero (no NaN) and makes the rest unit length
    assert torch.equal(plucker(zt, 2 * zt, normalize=True), torch.zeros(7, 28, dtype=torch.float64))
    torch.testing.assert_close(
        plucker(zt, zs, normalize=True).norm(dim=-1), torch.ones(7, dtype=torch.float64)
    )


@pytest.mark.parametrize("a,b,c,d", [(2.0, 0.5, -1.0, 3.0), (0.3, -4.0, 1.5, 0.2), (0.0, 1.0, -1.0, 0.0)])
def test_normalised_plucker_depends_only_on_the_oriented_plane(a, b, c, d):
    g = torch.Generator().manual_seed(2)
    zt, zs = (
        torch.randn(5, 16, generator=g, dtype=torch.float64),
        torch.randn(5, 16, generator=g, dtype=torch.float64),
    )
    det = a * d - b * c
    assert det > 0
    u, v = a * zt + b * zs, c * zt + d * zs
    torch.testing.assert_close(plucker(u, v), det * plucker(zt, zs))
    torch.testing.assert_close(plucker(u, v, normalize=True), plucker(zt, zs, normalize=True))
    # a basis of the opposite orientation flips the sign
    torch.testing.assert_close(plucker(v, u, normalize=True), -plucker(zt, zs, normalize=True))


def test_plucker_r3_is_the_cross_product():
    g = torch.Generator().manual_seed(3)
    x, y = (
        torch.randn(10, 3, generator=g, dtype=torch.float64),
        torch.randn(10, 3, generator=g, dtype=torch.float64),
    )
    c = torch.linalg.cross(x, y)
    # (p01, p02, p12) = (c2, -c1, c0)
    torch.testing.assert_close(plucker(x, y), torch.stack([c[:, 2], -c[:, 1], c[:, 0]], dim=-1))


# ---------------------------------------------------------------- the mixing layer


def test_mixing_matches_naive_loop_and_shapes():
    m = mixer()
    with torch.no_grad():  # non-trivial LayerNorm and biases, so every term is exercised
        for p in m.parameters():
            p.add_(
                0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel()), dtype=p.dtype)
            )
    h = torch.randn(2, SEQ, D, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    out = m(h)
    assert out.shape == (2, SEQ, D)
    torch.testing.assert_close(out, naive_mixing(m, h))
    assert m.plucker_dim == R * (R - 1) // 2
    assert m.valid_counts(SEQ).tolist()[:18] == [0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6]


def test_no_valid_offset_gives_zero_geometry():
    m = mixer(windows=(3, 5))
    with torch.no_grad():
        m.w_plu.bias.fill_(1.0)  # g must be 0 there, not the bias
    h = torch.randn(1, 8, D, dtype=torch.float64)
    g = m.geometry(h)
    assert torch.equal(g[:, :3], torch.zeros(1, 3, D, dtype=torch.float64))
    assert (g[0, 3:].abs().amax(dim=-1) > 0).all()
    assert torch.equal(m.geometry(h[:, :2]), torch.zeros(1, 2, D, dtype=torch.float64))  # L <= every window


def test_mixing_is_causal_with_exact_receptive_field():
    windows = (1, 2, 4)
    m = mixer(windows=windows)
    h = torch.randn(
        1, SEQ, D, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True
    )
    t = 15
    (grad,) = torch.autograd.grad(m(h)[0, t].square().sum(), h)
    touched = {s for s in range(SEQ) if grad[0, s].abs().max() > 0}
    assert touched == {t} | {t - w for w in windows}
    # changing everything after t leaves outputs <= t untouched (and does change position t + 1)
    h2 = h.detach().clone()
    h2[:, t + 1 :] = torch.randn(1, SEQ - t - 1, D, dtype=torch.float64)
    o1, o2 = m(h.detach()), m(h2)
    torch.testing.assert_close(o1[:, : t + 1], o2[:, : t + 1], rtol=0, atol=0)
    assert (o1[:, t + 1] - o2[:, t + 1]).abs().max() > 1e-6


class _ShapeRecorder(TorchDispatchMode):
    """Records the shape of every tensor produced by an aten op."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor):
                self.shapes.append(tuple(o.shape))
        return out


def _largest_intermediate(fn, x):
    with _ShapeRecorder() as rec:
        fn(x)
    return max(math.prod(s) for s in rec.shapes), rec.shapes


def test_memory_is_linear_in_sequence_length():
    m = mixer(dtype=torch.float32)
    sizes = {}
    for L in (256, 512):
        h = torch.randn(1, L, D)
        with torch.no_grad():
            biggest, shapes = _largest_intermediate(m, h)
        assert biggest < L * L, f"an intermediate of {biggest} elements at L={L}"
        assert not any(sum(dim >= L // 2 for dim in s) >= 2 for s in shapes)  # no (.., ~L, ~L) tensor
        sizes[L] = biggest
    assert sizes[512] <= 2.05 * sizes[256]
    # the recorder does see an L x L score matrix when one is made
    q = torch.randn(1, 256, D)
    biggest, _ = _largest_intermediate(lambda x: torch.softmax(x @ x.transpose(-1, -2), -1), q)
    assert biggest >= 256 * 256


# ---------------------------------------------------------------- the swapped LLaMA


def test_adapter_signature_and_cache_refusal():
    a = GrassmannAttentionAdapter(mixer(dtype=torch.float32), layer_idx=0)
    h = torch.randn(2, SEQ, D)
    out, weights = a(
        hidden_states=h,
        attention_mask=None,
        position_ids=torch.arange(SEQ)[None],
        position_embeddings=(torch.ones(1, SEQ, 8), torch.zeros(1, SEQ, 8)),
        cache=None,
        use_cache=False,
        cache_position=torch.arange(SEQ),
    )
    assert weights is None and out.shape == h.shape
    with pytest.raises(NotImplementedError, match="use_cache=False"):
        a(hidden_states=h, cache=object())
    with pytest.raises(NotImplementedError, match="KV cache"):
        a(hidden_states=h, past_key_values=object())


def test_swap_mixer_is_seeded_and_in_place(capsys):
    base = tiny_llama()
    attn_params = sum(p.numel() for p in base.parameters())
    state = torch.random.get_rng_state()
    model = swap_mixer(base, rank=R, windows=WINDOWS, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    assert model is base
    layers = model.model.layers
    assert all(isinstance(layer.self_attn, GrassmannAttentionAdapter) for layer in layers)
    assert not any("q_proj" in n for n, _ in model.named_parameters())
    assert [layer.self_attn.layer_idx for layer in layers] == list(range(LAYERS))
    same = swap_mixer(tiny_llama(), rank=R, windows=WINDOWS, seed=7)
    other = swap_mixer(tiny_llama(), rank=R, windows=WINDOWS, seed=8)
    sd, sd_same, sd_other = model.state_dict(), same.state_dict(), other.state_dict()
    assert all(torch.equal(sd[k], sd_same[k]) for k in sd)
    assert not torch.equal(
        sd["model.layers.0.self_attn.mixer.w_plu.weight"],
        sd_other["model.layers.0.self_attn.mixer.w_plu.weight"],
    )
    assert not torch.equal(
        sd["model.layers.0.self_attn.mixer.w_plu.weight"], sd["model.layers.1.self_attn.mixer.w_plu.weight"]
    )
    std = sd["model.layers.0.self_attn.mixer.w_gate.weight"].std().item()
    assert 0.015 < std < 0.025

    grass_params = sum(p.numel() for p in model.parameters())
    per_layer_mix = (D * R + R) + (R * (R - 1) // 2 * D + D) + (2 * D * D + D) + 2 * D
    assert grass_params == attn_params - LAYERS * 4 * D * D + LAYERS * per_layer_mix
    with capsys.disabled():
        print(
            f"\n[grassmann] d={D} L={LAYERS} r={R}: attention LM {attn_params} params, "
            f"Grassmann LM {grass_params} params"
        )


def test_swapped_lm_is_causal_and_refuses_cache():
    model = swap_mixer(tiny_llama(), rank=R, seed=0).eval()
    g = torch.Generator().manual_seed(6)
    ids = torch.randint(0, VOCAB, (2, SEQ), generator=g)
    ids2 = ids.clone()
    t = 10
    ids2[:, t + 1 :] = torch.randint(0, VOCAB, (2, SEQ - t - 1), generator=g)
    with torch.no_grad():
        a = model(input_ids=ids, use_cache=False).logits
        b = model(input_ids=ids2, use_cache=False).logits
    assert a.shape == (2, SEQ, VOCAB)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1])
    assert (a[:, t + 1 :] - b[:, t + 1 :]).abs().max() > 1e-5
    with pytest.raises(NotImplementedError, match="use_cache=False"):
        model(input_ids=ids, use_cache=True)


def test_swapped_lm_trains_on_a_repeated_sequence():
    model = swap_mixer(tiny_llama(seed=1), rank=R, seed=1).train()
    ids = torch.arange(12).repeat(2)[None].repeat(2, 1) % VOCAB  # 0..11 0..11: the second half is predictable
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None for n, p in model.named_parameters() if "self_attn" in n)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
