"""Causal language models from ``transformers``, built from a config (never downloaded).

``build_llama`` makes a tiny ``LlamaForCausalLM`` whose initial weights are a function of ``seed``
alone, so W_0 can be rebuilt after training (the effective rank of W_T - W_0 needs it).
``name_or_path`` loads a real checkpoint instead (``from_pretrained``; needs the files or the hub).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from subspacelab.configurable import configurable, one_of, require

MIXERS = ("attention", "attention_nope", "grassmann")


@dataclass
class LlamaConfig:
    hidden_size: int = 128
    intermediate_size: int = 344
    num_layers: int = 2
    num_heads: int = 4
    tie_embeddings: bool = False
    name_or_path: str | None = None
    lowrank_targets: list[str] = field(default_factory=list)  # the layers low-rank methods act on
    mixer: str = "attention"
    grassmann_rank: int = 16
    grassmann_windows: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 12, 16])

    def __post_init__(self):
        one_of(self.mixer, set(MIXERS), "model.mixer")
        require(self.grassmann_rank >= 2, "model.grassmann_rank", f"must be >= 2, got {self.grassmann_rank}")
        require(all(w > 0 for w in self.grassmann_windows), "model.grassmann_windows", "offsets must be > 0")
        require(
            self.num_heads > 0 and self.hidden_size > 0 and self.hidden_size % self.num_heads == 0,
            "model.hidden_size",
            f"must be a positive multiple of model.num_heads={self.num_heads}, got {self.hidden_size}",
        )
        require(
            self.intermediate_size > 0,
            "model.intermediate_size",
            f"must be > 0, got {self.intermediate_size}",
        )
        require(self.num_layers > 0, "model.num_layers", f"must be > 0, got {self.num_layers}")
        require(
            bool(self.lowrank_targets),
            "model.lowrank_targets",
            "must name the linear layers low-rank methods act on",
        )


class NoRotary(nn.Module):
    """A rotary embedding that rotates nothing (cos = 1, sin = 0): attention without positions."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.head_dim = head_dim

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (*position_ids.shape, self.head_dim)
        return x.new_ones(shape), x.new_zeros(shape)


@configurable("llama", LlamaConfig, task="lm")
def build_llama(
    seed: int,
    vocab_size: int,
    hidden_size: int = 128,
    intermediate_size: int = 344,
    num_layers: int = 2,
    num_heads: int = 4,
    max_seq_len: int = 256,
    tie_embeddings: bool = False,
    name_or_path: str | None = None,
    mixer: str = "attention",
    grassmann_rank: int = 16,
    grassmann_windows: tuple[int, ...] = (1, 2, 4, 8, 12, 16),
) -> nn.Module:
    """A LLaMA causal LM (RMSNorm, SwiGLU MLP, rotary positions), initialised from ``seed``.

    ``mixer="grassmann"`` replaces every layer's self-attention by the causal Grassmann mixing layer
    (``subspacelab.models.grassmann``; Zhang 2025), everything else unchanged: the same LM with a different
    token mixer. ``mixer="attention_nope"`` keeps self-attention but without rotary positions (NoPE: the
    causal mask is its only source of order), the same initial weights as ``"attention"``: a control for a
    mixer that has no positional encoding of its own."""
    if mixer not in MIXERS:
        raise ValueError(f"unknown token mixer {mixer!r}; valid: {', '.join(MIXERS)}")
    from transformers import LlamaConfig, LlamaForCausalLM

    if name_or_path:
        try:
            return LlamaForCausalLM.from_pretrained(name_or_path)
        except OSError as err:
            raise FileNotFoundError(
                f"model.name_or_path={name_or_path!r} could not be loaded ({err}); give a local checkpoint "
                "directory or go online, or set model.name_or_path=null to build the model from its config"
            ) from None
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_seq_len,
        tie_word_embeddings=tie_embeddings,
        attn_implementation="sdpa",
        use_cache=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = LlamaForCausalLM(config)
    if mixer == "attention_nope":
        model.model.rotary_emb = NoRotary(hidden_size // num_heads)
    if mixer == "grassmann":
        from subspacelab.models.grassmann import swap_mixer

        swap_mixer(model, rank=grassmann_rank, windows=tuple(grassmann_windows), seed=seed)
    return model


# The linear layers low-rank methods act on: attention and MLP projections (SwitchLoRA wraps every linear
# whose name contains "attn"/"attention"/"mlp"; GaLore's default targets are the same). The LM head and the
# embeddings stay full rank and trained in every method.
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
