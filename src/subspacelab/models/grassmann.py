"""Causal Grassmann mixing (Zhang, "Attention Is Not What You Need", arXiv 2512.19428) for our tiny LLaMA.

The layer replaces attention by local geometry on the Grassmannian Gr(2, r). With h_t in R^d:

* reduction        z_t = W_red h_t + b_red                                   (d -> r)
* Plücker encoding for every offset delta in the window set with t - delta >= 0
                   p_ij = z_{t,i} z_{t-delta,j} - z_{t,j} z_{t-delta,i},  i < j   (C(r, 2) numbers)
                   p_hat = p / max(||p||, eps)
  p is the exterior product z_t ^ z_{t-delta}: it depends on the pair only through the 2-plane it spans
  (and its orientation and area), so p_hat is a point of Gr(2, r) in its Plücker embedding.
* projection       g_t = mean over valid delta of (W_plu p_hat + b_plu)      (one W_plu shared by all offsets)
                   g_t = 0 where no offset is valid (t < min window, e.g. t = 0)
* gated blend      alpha = sigmoid(W_gate [h_t; g_t] + b_gate),  out = LayerNorm(alpha h_t + (1 - alpha) g_t)
                   followed by dropout.

Position t only reads positions t and t - delta, so the layer is causal by construction and needs no mask;
time and memory are O(L * |windows| * C(r, 2)), linear in the sequence length L (no L x L tensor).

Notes against the independent reimplementation (alphaXiv/paper-implementations, there is no official code):

* Same maths: shared W_plu, average over the valid offsets only, g_t = 0 where none is valid, gate on the
  concatenation [h; g], blend (not sum), LayerNorm then dropout.
* Because W_plu is affine and shared, mean_delta (W_plu p_hat_delta + b) = W_plu mean_delta(p_hat_delta) + b;
  we average the Plücker vectors first and project once (one matmul instead of one per offset).
* Initialisation: N(0, init_std^2) weights, zero biases (init_std = 0.02, LLaMA's initializer_range and what the
  reimplementation's GPT ends up with after its model-wide re-init); LayerNorm at (1, 0).
* Dropout defaults to 0 here (0.1 there).

In the LLaMA decoder layer the adapter sits where attention was: h + Mix(RMSNorm(h)), the paper's pre-norm
residual block. The rotary embeddings, attention mask and KV cache the layer is handed are not used; the
only positional signal is the offset structure itself (the reimplementation's GPT adds learned absolute
positions, LLaMA has none outside attention).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

DEFAULT_WINDOWS: tuple[int, ...] = (1, 2, 4, 8, 12, 16)


def plucker(z_t: torch.Tensor, z_s: torch.Tensor, normalize: bool = False, eps: float = 1e-8) -> torch.Tensor:
    """Plücker coordinates of the 2-plane span(z_t, z_s): p_ij = z_t,i z_s,j - z_t,j z_s,i for i < j.

    ``z_t`` and ``z_s`` have shape (..., r); the result has shape (..., r (r - 1) / 2), ordered as
    ``torch.triu_indices(r, r, 1)`` (row-major over i < j). ``normalize`` returns p / max(||p||, eps).
    Replacing (z_t, z_s) by (a z_t + b z_s, c z_t + d z_s) multiplies p by ad - bc.
    """
    if z_t.shape[-1] != z_s.shape[-1]:
        raise ValueError(f"plucker: last dims differ ({z_t.shape[-1]} vs {z_s.shape[-1]})")
    r = z_t.shape[-1]
    i, j = torch.triu_indices(r, r, offset=1, device=z_t.device)
    p = z_t[..., i] * z_s[..., j] - z_t[..., j] * z_s[..., i]
    if normalize:
        p = p / p.norm(dim=-1, keepdim=True).clamp_min(eps)
    return p


class CausalGrassmannMixing(nn.Module):
    """h (B, L, d) -> LayerNorm(alpha h + (1 - alpha) g), g the mean projected Plücker code over past offsets.

    See the module docstring for the maths. ``windows`` are the offsets delta >= 1; ``generator`` seeds the
    initialisation (the global RNG is used when it is None).
    """

    def __init__(
        self,
        hidden_size: int,
        rank: int = 16,
        windows: Sequence[int] = DEFAULT_WINDOWS,
        dropout: float = 0.0,
        eps: float = 1e-8,
        init_std: float = 0.02,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        windows = tuple(int(w) for w in windows)
        if rank < 2:
            raise ValueError(f"rank must be >= 2 for a 2-plane in R^rank, got {rank}")
        if not windows or min(windows) < 1 or len(set(windows)) != len(windows):
            raise ValueError(f"windows must be distinct offsets >= 1, got {windows}")
        self.hidden_size = hidden_size
        self.rank = rank
        self.windows = windows
        self.eps = eps
        self.init_std = init_std
        self.plucker_dim = rank * (rank - 1) // 2
        self.w_red = nn.Linear(hidden_size, rank)
        self.w_plu = nn.Linear(self.plucker_dim, hidden_size)
        self.w_gate = nn.Linear(2 * hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Weights ~ N(0, init_std^2), biases 0, LayerNorm (1, 0)."""
        for lin in (self.w_red, self.w_plu, self.w_gate):
            nn.init.normal_(lin.weight, 0.0, self.init_std, generator=generator)
            nn.init.zeros_(lin.bias)
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    def valid_counts(self, seq_len: int, device: torch.device | None = None) -> torch.Tensor:
        """n_t = #{delta in windows : t - delta >= 0} for t = 0..L-1 (shape (L,))."""
        t = torch.arange(seq_len, device=device)
        w = torch.tensor(self.windows, device=device)
        return (t[:, None] >= w[None, :]).sum(dim=1)

    def geometry(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """g (B, L, d): mean over valid offsets of W_plu p_hat + b_plu, and 0 where no offset is valid."""
        z = self.w_red(hidden_states)
        seq_len = z.shape[-2]
        total = None
        for delta in self.windows:
            if delta >= seq_len:
                continue
            p_hat = plucker(z[..., delta:, :], z[..., :-delta, :], normalize=True, eps=self.eps)
            pad = p_hat.new_zeros(*p_hat.shape[:-2], delta, self.plucker_dim)
            p_hat = torch.cat(
                [pad, p_hat], dim=-2
            )  # row t holds the pair (t, t - delta); zeros for t < delta
            total = p_hat if total is None else total + p_hat
        if total is None:  # sequence shorter than every window: nothing to look back at
            return hidden_states.new_zeros(hidden_states.shape)
        counts = self.valid_counts(seq_len, z.device).to(z.dtype)[:, None]
        g = self.w_plu(total / counts.clamp_min(1.0))
        return g * (counts > 0).to(g.dtype)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        g = self.geometry(hidden_states)
        alpha = torch.sigmoid(self.w_gate(torch.cat([hidden_states, g], dim=-1)))
        return self.dropout(self.norm(alpha * hidden_states + (1.0 - alpha) * g))


class GrassmannAttentionAdapter(nn.Module):
    """A ``CausalGrassmannMixing`` with ``LlamaAttention``'s call signature, returning ``(out, None)``.

    Rotary ``position_embeddings``, ``attention_mask``, ``position_ids`` and other keyword arguments are
    accepted and ignored (the layer is causal by construction; a padding mask is not applied, so use right
    padding). A KV cache cannot be served: a non-None ``cache`` / ``past_key_values`` raises.
    """

    def __init__(self, mixer: CausalGrassmannMixing, layer_idx: int | None = None) -> None:
        super().__init__()
        self.mixer = mixer
        self.layer_idx = layer_idx
        self.is_causal = True

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: object | None = None,
        past_key_values: object | None = None,
        **kwargs: object,
    ) -> tuple[torch.Tensor, None]:
        if cache is not None or past_key_values is not None:
            raise NotImplementedError(
                "GrassmannAttentionAdapter has no KV cache (it would need the last max(windows) reduced states); "
                "call the model with use_cache=False"
            )
        return self.mixer(hidden_states), None


def swap_mixer(
    model: nn.Module,
    rank: int = 16,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    seed: int = 0,
    dropout: float = 0.0,
) -> nn.Module:
    """Replace every decoder layer's ``self_attn`` by a ``GrassmannAttentionAdapter``, in place.

    The new weights are a function of ``seed`` alone (one ``torch.Generator``, layers in order); the global
    RNG is left untouched. Each adapter takes the device and dtype of the attention it replaces. Returns
    ``model``. Set ``use_cache=False`` when calling the swapped model.
    """
    layers = [m for m in model.modules() if isinstance(getattr(m, "self_attn", None), nn.Module)]
    if not layers:
        raise ValueError("swap_mixer: no submodule with a `self_attn` found")
    hidden_size = int(model.config.hidden_size)
    gen = torch.Generator().manual_seed(int(seed))
    for idx, layer in enumerate(layers):
        old = layer.self_attn
        ref = next(old.parameters(), None)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init draws from the global RNG
            mixer = CausalGrassmannMixing(hidden_size, rank, windows, dropout=dropout, generator=gen)
        adapter = GrassmannAttentionAdapter(mixer, layer_idx=getattr(old, "layer_idx", idx))
        if ref is not None:
            adapter = adapter.to(device=ref.device, dtype=ref.dtype)
        layer.self_attn = adapter
    return model
